"""A stage over a stream of records: jobs run concurrently inside a sliding window, output in
input order, so a rerun, a resumed run and an uninterrupted run write the same records in the
same order, whichever executor answers the calls."""

from __future__ import annotations

import asyncio
import gc
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager

from glan.exec.jobs import Flow, Outcome, Reruns, StageResult, job_flow
from glan.llm.base import ChatRequest
from glan.records import Dropped, Failure, Record
from glan.stages.base import Job, Stage

# Drives one job's flow to its outcome; None when the job waits for an answer (a batch file).
Driver = Callable[[Flow], Awaitable[Outcome | None]]


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
    drive: Driver,
    emit: Callable[[Record], None],
    fail: Callable[[Failure], None],
    *,
    answered: Callable[[ChatRequest], bool],
    concurrency: int = 1,
    max_reasks: int = 2,
    on_job_done: Callable[[], None] | None = None,
    on_item_done: Callable[[int], None] | None = None,
    reruns: Reruns | None = None,
) -> StageResult:
    """Run `stage` over `items`, calling `emit` for each output record in input order, `fail`
    for each job that failed, and `on_item_done(deferred jobs)` once an item's records and
    failures are all out. `reruns`: recorded failures to ask anew."""
    result = StageResult()
    reruns = reruns or Reruns()
    sem = asyncio.Semaphore(concurrency)
    window = max(8, concurrency * 8)

    async def guarded(job: Job) -> Outcome | None:
        flow = job_flow(stage, job, max_reasks=max_reasks, reruns=reruns, answered=answered, result=result)
        async with sem:
            out = await drive(flow)
        if on_job_done:
            on_job_done()
        return out

    async def finish(item: Record, tasks: list[asyncio.Task]) -> None:
        records: list[Record] = []
        deferred = 0
        for task in tasks:
            out = await task
            if out is None:
                deferred += 1
                continue
            recs, failure = out
            records.extend(recs)
            if failure is not None:
                result.failures += 1
                fail(failure)
        for rec in stage.combine(item, records):
            if isinstance(rec, Dropped):
                result.dropped += 1
            else:
                result.records += 1
            emit(rec)
        result.deferred += deferred
        if on_item_done:
            on_item_done(deferred)

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
