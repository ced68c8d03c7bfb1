"""ChatRequest / ChatResponse, the Backend protocol, and the request key."""

from __future__ import annotations

import hashlib
from typing import Any, Protocol, runtime_checkable

import orjson
from pydantic import BaseModel, ConfigDict, Field


class ChatRequest(BaseModel):
    """Everything that changes an answer; its canonical JSON hashes to the cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    messages: list[dict[str, str]]
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1024
    seed: int | None = None
    response_schema: dict[str, Any] | None = None
    schema_name: str = "response"
    attempt: int = Field(default=0, ge=0, description="a rerun's new ask of a failed job (not sent)")

    def key(self) -> str:
        """sha256 of the canonical JSON of the request (sorted keys, no whitespace); attempt 0
        is left out, so keys of first asks are those of runs made before attempts existed."""
        data = self.model_dump(exclude={"attempt"} if self.attempt == 0 else None)
        blob = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)  # JSON-native fields
        return hashlib.sha256(blob).hexdigest()

    def for_attempt(self, attempt: int) -> ChatRequest:
        """This request asked anew (attempt > 0): another cache key and another seed, so that a
        model with a fixed seed answers differently; the same attempt gives the same request."""
        if attempt == 0:
            return self
        digest = hashlib.sha256(f"{self.seed}/{attempt}".encode()).hexdigest()
        return self.model_copy(update={"attempt": attempt, "seed": int(digest[:8], 16) & 0x7FFFFFFF})

    def estimated_tokens(self) -> int:
        """Tokens this request may use, as rate limits count them: about four characters a
        prompt token (schema included), plus max_tokens."""
        chars = sum(len(m.get("content") or "") for m in self.messages)
        if self.response_schema is not None:
            chars += len(orjson.dumps(self.response_schema))
        return chars // 4 + 4 * len(self.messages) + self.max_tokens

    def openai_body(self) -> dict[str, Any]:
        """The body of a POST /v1/chat/completions for this request."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": self.messages,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }
        if self.seed is not None:
            body["seed"] = self.seed
        if self.response_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": self.schema_name,
                    "schema": self.response_schema,
                    "strict": True,
                },
            }
        return body


class ChatResponse(BaseModel):
    """One completion. `model_ms` is the server's own compute time when it reports it."""

    model_config = ConfigDict(extra="forbid")

    text: str
    finish_reason: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_ms: float | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_openai(cls, body: dict[str, Any], model_ms: float | None = None) -> ChatResponse:
        """Parse an OpenAI chat.completion body (also what llama.cpp's server returns)."""
        choice = body["choices"][0]
        usage = body.get("usage") or {}
        timings = body.get("timings") or {}
        if model_ms is None and timings:
            model_ms = float(timings.get("prompt_ms", 0.0)) + float(timings.get("predicted_ms", 0.0))
        text = (choice.get("message") or {}).get("content") or ""
        model = body.get("model")
        finish = choice.get("finish_reason")
        if (
            not isinstance(text, str)
            or not isinstance(model, str | None)
            or not isinstance(finish, str | None)
        ):
            raise TypeError("not a chat.completion body")
        return cls.model_construct(  # every field checked or converted above
            text=text,
            finish_reason=finish,
            model=model,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            model_ms=model_ms,
            extra={},
        )


@runtime_checkable
class Backend(Protocol):
    """One async call. Transport failures raise TransientBackendError (retried by the runner)
    or BackendError (not retried)."""

    name: str

    async def chat(self, request: ChatRequest) -> ChatResponse: ...

    async def aclose(self) -> None: ...
