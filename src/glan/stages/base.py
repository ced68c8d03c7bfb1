"""The shape of every LLM stage: jobs(item) builds requests, parse(job, response) validates
(or asks a follow-up), reask(...) words the re-ask after a reply that failed to parse.

A stage never talks to a backend or to disk; an executor does (cache, retries, writing).
`combine` merges the records of one input item's jobs (default: concatenate).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from glan.errors import ParseError, first_error
from glan.llm.base import ChatRequest, ChatResponse
from glan.records import Record, lineage_id

REASK = (
    "Your reply could not be used: {error}. Reply again with the complete answer, "
    "fixing that problem, in the requested format only."
)


@dataclass(frozen=True)
class FollowUp:
    """What `parse` returns when the job needs another call before it has its records (a
    second step of a multi-call job); `context` is added to the job's for the next parse."""

    request: ChatRequest
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """One request for one input item; `context` carries what parse needs besides the item."""

    item: Any
    request: ChatRequest
    context: dict[str, Any] = field(default_factory=dict)


class Stage:
    name: ClassVar[str]
    input: ClassVar[type[Record]]
    output: ClassVar[type[Record]]
    # Raise it when a prompt or the parsing changes: finished shards are then made again (the
    # calls of a changed prompt are new; those of a changed parser come from the cache).
    version: ClassVar[int] = 1

    @property
    def per_item(self) -> int:
        """Jobs per input record (for progress totals)."""
        return 1

    def jobs(self, item: Any) -> Iterable[Job]:
        raise NotImplementedError

    def example_jobs(self, item: Any) -> Iterable[Job]:
        """The jobs of `item` as a representative input (glan estimate): those of `jobs`, even
        where the stage asks about a share of its inputs only (Evol-Instruct)."""
        return self.jobs(item)

    def parse(self, job: Job, response: ChatResponse) -> list[Record] | FollowUp:
        raise NotImplementedError

    def reask(self, request: ChatRequest, response: ChatResponse, error: Exception) -> ChatRequest:
        """The request that asks again after `response` failed to parse with `error`."""
        messages = [
            *request.messages,
            {"role": "assistant", "content": response.text},
            {"role": "user", "content": REASK.format(error=error)},
        ]
        return request.model_copy(update={"messages": messages})

    def combine(self, item: Any, records: list[Record]) -> Iterator[Record]:
        yield from records


class SeededStage(Stage):
    """A stage configured by its step settings, the model it asks, and the run seed."""

    def __init__(self, cfg: Any, model: str, seed: int) -> None:
        self.cfg, self.model, self.seed = cfg, model, seed


def seed_for(*parts: object) -> int:
    """A request seed from lineage parts: reproducible, and different per sample."""
    return int(lineage_id("seed", *parts)[:8], 16)


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a pydantic model, closed (additionalProperties false)."""
    schema = model.model_json_schema()
    for node in _nodes(schema):
        if node.get("type") == "object":
            node.setdefault("additionalProperties", False)
    return schema


def _nodes(schema: Any) -> Iterator[dict[str, Any]]:
    """Every object node of a JSON schema, the schema itself first."""
    if isinstance(schema, dict):
        yield schema
        for v in schema.values():
            yield from _nodes(v)
    elif isinstance(schema, list):
        for v in schema:
            yield from _nodes(v)


def bounded(schema: dict[str, Any], items: int, chars: int) -> dict[str, Any]:
    """`schema` with a maxItems on every array and a maxLength on every string that has none.
    Sent with the request only (the reply is validated by the pydantic model, unbounded): a
    server that constrains its output by the schema (llama.cpp, vLLM) then cannot loop in a
    list or a string until max_tokens, as small models at a high temperature do."""
    for node in _nodes(schema):
        if node.get("type") == "array":
            node.setdefault("maxItems", items)
        elif node.get("type") == "string":
            node.setdefault("maxLength", chars)
    return schema


def _closed(prefix: str) -> str | None:
    """`prefix` with its open strings/brackets closed, or None when it ends mid-string."""
    stack, in_str, esc = [], False, False
    for ch in prefix:
        if in_str:
            esc, in_str = (False, in_str) if esc else (ch == "\\", ch != '"')
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            stack.append("]" if ch == "[" else "}")
        elif ch in "]}" and stack:
            stack.pop()
    return None if in_str else prefix + "".join(reversed(stack))


def salvage_json(body: str) -> Any:
    """The longest prefix of a cut-off JSON text that ends after a complete object, closed."""
    for end in [i for i, ch in enumerate(body) if ch == "}"][::-1][:64]:
        text = _closed(body[: end + 1])
        if text is not None:
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                continue
    return None


def parse_json(text: str, model: type[BaseModel], truncated: bool = False) -> Any:
    """Validate a JSON reply (tolerating ```json fences) or raise ParseError with the reason.

    A reply cut off at max_tokens (`truncated`) keeps its complete leading items, if those
    validate on their own."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    start = body.find("{")
    if start < 0:
        raise ParseError("the reply holds no JSON object")
    body = body[start:]
    try:
        data = json.loads(body[: body.rfind("}") + 1])
    except json.JSONDecodeError as e:
        data = salvage_json(body) if truncated else None
        if data is None:
            cut = " (the reply was cut off at max_tokens: be more concise)" if truncated else ""
            raise ParseError(f"invalid JSON: {e}{cut}") from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ParseError(first_error(e)) from None


def parse_reply(response: ChatResponse, model: type[BaseModel]) -> Any:
    """parse_json on a response, salvaging what it can when it was cut off at max_tokens."""
    return parse_json(response.text, model, truncated=response.finish_reason == "length")
