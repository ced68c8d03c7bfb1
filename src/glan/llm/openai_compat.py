"""Any OpenAI-compatible endpoint (vLLM, SGLang, Ollama, llama.cpp server, OpenAI, Azure)
over one shared aiohttp session: POST {base_url}/chat/completions.

Several base URLs serving the same model share the load: each request goes to the endpoint
with the fewest requests in flight among those not paused. Each endpoint has its own rate
limiter (requests and tokens per minute, `Retry-After`, `x-ratelimit-*` headers).

Until a first call has succeeded, errors that say the URL, host or model is wrong (connection
refused, unknown host, 404, a page that is not JSON) are fatal once every endpoint gave one:
no retries, the run stops with one line. Once an endpoint has answered they are a server
dropping out for a while (retried; a 404 fails its job).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Literal

import aiohttp
import orjson
from pydantic import Field, model_validator

from glan.errors import BackendError, ConfigError, FatalBackendError, TransientBackendError
from glan.llm.base import ChatRequest, ChatResponse
from glan.llm.limits import RateLimiter, retry_after_s
from glan.llm.registry import BackendOptions, register

TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
WRONG_URL_STATUS = {404, 405}  # before any answer: base_url or model is wrong
MAX_PAUSE_S = 600.0  # a Retry-After longer than this (a daily quota) is not waited out whole


@register
class OpenAIOptions(BackendOptions):
    """`backend: openai`: one or more OpenAI-compatible endpoints serving `model`."""

    backend: Literal["openai"] = "openai"
    base_url: str | list[str] | None = Field(
        default=None, description="one endpoint, or several serving the same model (load spread)"
    )
    api_key_env: str | None = "OPENAI_API_KEY"
    rpm: float | None = Field(default=None, gt=0, description="requests per minute, per endpoint")
    tpm: float | None = Field(default=None, gt=0, description="tokens per minute, per endpoint")
    # on by default: a server's capacity is unknown and self-hosted ones slow down past it
    # instead of answering 429; `concurrency` stays the most that is ever in flight
    adaptive: bool = Field(
        default=True, description="raise and cut requests in flight from latency and 429/5xx/timeouts"
    )

    @model_validator(mode="after")
    def _needs_url(self) -> OpenAIOptions:
        # checked here, not as a required field: the error then names the `llm:` section's line
        if not self.base_url:
            raise ValueError("backend 'openai' needs base_url (e.g. http://127.0.0.1:8000/v1)")
        return self

    def build(self) -> OpenAICompatBackend:
        assert self.base_url is not None
        return OpenAICompatBackend(
            self.base_url,
            self.model,
            api_key_env=self.api_key_env,
            timeout_s=self.timeout_s,
            concurrency=self.concurrency,
            rpm=self.rpm,
            tpm=self.tpm,
        )


class Endpoint:
    """One base URL: its limiter, requests in flight and consecutive failures."""

    def __init__(self, base_url: str, rpm: float | None, tpm: float | None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url {base_url!r} must start with http:// or https://")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.limiter = RateLimiter(rpm, tpm)
        self.inflight = 0
        self.failures = 0
        self.requests = 0
        self.wrong = False  # it failed as if base_url or model were wrong (see _wrong)


class OpenAICompatBackend:
    name = "openai"

    def __init__(
        self,
        base_url: str | Sequence[str],
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout_s: float = 600.0,
        concurrency: int = 64,
        rpm: float | None = None,
        tpm: float | None = None,
    ) -> None:
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        if not urls:
            raise ConfigError("base_url: give at least one endpoint")
        self.endpoints = [Endpoint(u, rpm, tpm) for u in urls]
        if api_key is None and api_key_env:
            api_key = os.environ.get(api_key_env)
        self._secret = api_key or None
        self.model = model
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(timeout_s, 30.0))
        self._limit = concurrency
        self._session: aiohttp.ClientSession | None = None
        self._turn = 0
        self.answered = False  # some call succeeded: from then on a refused connection is retried

    @property
    def url(self) -> str:
        return self.endpoints[0].url

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._limit)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, headers=self._headers
            )
        return self._session

    def _pick(self) -> Endpoint:
        """The endpoint with the fewest requests in flight among those not paused (turns
        taken on ties); when all are paused, the one that resumes first."""
        eps = self.endpoints
        if len(eps) == 1:
            return eps[0]
        now = time.monotonic()
        self._turn += 1
        n = len(eps)
        order = [eps[(self._turn + i) % n] for i in range(n)]
        ready = [e for e in order if e.limiter.paused_until <= now]
        if not ready:
            return min(order, key=lambda e: e.limiter.paused_until)
        return min(ready, key=lambda e: e.inflight)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        ep = self._pick()
        limiter = ep.limiter
        estimate = request.estimated_tokens() if limiter.tokens is not None else 0
        await limiter.acquire(estimate)
        ep.inflight += 1
        ep.requests += 1
        try:
            resp = await self._post(ep, request)
        except TransientBackendError as e:
            ep.failures += 1
            if e.retry_after is not None:
                limiter.pause(min(e.retry_after, MAX_PAUSE_S))
            elif len(self.endpoints) > 1:  # let the others carry the load for a while
                limiter.pause(min(30.0, 0.25 * 2 ** min(ep.failures, 7)))
            raise
        finally:
            ep.inflight -= 1
        ep.failures = 0
        self.answered = True
        limiter.settle(estimate, resp.prompt_tokens + resp.completion_tokens)
        return resp

    async def _post(self, ep: Endpoint, request: ChatRequest) -> ChatResponse:
        body = orjson.dumps(request.openai_body())
        url = ep.url
        try:
            async with self._get_session().post(url, data=body) as r:
                raw = await r.read()
                headers = r.headers
                status = r.status
                kind = r.content_type
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as e:  # nothing sent
            message = f"cannot connect to {url}: {connect_error(e)}"
            raise self._wrong(ep, message, TransientBackendError) from None
        except (
            TimeoutError,
            aiohttp.ClientConnectionError,
            aiohttp.ClientPayloadError,
            aiohttp.ClientResponseError,  # e.g. a garbled status line from a proxy
        ) as e:
            raise TransientBackendError(f"{type(e).__name__} talking to {url}") from None
        except aiohttp.InvalidURL:
            raise ConfigError(f"invalid base_url: {url}") from None
        except aiohttp.ClientError as e:  # anything else aiohttp raises stays a glan error
            raise BackendError(f"{type(e).__name__} talking to {url}") from None
        ep.limiter.observe(headers)
        if status != 200:
            if status in TRANSIENT_STATUS:
                raise TransientBackendError(f"HTTP {status} from {url}", retry_after_s(headers))
            if status in (401, 403):
                raise ConfigError(f"HTTP {status} from {url}: check the API key")
            message = f"HTTP {status} from {url}: {error_detail(raw, self._secret)}"
            if status in WRONG_URL_STATUS:  # no such model or path
                raise self._wrong(ep, message, BackendError)
            raise BackendError(message)
        try:
            return ChatResponse.from_openai(orjson.loads(raw))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            if raw.lstrip().startswith(b"{") and kind != "text/html":  # a cut body: asked again
                raise TransientBackendError(f"malformed response body from {url}") from None
            start = error_detail(raw[:80], self._secret)
            message = (
                f"{url} answered {kind or 'a body'} that is not a chat completion ({start!r}); "
                "base_url must be the API's (it usually ends in /v1)"
            )
            raise self._wrong(ep, message, TransientBackendError) from None  # or a proxy's page

    def _wrong(self, ep: Endpoint, message: str, otherwise: type[BackendError]) -> BackendError:
        """An error that says the URL or model is wrong: fatal (not retried) while no endpoint
        has answered and each has failed so; else `otherwise` (another endpoint may answer,
        or the server that answered before will again)."""
        ep.wrong = True
        if not self.answered and all(e.wrong for e in self.endpoints):
            return FatalBackendError(message)
        return otherwise(message)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def connect_error(e: Exception) -> str:
    """Why a connection could not be made, in a few words."""
    if isinstance(e, aiohttp.ClientConnectorDNSError):
        return f"unknown host {e.host!r}"
    if isinstance(e, aiohttp.ClientConnectorError) and isinstance(e.os_error, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(e, TimeoutError):
        return "timed out"
    return str(e)


def error_detail(raw: bytes, secret: str | None) -> str:
    """The message of an OpenAI-style error body, else the start of the body, on one line,
    with the API key (should a server echo it) masked."""
    detail = " ".join(raw[:200].decode("utf-8", "replace").split())
    try:
        body = orjson.loads(raw)
        err = body.get("error") if isinstance(body, dict) else None
        msg = err.get("message") if isinstance(err, dict) else (body.get("message") or err)
        if isinstance(msg, str) and msg:
            detail = " ".join(msg.split())[:300]
    except (orjson.JSONDecodeError, AttributeError):
        pass
    return detail.replace(secret, "***") if secret else detail
