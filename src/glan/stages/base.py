"""The shape of every LLM stage: jobs(item) builds requests, parse(job, response) validates.

A stage never talks to a backend or to disk; the runner does (cache, retries, re-asks,
writing). `combine` merges the records of one input item's jobs (default: concatenate).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from glan.errors import ParseError
from glan.llm.base import ChatRequest, ChatResponse
from glan.records import Record, lineage_id


@dataclass(frozen=True)
class Job:
    """One request for one input item; `context` carries what parse needs besides the item."""

    item: Any
    request: ChatRequest
    context: dict[str, Any] = field(default_factory=dict)


class Stage:
    name: ClassVar[str]
    output: ClassVar[type[Record]]

    def jobs(self, item: Any) -> Iterable[Job]:
        raise NotImplementedError

    def parse(self, job: Job, response: ChatResponse) -> list[Record]:
        raise NotImplementedError

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

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object":
                node.setdefault("additionalProperties", False)
            for v in node.values():
                close(v)
        elif isinstance(node, list):
            for v in node:
                close(v)

    close(schema)
    return schema


def parse_json(text: str, model: type[BaseModel]) -> Any:
    """Validate a JSON reply (tolerating ```json fences) or raise ParseError with the reason."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise ParseError("the reply holds no JSON object")
    try:
        return model.model_validate(json.loads(body[start : end + 1]))
    except json.JSONDecodeError as e:
        raise ParseError(f"invalid JSON: {e}") from None
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "(root)"
        raise ParseError(f"{loc}: {first['msg']}") from None
