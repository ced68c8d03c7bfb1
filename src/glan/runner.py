"""Runs a stage over a stream of records: bounded concurrency, re-asks, ordered output.

A job whose reply never validated is recorded as a failure; the next run asks it anew with a
new attempt number (another seed and cache key), at most `max_rerun_attempts` times over all
reruns. A rerun replays the attempts asked before from the cache, so its output is the same.

Output order is input order (jobs run concurrently inside a sliding window), so a rerun, a
resumed run and an uninterrupted run write the same records in the same order.
"""

from __future__ import annotations

import asyncio
import gc
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glan.errors import BackendError, Deferred, ParseError
from glan.llm.base import ChatRequest
from glan.llm.client import LLMClient
from glan.recipes import Recipe
from glan.records import Failure, Record
from glan.stages.base import Job, Stage
from glan.store import read_jsonl


@dataclass
class StageResult:
    inputs: int = 0
    jobs: int = 0
    records: int = 0
    failures: int = 0
    given_up: int = 0  # failures whose reply never validated in max_rerun_attempts reruns
    reasks: int = 0
    deferred: int = 0


REASK = (
    "Your reply could not be used: {error}. Reply again with the complete answer, "
    "fixing that problem, in the requested format only."
)


@dataclass(frozen=True)
class Reruns:
    """The recorded failures whose reply never validated, which this run asks anew: job key
    (its first request's) -> the attempt to ask; attempts stop at `max_attempts`."""

    next: dict[str, int] = field(default_factory=dict)
    max_attempts: int = 3

    @classmethod
    def load(cls, failures: Path, max_attempts: int) -> Reruns:
        """From a stage's failures file of the previous run (none: nothing to ask anew)."""
        if not failures.is_file():
            return cls({}, max_attempts)
        return cls(
            {
                f.request_key: f.attempt + 1
                for f in read_jsonl(failures, Failure)
                if f.raw is not None and f.request_key and f.attempt < max_attempts
            },
            max_attempts,
        )


async def _ask(
    stage: Stage, job: Job, request: ChatRequest, client: LLMClient, max_reasks: int, result: StageResult
) -> tuple[list[Record], Failure | None]:
    """One attempt of a job: its request, then re-asks with the validation error."""

    def failed(error: Exception, raw: str | None = None) -> Failure:
        key = job.request.key()  # the job's, whatever the attempt: a rerun finds it by this key
        return Failure(
            stage=stage.name,
            input_id=job.item.id,
            request_key=key,
            error=str(error),
            raw=raw,
            attempt=request.attempt,
        )

    for n in range(max_reasks + 1):
        try:
            response = await client.complete(request)
        except Deferred:  # written to a batch file: its answer comes with the batch results
            result.deferred += 1
            return [], None
        except BackendError as e:
            return [], failed(e)
        try:
            return stage.parse(job, response), None
        except ParseError as e:
            if n == max_reasks:
                return [], failed(e, response.text)
            result.reasks += 1
            messages = [
                *request.messages,
                {"role": "assistant", "content": response.text},
                {"role": "user", "content": REASK.format(error=e)},
            ]
            request = request.model_copy(update={"messages": messages})
    raise AssertionError("unreachable")


async def _run_job(
    stage: Stage, job: Job, client: LLMClient, max_reasks: int, result: StageResult, reruns: Reruns
) -> tuple[list[Record], Failure | None]:
    """Attempt 0, then each later attempt an earlier rerun asked (cached), then the one this
    rerun may ask: a reply that never validated is cached, so asking the same again is futile."""
    allowed = reruns.next.get(job.request.key(), 0) if reruns.next else 0
    attempt = 0
    while True:
        request = job.request.for_attempt(attempt)
        records, failure = await _ask(stage, job, request, client, max_reasks, result)
        if failure is None or failure.raw is None:  # done, deferred, or no reply (asked again)
            return records, failure
        attempt += 1
        if attempt != allowed and not client.cached(job.request.for_attempt(attempt)):
            if attempt > reruns.max_attempts:
                result.given_up += 1
            return records, failure


@contextmanager
def fewer_collections(young: int = 20_000) -> Iterator[None]:
    """Collect garbage less often while a stage runs: each request makes many short-lived
    objects, and the collector's default pace spent ~9% of the CPU of a fast stage."""
    old = gc.get_threshold()
    gc.freeze()  # what exists before the stage is not scanned again during it
    gc.set_threshold(max(old[0], young), old[1], old[2])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


async def run_stage(
    stage: Stage,
    items: Iterable[Record],
    client: LLMClient,
    emit: Callable[[Record], None],
    fail: Callable[[Failure], None],
    *,
    concurrency: int = 1,
    max_reasks: int = 2,
    on_job_done: Callable[[], None] | None = None,
    reruns: Reruns | None = None,
) -> StageResult:
    """Run `stage` over `items`, calling `emit` for each output record in input order and
    `fail` for each job that failed. `reruns`: recorded failures to ask anew."""
    result = StageResult()
    reruns = reruns or Reruns()
    sem = asyncio.Semaphore(concurrency)
    window = max(8, concurrency * 8)

    async def guarded(job: Job) -> tuple[list[Record], Failure | None]:
        async with sem:
            out = await _run_job(stage, job, client, max_reasks, result, reruns)
        if on_job_done:
            on_job_done()
        return out

    async def finish(item: Record, tasks: list[asyncio.Task]) -> None:
        records: list[Record] = []
        for task in tasks:
            recs, failure = await task
            records.extend(recs)
            if failure is not None:
                result.failures += 1
                fail(failure)
        for rec in stage.combine(item, records):
            result.records += 1
            emit(rec)

    pending: deque[tuple[Record, list[asyncio.Task]]] = deque()
    in_window = 0
    with fewer_collections():
        try:
            for item in items:
                result.inputs += 1
                tasks = [asyncio.create_task(guarded(job)) for job in stage.jobs(item)]
                result.jobs += len(tasks)
                pending.append((item, tasks))
                in_window += len(tasks)
                while in_window >= window and pending:
                    head, head_tasks = pending[0]
                    await finish(head, head_tasks)
                    pending.popleft()
                    in_window -= len(head_tasks)
            while pending:
                await finish(*pending[0])
                pending.popleft()
        finally:
            for _, tasks in pending:  # only left here when the run is being torn down
                for task in tasks:
                    if task.done() and not task.cancelled():
                        task.exception()  # retrieved: the run's own exception is what matters
                    task.cancel()
    if result.jobs and result.failures == result.jobs:
        client.breaker.stop_if_all_failed()  # fewer jobs than the breaker's first calls
    return result


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
