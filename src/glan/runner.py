"""Runs a stage over a stream of records: bounded concurrency, re-asks, ordered output.

Output order is input order (jobs run concurrently inside a sliding window), so a rerun, a
resumed run and an uninterrupted run write the same records in the same order.
"""

from __future__ import annotations

import asyncio
import gc
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from glan.errors import BackendError, Deferred, ParseError
from glan.llm.client import LLMClient
from glan.records import Failure, Record
from glan.stages.base import Job, Stage


@dataclass
class StageResult:
    inputs: int = 0
    jobs: int = 0
    records: int = 0
    failures: int = 0
    reasks: int = 0
    deferred: int = 0


REASK = (
    "Your reply could not be used: {error}. Reply again with the complete answer, "
    "fixing that problem, in the requested format only."
)


async def _run_job(
    stage: Stage, job: Job, client: LLMClient, max_reasks: int, result: StageResult
) -> tuple[list[Record], Failure | None]:
    request = job.request
    for attempt in range(max_reasks + 1):
        try:
            response = await client.complete(request)
        except Deferred:  # written to a batch file: its answer comes with the batch results
            result.deferred += 1
            return [], None
        except BackendError as e:
            return [], Failure(
                stage=stage.name, input_id=job.item.id, request_key=request.key(), error=str(e)
            )
        try:
            return stage.parse(job, response), None
        except ParseError as e:
            if attempt == max_reasks:
                return [], Failure(
                    stage=stage.name,
                    input_id=job.item.id,
                    request_key=request.key(),
                    error=str(e),
                    raw=response.text,
                )
            result.reasks += 1
            messages = [
                *request.messages,
                {"role": "assistant", "content": response.text},
                {"role": "user", "content": REASK.format(error=e)},
            ]
            request = request.model_copy(update={"messages": messages})
    raise AssertionError("unreachable")


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
) -> StageResult:
    """Run `stage` over `items`, calling `emit` for each output record in input order."""
    result = StageResult()
    sem = asyncio.Semaphore(concurrency)
    window = max(8, concurrency * 8)

    async def guarded(job: Job) -> tuple[list[Record], Failure | None]:
        async with sem:
            out = await _run_job(stage, job, client, max_reasks, result)
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
    return result
