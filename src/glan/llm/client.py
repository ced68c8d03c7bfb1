"""The one place LLM calls go through: cache lookup, then the backend with retries."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

from glan.errors import BackendError, TransientBackendError
from glan.llm.base import Backend, ChatRequest, ChatResponse
from glan.llm.cache import ResponseCache


@dataclass
class CallStats:
    requests: int = 0
    cache_hits: int = 0
    calls: int = 0
    retries: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_ms: float = 0.0

    def add(self, resp: ChatResponse) -> None:
        self.prompt_tokens += resp.prompt_tokens
        self.completion_tokens += resp.completion_tokens
        self.model_ms += resp.model_ms or 0.0


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
    ) -> None:
        self.cache = cache
        self._factory = backend_factory
        self._backend: Backend | None = None
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.stats = CallStats()

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
        resp = await self._call(request)
        self.cache.put(key, resp)
        return resp

    async def _call(self, request: ChatRequest) -> ChatResponse:
        backend = self.backend
        for attempt in range(self.max_retries + 1):
            try:
                self.stats.calls += 1
                resp = await backend.chat(request)
                self.stats.add(resp)
                return resp
            except TransientBackendError as e:
                if attempt == self.max_retries:
                    self.stats.errors += 1
                    raise BackendError(f"gave up after {attempt + 1} tries: {e}") from None
                self.stats.retries += 1
                delay = self.backoff_s * 2**attempt * random.uniform(0.5, 1)
                if e.retry_after is not None:
                    delay = e.retry_after
                await asyncio.sleep(min(self.max_backoff_s, delay))
            except BackendError:
                self.stats.errors += 1
                raise
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()
            self._backend = None
