"""The embedded default backend: llama.cpp in-process through xllamacpp."""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import Any, Literal

from pydantic import Field, model_validator

from glan.errors import BackendError
from glan.llm.base import ChatRequest, ChatResponse
from glan.llm.packs import resolve_model
from glan.llm.registry import BackendOptions, register


@register
class LocalOptions(BackendOptions):
    """`backend: local` (the default): a model pack or GGUF file run in-process."""

    backend: Literal["local"] = "local"
    n_ctx: int = Field(default=8192, ge=512, description="context tokens per slot")
    threads: int | None = Field(default=None, ge=1, description="CPU threads (default: all)")

    @model_validator(mode="after")
    def _fixed_slots(self) -> LocalOptions:
        if self.adaptive:  # llama.cpp decodes `concurrency` slots in one batch: nothing to adapt
            raise ValueError("adaptive: backend 'local' runs a fixed number of slots (concurrency)")
        return self

    def build(self) -> LocalBackend:
        return LocalBackend(self.model, n_ctx=self.n_ctx, parallel=self.concurrency, threads=self.threads)


class LocalBackend:
    """llama.cpp's server, in-process. `parallel` slots decode concurrently in one batch.

    The same server also listens on 127.0.0.1 (llama.cpp's OpenAI-compatible HTTP API),
    guarded by a random API key: `base_url` and `api_key` give access to it.
    """

    name = "local"

    def __init__(
        self,
        model: str,
        *,
        n_ctx: int = 8192,
        parallel: int = 1,
        threads: int | None = None,
        port: int = 0,
        api_key: str | None = None,
    ) -> None:
        import xllamacpp

        self.model = model
        self.path = resolve_model(model)
        self.api_key = api_key or secrets.token_hex(16)
        p = xllamacpp.CommonParams()
        p.model.path = str(self.path)
        p.n_parallel = parallel
        p.n_ctx = n_ctx * parallel
        n = threads or max(1, os.cpu_count() or 1)
        p.cpuparams.n_threads = n
        p.cpuparams_batch.n_threads = n
        p.warmup = False
        p.api_keys = [self.api_key]
        p.hostnames = ["127.0.0.1"]
        p.port = port
        p.verbosity = -1
        self._server = xllamacpp.Server(p)
        addr = self._server.listening_address
        self.base_url = (addr if addr.startswith("http") else f"http://{addr}") + "/v1"

    def _call(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._server.handle_chat_completions(body)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        body = request.openai_body()
        out = await asyncio.to_thread(self._call, body)
        if not isinstance(out, dict) or "error" in out or "choices" not in out:
            err = out.get("error") if isinstance(out, dict) else out
            raise BackendError(f"llama.cpp: {err}")
        resp = ChatResponse.from_openai(out)
        resp.model = self.model
        return resp

    async def aclose(self) -> None:
        self._server = None  # type: ignore[assignment]
