"""The one place LLM calls go through: cache lookup, then the backend with retries, token and
cost accounting, a breaker that stops a run when its first calls or most calls fail, the
adaptive limit of calls in flight (glan.llm.adaptive) and the run's budget (glan.llm.budget)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from glan.config import PriceConfig
from glan.errors import BackendError, FatalBackendError, TooManyFailures, TransientBackendError
from glan.llm.adaptive import AdaptiveConcurrency, Ticket, work_of
from glan.llm.base import Backend, ChatRequest, ChatResponse
from glan.llm.budget import Budget, Hold
from glan.llm.cache import ResponseCache

if TYPE_CHECKING:
    from glan.llm.registry import BackendOptions


@dataclass
class CallStats:
    requests: int = 0
    cache_hits: int = 0
    calls: int = 0
    retries: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    model_ms: float = 0.0


class FailureBreaker:
    """Raises TooManyFailures, before any call succeeded, at a fatal error (wrong URL, host or
    model) or when the first `first` calls all failed with the same error; later, when more
    than `max_rate` of the last `window` calls failed (`min_failures` at least). A `max_rate`
    of 1 never stops a run."""

    def __init__(
        self, max_rate: float = 0.5, window: int = 50, min_failures: int = 10, first: int = 3
    ) -> None:
        self.max_rate = max_rate
        self.window: deque[bool] = deque(maxlen=window)
        self.min_failures = min_failures
        self.first = first
        self.succeeded = 0
        self.errors: Counter[str] = Counter()
        self.tripped: TooManyFailures | None = None  # once tripped, every later call stops at once

    def success(self) -> None:
        self.succeeded += 1
        self.window.append(True)

    def failure(self, error: str, fatal: bool = False) -> None:
        self.window.append(False)
        self.errors[error] += 1
        if self.max_rate >= 1.0:
            return
        if self.tripped is not None:  # a call that was in flight when the run stopped
            raise self.tripped
        if self.succeeded == 0 and (fatal or self.errors[error] == self.errors.total() >= self.first):
            self._stop(error)
        failed = self.window.count(False)
        if failed < self.min_failures:
            return
        full = len(self.window) == self.window.maxlen
        if self.succeeded == 0 or (full and failed > self.max_rate * len(self.window)):
            common, n = self.errors.most_common(1)[0]
            self.tripped = TooManyFailures(
                f"stopping: {failed} of the last {len(self.window)} LLM calls failed "
                f"({n}x: {common}); finished calls are cached, fix the cause and run the same "
                "command to resume"
            )
            raise self.tripped

    def stop_if_all_failed(self) -> None:
        """Raise TooManyFailures when calls were made, none succeeded, and all failed with the
        same error: a run with fewer jobs than `first` that cannot make progress either."""
        if self.max_rate < 1.0 and not self.succeeded and len(self.errors) == 1:
            self._stop(next(iter(self.errors)))

    def _stop(self, error: str) -> None:
        n = self.errors.total()
        calls = "the first LLM call" if n == 1 else f"the first {n} LLM calls"
        self.tripped = TooManyFailures(
            f"stopping: {calls} failed: {error}; fix the cause and run the same command to resume"
        )
        raise self.tripped


class LLMClient:
    """Cached, retrying calls to one backend. The backend is built on the first cache miss,
    so a rerun that is all cache hits never loads a model or opens a connection."""

    def __init__(
        self,
        cache: ResponseCache,
        backend_factory: Callable[[], Backend],
        *,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        price: PriceConfig | None = None,
        breaker: FailureBreaker | None = None,
        limit: AdaptiveConcurrency | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.cache = cache
        self._factory = backend_factory
        self._backend: Backend | None = None
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.price = price
        self.breaker = breaker or FailureBreaker()
        self.limit = limit  # None: `concurrency` in flight, fixed (the executor's semaphore)
        self.budget = budget
        self.stats = CallStats()

    @classmethod
    def for_options(
        cls,
        cache: ResponseCache,
        options: BackendOptions,
        backend_factory: Callable[[], Backend],
        *,
        price: PriceConfig | None = None,
        budget: Budget | None = None,
    ) -> LLMClient:
        """The client an `llm:` section describes (retries, breaker, adaptive limit), in any
        process: a budget shared by the clients of one run is passed in."""
        limit = None
        if options.adaptive and options.concurrency > options.min_concurrency:
            limit = AdaptiveConcurrency(options.min_concurrency, options.concurrency)
        return cls(
            cache,
            backend_factory,
            max_retries=options.max_retries,
            price=price,
            breaker=FailureBreaker(options.max_failure_rate),
            limit=limit,
            budget=budget,
        )

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self._factory()
        return self._backend

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """The response for `request`, from the cache or the backend (then cached)."""
        self.stats.requests += 1
        key = request.key()
        cached = self.cache.get(key)
        if cached is not None:
            self.stats.cache_hits += 1
            return cached
        resp = await self.call(request)
        self.cache.put(key, resp)
        return resp

    def cached(self, request: ChatRequest) -> bool:
        """Whether `request` has an answer in the cache (looked up, not counted as a request)."""
        return self.cache.get(request.key()) is not None

    def _account(self, resp: ChatResponse) -> None:
        s = self.stats
        s.prompt_tokens += resp.prompt_tokens
        s.completion_tokens += resp.completion_tokens
        s.model_ms += resp.model_ms or 0.0
        if self.price is not None:
            s.cost_usd += self.price.cost(resp.prompt_tokens, resp.completion_tokens)

    async def call(self, request: ChatRequest) -> ChatResponse:
        """The backend's answer, uncached: retries, the adaptive limit, the budget, accounting
        (`complete` is this behind the cache; Ray workers store answers through their own)."""
        backend = self.backend
        for attempt in range(self.max_retries + 1):
            if self.breaker.tripped is not None:
                raise self.breaker.tripped
            try:
                resp = await self._attempt(backend, request)
            except TransientBackendError as e:
                if attempt == self.max_retries:
                    self._failed(str(e))
                    raise BackendError(f"gave up after {attempt + 1} tries: {e}") from None
                self.stats.retries += 1
                delay = self.backoff_s * 2**attempt * random.uniform(0.5, 1)
                if e.retry_after is not None:
                    delay = e.retry_after * random.uniform(1, 1.1)
                await asyncio.sleep(min(self.max_backoff_s, delay))
            except BackendError as e:
                self._failed(str(e), fatal=isinstance(e, FatalBackendError))
                raise
            else:
                self._account(resp)
                self.breaker.success()
                return resp
        raise AssertionError("unreachable")

    async def _attempt(self, backend: Backend, request: ChatRequest) -> ChatResponse:
        """One try: a slot under the adaptive limit, the budget's hold, the call; what came of
        it is told to both (a backoff after a failure holds neither)."""
        ticket = await self.limit.acquire() if self.limit is not None else None
        hold = None
        if self.budget is not None:
            hold = self._reserve(request)
            if hold is None:  # the run stops once the calls in flight have answered
                self._free(ticket)
                await self.budget.drained()
                raise self.budget.stop()
        self.stats.calls += 1
        resp: ChatResponse | None = None
        overloaded = False
        try:
            resp = await backend.chat(request)
        except TransientBackendError:
            overloaded = True
            raise
        finally:
            if ticket is not None and self.limit is not None:
                if resp is not None:
                    self.limit.succeeded(ticket, work_of(resp.prompt_tokens, resp.completion_tokens))
                elif overloaded:
                    self.limit.overloaded(ticket)
                else:
                    self.limit.released(ticket)
            if hold is not None and self.budget is not None:
                if resp is None:
                    self.budget.cancel(hold)
                else:
                    self.budget.settle(hold, *self._cost(request, resp))
        return resp

    def _reserve(self, request: ChatRequest) -> Hold | None:
        assert self.budget is not None
        tokens = request.estimated_tokens()
        usd = self.price.cost(tokens - request.max_tokens, request.max_tokens) if self.price else 0.0
        return self.budget.reserve(usd, tokens)

    def _cost(self, request: ChatRequest, resp: ChatResponse) -> tuple[float, float]:
        """What an answer cost (USD, tokens); a server that reports no usage is charged the
        estimate, so a budget still stops it."""
        prompt, completion = resp.prompt_tokens, resp.completion_tokens
        if prompt + completion <= 0:
            completion = request.max_tokens
            prompt = request.estimated_tokens() - completion
        return (self.price.cost(prompt, completion) if self.price else 0.0), float(prompt + completion)

    def _free(self, ticket: Ticket | None) -> None:
        if ticket is not None and self.limit is not None:
            self.limit.released(ticket)

    def _failed(self, error: str, fatal: bool = False) -> None:
        self.stats.errors += 1
        self.breaker.failure(error, fatal)

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()
            self._backend = None
