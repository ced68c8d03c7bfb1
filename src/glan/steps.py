"""Runs a recipe's steps over a run directory, in order, holding its lock.

Each step reads the previous step's folder of shards (glan.shards) and writes its own, so
every step also runs alone; a shard made from the same input and config is skipped unread,
and all LLM calls go through one durable cache, so a rerun repeats none.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glan.atomic import jsonl_line, write_atomic
from glan.errors import StepDeferred
from glan.exec import Reruns
from glan.manifest import write_manifest
from glan.recipes import Recipe, Step
from glan.shards import PostMarker, Shard, ShardWriter, StepFolder, fingerprint
from glan.store import read_jsonl

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
        _note_old_layout(session)
        run.read_manifest()  # a corrupt manifest or cache stops the run before it writes anything
        for step in steps:  # a tool a step needs (the code check's sandbox) is missing: say so now
            if step.preflight is not None:
                step.preflight(cfg)
        check = getattr(session.executor, "preflight", None)
        if check is not None and any(s.calls_llm for s in steps):
            check()  # a cluster that cannot be reached stops the run before anything is written
        if any(s.calls_llm for s in steps) or (
            cfg.taxonomy == "generate" and any(s.name == "disciplines" for s in steps)
        ):
            session.cache  # noqa: B018 (opened now, not at the first call)
        if any(s.kind == "post" for s in steps):
            from glan.post import post_config

            session.post_cfg = post_config(cfg.post)  # a missing benchmark fails now, not after hours
        try:
            before = _post_inputs(session)
            for step in steps:
                t0 = time.perf_counter()
                await _run_step(session, step)
                session.report.setdefault(step.name, {})["wall_s"] = round(time.perf_counter() - t0, 3)
            _drop_stale_posts(session, steps, before)
        except BaseException:
            if session.record and _changed(session):
                with contextlib.suppress(Exception):  # the step's own error is what matters
                    write_manifest(session)
            raise
        if session.record and _changed(session):
            write_manifest(session)
    return session.report


async def _run_step(session: Session, step: Step) -> None:
    if step.kind == "post":
        assert step.apply is not None
        await step.apply(session)
    elif step.kind == "source":
        assert step.apply is not None
        await _source(session, step, await step.apply(session))
    elif step.kind == "loop":
        assert step.apply is not None
        await step.apply(session, step)
    else:
        await _sharded(session, step)


def step_config(session: Session, step: Step) -> str:
    """What changes a step's records besides its input: the recipe, the seed, the re-ask
    settings, the step's own section (sampling, model, endpoint; never a key), its stage's
    version and the other sections it reads (`Step.also_reads`)."""
    cfg = session.cfg
    section = getattr(cfg, step.section).model_dump(mode="json") if step.section else None
    llm = cfg.llm_for(step.sampling(cfg)).model_dump(mode="json") if step.calls_llm else None
    version = step.stage(cfg).version if step.stage is not None else None
    # only when there are any: the fingerprints of steps that read no other section stay as they were
    also = [[s, getattr(cfg, s).model_dump(mode="json")] for s in step.also_reads]
    return fingerprint(
        cfg.recipe, step.name, cfg.seed, cfg.max_reasks, cfg.max_rerun_attempts, section, llm, version,
        *([also] if also else []),
    )  # fmt: skip


async def _source(session: Session, step: Step, shards: list[tuple[str, list[Any]]]) -> None:
    """The first step's shards; one whose content is what the folder holds already is left as
    it is (no write, no fsync), and keeps its digest, so the steps after it skip it."""
    folder = StepFolder(session.run.stage(step.name))
    had = {s["name"]: s["digest"] for s in (folder.index() or {}).get("shards", [])}
    written = []
    for name, records in shards:
        data = b"".join(map(jsonl_line, records))
        digest = hashlib.sha256(data).hexdigest()
        path = folder.records_path(name)
        if had.get(name) != digest or not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)
        written.append(Shard(name, digest, len(records), fingerprint=digest))
    index = folder.write_index(written, fingerprint(step.name), "")
    session.report[step.name] = {"records": index["records"], "shards": len(written)}


def step_folders(session: Session, step: Step) -> tuple[StepFolder, dict[str, Any], StepFolder, str] | None:
    """A step's input folder and its index, its own folder and its settings fingerprint; None
    (reported as skipped) when it finished from the same input and settings: nothing is read."""
    run = session.run
    source = StepFolder(run.stage(step.input_of(session.cfg) or ""))
    inputs = source.require()
    out = StepFolder(run.stage(step.name))
    config = step_config(session, step)
    own = out.index()
    if own and own["config"] == config and own["input"] == inputs["digest"] and not own["failures"]:
        session.report[step.name] = {
            "records": own["records"],
            "skipped_shards": len(own["shards"]),
            "calls": 0,
        }
        return None
    return source, inputs, out, config


async def _sharded(session: Session, step: Step) -> None:
    """A map or reduce step, shard by shard of its input: a shard made from what it would be
    made from now is skipped unread, the others run (their calls come from the cache) and are
    committed, each with its marker, as soon as their last input record is done."""
    folders = step_folders(session, step)
    if folders is None:
        return
    source, inputs, out, config = folders
    shards = source.shards()
    done: dict[str, Shard] = {}
    todo: list[tuple[Shard, str]] = []
    for shard in shards:
        fp = fingerprint(config, shard.digest)
        finished = out.finished(shard.name, fp)
        if finished is not None:
            done[shard.name] = finished
        else:
            todo.append((shard, fp))
    out.unfinish()  # until every shard is made, the steps after it must not read this one
    deferred = 0
    if todo:
        writer = ShardWriter(out, todo, done)
        try:
            if step.kind == "map":
                deferred = await _map(session, step, source, todo, writer)
            else:
                _reduce(session, step, source, todo, writer)
        except BaseException:
            writer.abort()
            raise
    if len(done) < len(shards):  # some jobs wait for batch results: the step is not done
        raise StepDeferred(step.name, deferred)
    index = out.write_index([done[s.name] for s in shards], config, inputs["digest"])
    entry = session.report.setdefault(step.name, {})
    entry.update(records=index["records"], skipped_shards=len(shards) - len(todo))


async def _map(
    session: Session, step: Step, source: StepFolder, todo: list[tuple[Shard, str]], writer: ShardWriter
) -> int:
    """The stage over the input shards to make; the number of jobs left waiting for a batch."""
    assert step.stage is not None
    cfg = session.cfg
    stage = step.stage(cfg)
    llm = cfg.llm_for(step.sampling(cfg))
    out = StepFolder(session.run.stage(step.name))
    asked: dict[str, int] = {}
    for shard, _ in todo:  # the failures of the previous run, read before this run rewrites them
        asked.update(Reruns.load(out.failures_path(shard.name), cfg.max_rerun_attempts).next)

    def items() -> Iterator[Any]:
        for shard, _ in todo:
            yield from read_jsonl(source.records_path(shard.name), stage.input)

    total = sum(shard.records for shard, _ in todo) * stage.per_item
    reruns = Reruns(asked, cfg.max_rerun_attempts)
    result = await session.run_stage(
        stage, items(), total, llm, writer.emit, writer.fail, reruns, item_done=writer.item_done
    )
    return result.deferred


def _reduce(
    session: Session, step: Step, source: StepFolder, todo: list[tuple[Shard, str]], writer: ShardWriter
) -> None:
    """A reduce step over each input shard's records at once."""
    assert step.reduce is not None and step.reads is not None
    for shard, _ in todo:
        records = list(read_jsonl(source.records_path(shard.name), step.reads))
        for r in step.reduce(session.cfg, records):
            writer.emit(r)
        for _ in records:
            writer.item_done()


def _note_old_layout(session: Session) -> None:
    """Run dirs of glan before sharded steps hold one file per step (pairs.jsonl ...): the steps
    now write folders, made again from the cache at no cost; say so once, touch nothing."""
    names = ["pairs", *session.recipe.names()]
    old = [f"{n}.jsonl" for n in names if (session.run.root / f"{n}.jsonl").is_file()]
    if old and not (session.run.root / ".layout-noted").exists():
        session.events.note(
            f"{session.run.root} holds step files of an older glan ({', '.join(old)}): steps now "
            "write folders (answers/ ...), made again from cache.sqlite without paying any call "
            "twice; the old files are left as they were: delete them when you no longer need them"
        )
        (session.run.root / ".layout-noted").touch()


def _post_inputs(session: Session) -> dict[str, str | None]:
    """The digest of each post step's input as it is now (None: not made)."""
    out = {}
    for step in session.recipe.steps:
        if step.kind == "post":
            index = StepFolder(session.run.stage(step.input_of(session.cfg) or "")).index()
            out[step.name] = None if index is None else index["digest"]
    return out


def _drop_stale_posts(session: Session, ran: list[Step], before: dict[str, str | None]) -> None:
    """A post step's folder (clean/) is derived from its input step: when that input changed
    and the post step did not run again, delete the folder rather than leave it beside data it
    was not made from (`post:` in the config rebuilds it; otherwise `glan clean` does)."""
    now = _post_inputs(session)
    for step in session.recipe.steps:
        if step.kind != "post" or step in ran or now[step.name] is None:
            continue
        marker = PostMarker(session.run, step.name)
        if marker.stale(now[step.name], changed=before[step.name] != now[step.name]):
            shutil.rmtree(marker.folder)
            marker.clear()
            session.events.note(
                f"{marker.folder}: removed, it was made from earlier {step.input_of(session.cfg)}; "
                "add `post:` to the config or run `glan clean` to rebuild it"
            )


def _changed(session: Session) -> bool:
    """Whether this invocation finished a step or cached a response."""
    cache = session.opened_cache
    return bool(session.report) or (cache is not None and cache.stored > 0)


def incomplete(report: dict[str, Any], folder: Callable[[str], Path], recipe: Recipe) -> str | None:
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
            if folder(stage).is_dir():  # the failed jobs are in its shards' .failures.jsonl files
                part += f" (see {folder(stage)}/*.failures.jsonl)"
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
