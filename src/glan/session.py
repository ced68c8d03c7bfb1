"""A session on one run directory: the response cache and an LLM client per model, opened
once and closed with `async with`; the report of what this invocation did; and a stage run
over records through the session's executor, with progress and usage as events."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any, Protocol

from glan.config import LLMConfig, RunConfig
from glan.events import Events, StageProgress
from glan.exec import LocalExecutor, Reruns, StageResult, run_stage
from glan.exec.stream import Driver
from glan.llm.base import Backend
from glan.llm.budget import Budget
from glan.llm.cache import SPEND, ResponseCache, Spend, usage_of
from glan.llm.client import LLMClient
from glan.recipes import Recipe, recipe_of
from glan.records import Failure, Record
from glan.stages.base import Stage
from glan.store import RunDir

USAGE_KEYS = ("calls", "prompt_tokens", "completion_tokens", "cost_usd")


class Executor(Protocol):
    """What a session needs of an executor (glan.exec): a driver of job flows for a client."""

    name: str

    def driver(self, client: LLMClient) -> Driver: ...


def executor_for(cfg: RunConfig) -> Executor:
    """The executor `executor:` names (Ray is imported only when it is the one)."""
    if cfg.executor == "ray":
        from glan.exec.ray_executor import RayExecutor

        return RayExecutor(cfg.ray)
    return LocalExecutor()


def make_backend(cfg: LLMConfig) -> Backend:
    """Build the backend an LLMConfig names (only called on a cache miss)."""
    from glan.llm.registry import build_backend

    return build_backend(cfg)


class Session:
    def __init__(
        self,
        cfg: RunConfig,
        *,
        events: Events | None = None,
        backend_factory: Callable[[LLMConfig], Backend] = make_backend,
        executor: Executor | None = None,
        record: bool = True,
    ) -> None:
        self.cfg = cfg
        self.recipe: Recipe = recipe_of(cfg)
        self.run = RunDir(cfg.run_dir)
        self.events = events or Events()
        self.executor = executor or executor_for(cfg)
        self.record = record  # write the manifest (not when only collecting batch requests)
        self._factory = backend_factory
        self._cache: ResponseCache | None = None
        self._clients: dict[str, LLMClient] = {}
        self._budget: tuple[ResponseCache, Budget] | None = None  # and the cache it was counted from
        self.report: dict[str, Any] = {}
        self.post_cfg: Any = None  # the validated `post:` section, when a post step runs

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def cache(self) -> ResponseCache:
        if self._cache is None:
            self._cache = ResponseCache(self.run.cache)
        return self._cache

    @property
    def opened_cache(self) -> ResponseCache | None:
        return self._cache

    def client(self, llm: LLMConfig) -> LLMClient:
        key = llm.model_dump_json()
        if key not in self._clients:
            self._clients[key] = LLMClient.for_options(
                self.cache,
                llm,
                lambda: self._factory(llm),
                price=self.cfg.price_for(llm.model),
                budget=self.budget,
            )
        return self._clients[key]

    @property
    def budget(self) -> Budget | None:
        """The run's `budget:` (None when it sets none), shared by its clients; what was spent
        is counted from the cache as now open: earlier invocations' answers included."""
        limits = self.cfg.budget
        if limits.usd is None and limits.tokens is None:
            return None
        cache = self.cache
        if self._budget is None or self._budget[0] is not cache:
            _, usage = usage_of(self.run.cache, cache)
            self._budget = (cache, Budget.from_usage(limits.usd, limits.tokens, usage, self.cfg.price_for))
        return self._budget[1]

    async def aclose(self) -> None:
        try:
            await self._release_cache()
        finally:
            close = getattr(self.executor, "close", None)
            if close is not None:
                close()

    async def _release_cache(self) -> None:
        """Close the clients and the cache (committed); the next use opens them again. Before
        a stage on Ray: its cache actor is then the file's one writer, and what it stores is
        seen by the cache this process opens next."""
        clients, self._clients = self._clients, {}
        for c in clients.values():
            await c.aclose()
        cache, self._cache = self._cache, None
        if cache is not None:
            cache.close()

    async def run_steps(self, names: list[str] | tuple[str, ...] | None = None) -> dict[str, Any]:
        """Run the recipe's steps (all, or those of the commands or steps named)."""
        from glan.steps import run_steps

        return await run_steps(self, names)

    async def run_stage(
        self,
        stage: Stage,
        items: Iterable[Record],
        total: int,
        llm: LLMConfig,
        emit: Callable[[Record], None],
        fail: Callable[[Failure], None] | None = None,
        reruns: Reruns | None = None,
        item_done: Callable[[int], None] | None = None,
    ) -> StageResult:
        """`stage` over `items` through the executor; the report gets the stage's counts and
        usage, the events its progress."""
        if self.executor.name == "ray":
            return await self._run_on_ray(stage, items, total, llm, emit, fail, reruns, item_done)
        client = self.client(llm)
        before = asdict(client.stats)
        failures: list[Failure] = []
        progress = StageProgress(stage.name, total)

        def tick() -> None:
            s = client.stats
            progress.done += 1
            progress.calls = s.calls - before["calls"]
            progress.cached = s.cache_hits - before["cache_hits"]
            progress.prompt_tokens = s.prompt_tokens - before["prompt_tokens"]
            progress.completion_tokens = s.completion_tokens - before["completion_tokens"]
            if client.price is not None:
                progress.cost_usd = s.cost_usd - before["cost_usd"]
            if client.limit is not None:
                progress.concurrency = client.limit.limit
            self.events.advanced(progress)

        # the responses this stage stores are charged to it in the cache (usage survives kill -9)
        spend = SPEND.set(Spend(stage.name, llm.model, self.cfg.price_for))
        self.events.started(progress)
        try:
            result = await run_stage(
                stage,
                items,
                self.executor.driver(client),
                emit,
                fail or failures.append,
                answered=client.cached,
                concurrency=llm.concurrency,
                max_reasks=self.cfg.max_reasks,
                on_job_done=tick,
                on_item_done=item_done,
                reruns=reruns,
            )
        finally:
            SPEND.reset(spend)
            self.events.finished(progress)
        if result.jobs and result.failures == result.jobs:
            client.breaker.stop_if_all_failed()  # fewer jobs than the breaker's first calls
        self._account(stage.name, llm.model, result, before, asdict(client.stats))
        if client.limit is not None:  # what the adaptive limit settled at, for the manifest
            self.report[stage.name]["concurrency"] = client.limit.summary()
        return result

    async def _run_on_ray(
        self,
        stage: Stage,
        items: Iterable[Record],
        total: int,
        llm: LLMConfig,
        emit: Callable[[Record], None],
        fail: Callable[[Failure], None] | None,
        reruns: Reruns | None,
        item_done: Callable[[int], None] | None,
    ) -> StageResult:
        """The stage on a Ray cluster (glan.exec.ray_executor): the same records, counts and
        usage as through this process's client."""
        budget = self.budget  # what the run dir has spent, read before the workers add to it
        await self._release_cache()
        progress = StageProgress(stage.name, total)
        priced = self.cfg.price_for(llm.model) is not None

        def advanced(jobs: int, usage: dict[str, Any]) -> None:
            progress.done += jobs
            progress.calls = int(usage.get("calls", 0))
            progress.cached = int(usage.get("cache_hits", 0))
            progress.prompt_tokens = int(usage.get("prompt_tokens", 0))
            progress.completion_tokens = int(usage.get("completion_tokens", 0))
            if priced:
                progress.cost_usd = usage.get("cost_usd", 0.0)
            self.events.advanced(progress)

        failures: list[Failure] = []
        self.events.started(progress)
        try:
            result, usage = self.executor.run_stage(  # type: ignore[attr-defined]
                self.cfg,
                str(self.run.cache),
                stage,
                items,
                llm,
                emit,
                fail or failures.append,
                reruns=reruns or Reruns(),
                budget=budget,
                on_jobs_done=advanced,
                on_item_done=item_done,
            )
        finally:
            self.events.finished(progress)
        self._account(stage.name, llm.model, result, dict.fromkeys(usage, 0), usage)
        return result

    def _account(
        self, name: str, model: str, result: StageResult, before: dict[str, Any], after: dict[str, Any]
    ) -> None:
        """The stage's counts and usage (`after` - `before`) into the report; its failures noted."""
        entry = self.report.setdefault(name, {})
        for k, v in asdict(result).items():
            entry[k] = entry.get(k, 0) + v
        for k in after:
            entry[k] = round(entry.get(k, 0) + after[k] - before[k], 6)
        spent = entry.setdefault("models", {}).setdefault(model, {})
        for k in USAGE_KEYS:
            spent[k] = round(spent.get(k, 0) + after[k] - before[k], 6)
        if result.failures:
            where = self.run.stage(name)
            self.events.note(f"{name}: {result.failures} failed jobs recorded in {where}/", "yellow")
