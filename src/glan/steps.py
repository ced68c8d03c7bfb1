"""Runs a recipe's steps over a run directory, in order, holding its lock.

Each step reads the previous step's file in the run directory and writes its own, so every
step also runs alone; all LLM calls go through one durable cache, so a rerun repeats none.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glan.errors import StepDeferred
from glan.exec import Reruns
from glan.manifest import write_manifest
from glan.recipes import Recipe, Step
from glan.store import JsonlWriter, count_lines, read_jsonl

if TYPE_CHECKING:
    from glan.session import Session


async def run_steps(session: Session, names: list[str] | tuple[str, ...] | None = None) -> dict[str, Any]:
    """Run the recipe's steps in order (all that the config uses, or those of the commands or
    steps named), holding the run dir's lock. Inputs (the run dir, its manifest, the `post:`
    section) are checked before anything is written, and the manifest is written only when a
    step finished or a response was cached: a failed invocation never puts its config beside
    data it did not make."""
    cfg, run = session.cfg, session.run
    steps = session.recipe.select(cfg, names)
    with run.lock():
        run.read_manifest()  # a corrupt manifest or cache stops the run before it writes anything
        if any(s.calls_llm for s in steps) or (
            cfg.taxonomy == "generate" and any(s.name == "disciplines" for s in steps)
        ):
            session.cache  # noqa: B018 (opened now, not at the first call)
        if any(s.kind == "post" for s in steps):
            from glan.post import post_config

            session.post_cfg = post_config(cfg.post)  # a missing benchmark fails now, not after hours
        try:
            for step in steps:
                t0 = time.perf_counter()
                pairs_before = _digest(session) if step.name == "answers" else None
                await _run_step(session, step)
                if pairs_before is not None:
                    _drop_stale_clean(session, pairs_before)
                session.report.setdefault(step.name, {})["wall_s"] = round(time.perf_counter() - t0, 3)
        except BaseException:
            if session.record and _changed(session):
                with contextlib.suppress(Exception):  # the step's own error is what matters
                    write_manifest(session)
            raise
        if session.record and _changed(session):
            write_manifest(session)
    return session.report


async def _run_step(session: Session, step: Step) -> None:
    if step.kind != "map":
        assert step.apply is not None
        await step.apply(session)
        return
    assert step.stage is not None
    cfg, run = session.cfg, session.run
    stage = step.stage(cfg)
    src = run.stage(step.input_of(cfg) or "")
    total = count_lines(src) * stage.per_item
    # the failures of the previous run, read before this run rewrites them
    reruns = Reruns.load(run.failures(step.name), cfg.max_rerun_attempts)
    with JsonlWriter(run.stage(step.name)) as out, JsonlWriter(run.failures(step.name)) as failures:
        llm = cfg.llm_for(step.sampling(cfg))
        items = read_jsonl(src, stage.input)
        result = await session.run_stage(stage, items, total, llm, out.write, failures.write, reruns)
        if result.deferred:  # some jobs wait for batch results: the step is not done
            raise StepDeferred(step.name, result.deferred)


def _changed(session: Session) -> bool:
    """Whether this invocation finished a step or cached a response."""
    cache = session.opened_cache
    return bool(session.report) or (cache is not None and cache.stored > 0)


def _digest(session: Session) -> str | None:
    """sha256 of answers.jsonl when a clean/ made from it exists (else nothing to compare)."""
    pairs = session.run.stage("answers")
    if not (session.run.clean.exists() and pairs.is_file()):
        return None
    with pairs.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _drop_stale_clean(session: Session, before: str) -> None:
    """clean/ is derived from answers.jsonl: when the answers step changed the pairs, delete
    it rather than leave it beside pairs it was not made from (`post:` rebuilds it in the
    same run; otherwise `glan clean` does)."""
    if _digest(session) == before:
        return
    shutil.rmtree(session.run.clean)
    rebuilt = session.post_cfg is not None
    then = "rebuilding it" if rebuilt else "add `post:` to the config or run `glan clean` to rebuild it"
    session.events.note(f"{session.run.clean}: removed, it was made from an earlier answers.jsonl; {then}")


def incomplete(report: dict[str, Any], failures: Callable[[str], Path], recipe: Recipe) -> str | None:
    """One line on what a run left undone (failed jobs, a stage that produced nothing from
    its input), from its report (step -> StageResult fields), naming each step by the
    command that runs it; None when nothing was."""
    names = {s.name: s.command or s.name for s in recipe.steps}
    parts, again, given = [], False, False
    for stage, entry in report.items():
        if not isinstance(entry, dict) or "jobs" not in entry:
            continue  # not a stage: a step's wall time, clean's report
        step = names.get(stage, stage)
        failed, given_up = entry["failures"], entry.get("given_up", 0)
        if failed:
            part = f"{step}: {failed} of {entry['jobs']} jobs failed"
            if given_up:
                part += f", {given_up} on every attempt (max_rerun_attempts)"
            if failures(stage).is_file():
                part += f" (see {failures(stage)})"
            parts.append(part)
            again, given = again or failed > given_up, given or given_up > 0
        elif entry["inputs"] and not entry["records"]:
            parts.append(f"{step}: no records from {entry['inputs']} inputs")
    if not parts:
        return None
    if again:
        parts.append("run the same command to ask them again")
    elif given:
        parts.append("raise max_rerun_attempts to ask them again")
    return "incomplete: " + "; ".join(parts)
