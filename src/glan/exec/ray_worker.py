"""What runs inside the Ray cluster: the cache server and the stage worker.

The response cache stays one SQLite file on the driver's node; one actor there owns it
(`CacheServer`), so workers on any node read and write it through Ray, and a call counts as
finished once its answer is stored there. A worker (`StageWorker`, a Ray Data callable class)
runs the same stage, job flows and `run_stage` as the local executor over a batch of input
records: every request is looked up before it is sent, and every answer is stored before
its job goes on (the lookups, and the stores, of an actor that arrive while one is on its way
go to the cache actor together). A worker killed mid-batch is restarted by Ray Data and its
batch runs again: what was stored comes from the cache, only the calls in flight are asked
again.
"""

from __future__ import annotations

import asyncio
import pickle
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from glan.config import LLMConfig, PriceConfig
from glan.errors import GlanError
from glan.exec.jobs import Reruns, drive
from glan.exec.stream import run_stage
from glan.llm.base import ChatRequest, ChatResponse
from glan.llm.budget import Budget
from glan.llm.cache import SPEND, ResponseCache, Spend
from glan.llm.client import LLMClient
from glan.records import Failure, Record
from glan.stages.base import Stage


class CacheServer:
    """The run's response cache, served to the workers (a Ray actor on the driver's node)."""

    def __init__(self, path: str, spend: Spend) -> None:
        self.cache = ResponseCache(Path(path))
        self.spend = spend  # whom the answers stored are charged to

    def get_many(self, keys: list[str]) -> list[ChatResponse | None]:
        return [self.cache.get(k) for k in keys]

    def has(self, key: str) -> bool:
        return self.cache.has(key)

    def put_many(self, answers: list[tuple[str, ChatResponse]]) -> None:
        """Store answers, charged to the stage; committed (one commit) before this returns."""
        token = SPEND.set(self.spend)
        try:
            for key, response in answers:
                self.cache.put(key, response)
            self.cache.commit()
        finally:
            SPEND.reset(token)

    def close(self) -> int:
        """Commit and close; the number of answers stored."""
        self.cache.close()
        return self.cache.stored


class Coalesced:
    """Calls to an actor method that takes a list and answers a list (None: nothing) made one
    item at a time: the items that arrive while one call is on its way go together in the
    next, and each caller gets its own item's answer once that call returns. The cache actor
    gets one call per round of a worker's lookups or stores, not one per request."""

    def __init__(self, method: Any) -> None:
        self.method = method
        self.waiting: list[tuple[Any, asyncio.Future[Any]]] = []
        self.flushing = False

    async def __call__(self, item: Any) -> Any:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting.append((item, done))
        if not self.flushing:
            self.flushing = True
            asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                try:
                    answers = await self.method.remote([item for item, _ in batch])
                except BaseException as e:  # each caller gets the error (an answer not stored)
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(e)
                    raise
                for (_, done), answer in zip(batch, answers or [None] * len(batch), strict=True):
                    if not done.done():
                        done.set_result(answer)
        finally:
            self.flushing = False


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to run a stage: sent once to each actor."""

    stage: Stage
    llm: LLMConfig
    price: PriceConfig | None
    max_reasks: int
    reruns: Reruns
    slots: int  # calls in flight per actor (the endpoint's concurrency shared by the actors)
    budget: Budget | None = None  # this actor's share of what the run may still spend


def _make_backend(llm: LLMConfig) -> Any:
    from glan.llm.registry import build_backend

    return build_backend(llm)


class StageWorker:
    """Runs a stage over batches of input records (a Ray Data map_batches callable class).

    A batch comes as pickled records in column `item`; one row goes out per input record, in
    order: its records, its failures, its jobs left waiting, and (on the batch's last row) the
    batch's counts and call usage."""

    def __init__(self, spec: WorkerSpec, cache: Any) -> None:
        self.spec = spec
        self.cache = cache
        llm = spec.llm
        # the endpoint's concurrency is shared by the actors: this one's share, adaptive within it
        share = llm.model_copy(
            update={"concurrency": spec.slots, "min_concurrency": min(llm.min_concurrency, spec.slots)}
        )
        self.client = LLMClient.for_options(
            None,  # type: ignore[arg-type]  # the cache is the CacheServer, asked in `answer`
            share,
            lambda: _make_backend(llm),
            price=spec.price,
            budget=spec.budget,
        )
        self._slots: asyncio.Semaphore | None = None
        self.lookup = Coalesced(cache.get_many)  # before each call: answered already?
        self.store = Coalesced(cache.put_many)  # after it: a job goes on once its answer is stored
        self.actor = uuid.uuid4().hex  # this instance (a restarted actor counts anew)

    async def __call__(self, batch: dict[str, Any]) -> AsyncIterator[dict[str, list[bytes]]]:
        if self._slots is None:  # made on the loop Ray Data runs this on
            self._slots = asyncio.Semaphore(self.spec.slots)
        stage = self.spec.stage
        items = [pickle.loads(b) for b in batch["item"]]
        hits = misses = 0
        rows: list[bytes] = []
        records: list[Record] = []
        failures: list[Failure] = []

        async def answer(request: ChatRequest) -> ChatResponse:
            nonlocal hits, misses
            key = request.key()
            response = await self.lookup(key)
            if response is not None:
                hits += 1
                return response
            misses += 1
            assert self._slots is not None
            async with self._slots:
                response = await self.client.call(request)
            await self.store((key, response))  # stored: this call is finished
            return response

        def answered(request: ChatRequest) -> bool:  # rare: a recorded failure asked anew
            import ray

            return bool(ray.get(self.cache.has.remote(request.key())))

        def item_done(deferred: int) -> None:
            rows.append(pickle.dumps((list(records), list(failures), deferred, None)))
            records.clear()
            failures.clear()

        try:
            result = await run_stage(
                stage,
                items,
                lambda flow: drive(flow, answer),
                records.append,
                failures.append,
                answered=answered,
                concurrency=max(1, len(items) * stage.per_item),  # the actor's slots bound the calls
                max_reasks=self.spec.max_reasks,
                on_item_done=item_done,
                reruns=self.spec.reruns,
            )
        except GlanError as e:  # said in one line by the driver, not as Ray's wrapped traceback
            yield {"out": [pickle.dumps(e)]}
            return
        # the client's counts are the actor's so far (batches run side by side in one actor):
        # the driver keeps each actor's latest; lookups are this batch's own
        calls = (self.actor, asdict(self.client.stats), {"requests": misses + hits, "cache_hits": hits})
        last = pickle.loads(rows[-1])
        rows[-1] = pickle.dumps((*last[:3], (asdict(result), calls)))
        yield {"out": rows}
