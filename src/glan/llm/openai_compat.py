"""Any OpenAI-compatible endpoint (vLLM, SGLang, Ollama, llama.cpp server, OpenAI, Azure)
over one shared aiohttp session: POST {base_url}/chat/completions."""

from __future__ import annotations

import os

import aiohttp
import orjson

from glan.errors import BackendError, ConfigError, TransientBackendError
from glan.llm.base import ChatRequest, ChatResponse

TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def _retry_after(headers: aiohttp.typedefs.LooseHeaders) -> float | None:
    value = headers.get("Retry-After") if headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class OpenAICompatBackend:
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout_s: float = 600.0,
        concurrency: int = 64,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url {base_url!r} must start with http:// or https://")
        if api_key is None and api_key_env:
            api_key = os.environ.get(api_key_env)
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._limit = concurrency
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._limit)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, headers=self._headers
            )
        return self._session

    async def chat(self, request: ChatRequest) -> ChatResponse:
        body = orjson.dumps(request.openai_body())
        try:
            async with self._get_session().post(self.url, data=body) as r:
                raw = await r.read()
                if r.status in TRANSIENT_STATUS:
                    raise TransientBackendError(f"HTTP {r.status} from {self.url}", _retry_after(r.headers))
                if r.status in (401, 403):
                    raise ConfigError(f"HTTP {r.status} from {self.url}: check the API key")
                if r.status >= 400:
                    detail = raw[:200].decode("utf-8", "replace")
                    raise BackendError(f"HTTP {r.status} from {self.url}: {detail}")
        except (
            TimeoutError,
            aiohttp.ClientConnectionError,
            aiohttp.ClientPayloadError,
            aiohttp.ClientResponseError,  # e.g. a garbled status line from a proxy
        ) as e:
            raise TransientBackendError(f"{type(e).__name__} talking to {self.url}") from None
        except aiohttp.InvalidURL:
            raise ConfigError(f"invalid base_url: {self.url}") from None
        except aiohttp.ClientError as e:  # anything else aiohttp raises stays a glan error
            raise BackendError(f"{type(e).__name__} talking to {self.url}") from None
        try:
            return ChatResponse.from_openai(orjson.loads(raw))
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            raise TransientBackendError(f"malformed response body from {self.url}") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
