"""A step through batch files instead of live calls.

`export_step` runs the step with the batch executor (glan.exec.batch): every call that is
not cached yet (re-asks of cached replies that fail validation included) is written to Batch
API request files, and the step's own file is left unwritten. Results come back with
`import_results`; the next export holds only what is still missing. `submit_step` does the
rounds against an endpoint with the Batch API (upload, create, poll, download, import) and,
once every call is answered, runs the step from the cache. Its state file lets a restarted
command wait for batches already submitted instead of paying for them twice.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import orjson

from glan.config import LLMConfig, RunConfig, Sampling
from glan.errors import BackendError, ConfigError, GlanError, StepDeferred
from glan.events import Events
from glan.exec import BatchExecutor
from glan.llm.batch_api import FINAL, BatchAPI
from glan.llm.batch_files import BatchWriter, ImportReport, import_results
from glan.llm.cache import SPEND, ResponseCache, Spend
from glan.manifest import write_manifest
from glan.recipes import recipe_of
from glan.session import Session
from glan.store import RunDir, write_json_atomic


async def wait(seconds: float) -> None:
    """The pause between two status checks of a batch."""
    await asyncio.sleep(seconds)


def step_sampling(cfg: RunConfig, command: str) -> Sampling:
    """The config section of a step command that calls the LLM (its steps share one)."""
    recipe = recipe_of(cfg)
    steps = recipe.llm_steps(cfg, command) if command in recipe.commands_help else []
    if not steps:
        usable = [c for c in recipe.commands_help if recipe.llm_steps(cfg, c)]
        raise ConfigError(f"step {command!r}: batch files are for {', '.join(usable)}")
    return steps[0].sampling(cfg)


def batch_folder(cfg: RunConfig) -> Path:
    return cfg.run_dir / "batches"


async def export_step(cfg: RunConfig, step: str, folder: Path | None = None) -> list[Path]:
    """Write the step's unanswered calls to request files; [] when none is left (the step's
    file is then written from the cache)."""
    step_sampling(cfg, step)
    with RunDir(cfg.run_dir).lock():
        writer = BatchWriter(folder or batch_folder(cfg), f"{step}-{time.strftime('%Y%m%dT%H%M%S')}")
        try:
            async with Session(cfg, executor=BatchExecutor(writer), record=False) as session:
                await session.run_steps((step,))
        except StepDeferred:
            pass
        finally:
            files = writer.close()
    return files


def import_files(cfg: RunConfig, files: list[Path]) -> ImportReport:
    """Put batch results into the run's cache, charged to the stage "batch" at batch prices
    (the manifest's usage counts them from there)."""
    run = RunDir(cfg.run_dir)
    with run.lock():
        cache = ResponseCache(run.cache)
        report = ImportReport()
        spend = SPEND.set(Spend("batch", price_for=cfg.price_for, batch=True))
        try:
            for f in files:
                import_results(f, cache, report)
        finally:
            SPEND.reset(spend)
            cache.close()
        if report.imported:
            write_manifest(Session(cfg))
    return report


class BatchState:
    """run_dir/batches/state.json: every batch submitted, and whether its results are in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.batches: list[dict[str, Any]] = []
        if path.is_file():
            try:
                self.batches = orjson.loads(path.read_bytes())["batches"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise ConfigError(f"{path}: not a glan batch state file") from None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, {"batches": self.batches})

    def pending(self) -> list[dict[str, Any]]:
        return [b for b in self.batches if not b.get("imported")]


async def submit_step(
    cfg: RunConfig,
    step: str,
    events: Events,
    *,
    poll_s: float = 30.0,
    max_rounds: int = 10,
) -> dict[str, Any]:
    """Batch rounds until every call of `step` is answered, then the step from the cache."""
    llm = cfg.llm_for(step_sampling(cfg, step))
    if llm.backend != "openai" or not llm.base_url:
        raise ConfigError("batch submit needs an endpoint with the Batch API (llm.backend: openai, base_url)")
    with RunDir(cfg.run_dir).lock():  # held through the polls: no other command writes meanwhile
        return await _submit_rounds(cfg, step, llm, events, poll_s, max_rounds)


async def _submit_rounds(
    cfg: RunConfig, step: str, llm: LLMConfig, events: Events, poll_s: float, max_rounds: int
) -> dict[str, Any]:
    base = llm.base_url if isinstance(llm.base_url, str) else llm.base_url[0]
    api = BatchAPI(base, os.environ.get(llm.api_key_env) if llm.api_key_env else None, llm.timeout_s)
    folder = batch_folder(cfg)
    state = BatchState(folder / "state.json")
    try:
        for _ in range(max_rounds + 1):
            for b in state.pending():  # first what was submitted before (by an earlier run too)
                try:
                    await _finish(api, b, cfg, folder, events, poll_s)
                finally:
                    state.save()
            files = await export_step(cfg, step, folder)
            if not files:
                break
            for f in files:
                file_id = await api.upload(f)
                batch = await api.create(file_id, {"glan_step": step, "glan_file": f.name})
                state.batches.append(
                    {"id": batch["id"], "step": step, "file": str(f), "input_file_id": file_id}
                )
                state.save()
                events.note(f"submitted {f.name} as {batch['id']}")
        else:
            raise GlanError(f"{step}: calls unanswered after {max_rounds} batch rounds (see {state.path})")
    finally:
        await api.aclose()
    async with Session(cfg, events=events) as session:
        return await session.run_steps((step,))


async def _finish(
    api: BatchAPI, b: dict[str, Any], cfg: RunConfig, folder: Path, events: Events, poll_s: float
) -> None:
    """Poll one batch until it ends, then import its output and error files."""
    while True:
        info = await api.get(b["id"])
        b["status"] = status = info.get("status")
        if status in FINAL:
            break
        counts = info.get("request_counts") or {}
        events.note(f"{b['id']}: {status} ({counts.get('completed', 0)}/{counts.get('total', '?')} done)")
        await wait(poll_s)
    if status == "failed":
        errors = (info.get("errors") or {}).get("data") or [{}]
        b["imported"] = True  # nothing to import; its requests go into the next round's file
        raise BackendError(f"batch {b['id']} failed: {errors[0].get('message', 'no reason given')}")
    files = []
    for kind in ("output_file_id", "error_file_id"):
        if info.get(kind):
            files.append(await api.download(info[kind], folder / f"{b['id']}-{kind.split('_')[0]}.jsonl"))
    report = import_files(cfg, files)
    b.update(imported=True, answered=report.imported, errors=sum(report.errors.values()))
    events.note(f"{b['id']}: {status}, {report.imported} answers imported, {b['errors']} errors")
