"""A deterministic fake LLM: schema-valid replies per stage, derived from the request."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from glan.errors import TransientBackendError
from glan.llm.base import ChatRequest, ChatResponse


def _h(*parts: Any) -> int:
    return int(hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:8], 16)


def fake_reply(body: dict[str, Any]) -> str:
    """The reply text for an OpenAI chat-completions body (what a fake server returns)."""
    fmt = (body.get("response_format") or {}).get("json_schema") or {}
    name = fmt.get("name")
    schema = fmt.get("schema") or {}
    last = body["messages"][-1]["content"]
    h = _h(body["messages"], body.get("seed"))
    if name == "subjects":
        n = 2 + h % 3
        return json.dumps(
            {
                "subjects": [
                    {
                        "subject_name": f"Subject {(h + i) % 7}",
                        "level": "undergraduate",
                        "subtopics": [f"topic {i}.{j}" for j in range(3)],
                    }
                    for i in range(n)
                ]
            }
        )
    if name == "syllabus":
        lo = schema["properties"]["sessions"].get("minItems", 3)
        return json.dumps(
            {
                "introduction": f"An introduction ({h % 100}).",
                "objectives": ["understand things", "apply things"],
                "sessions": [
                    {
                        "title": f"Session title {i}",
                        "description": f"About part {i}.",
                        "key_concepts": [f"concept {i}.{j}" for j in range(1 + (h + i) % 6)],
                    }
                    for i in range(lo)
                ],
            }
        )
    if name == "question":
        return json.dumps({"question": f"Explain the following, question {h}: {last[-80:]}"})
    if name == "instructions":  # Self-Instruct: new tasks, varied so that few are near-duplicates
        n = schema.get("properties", {}).get("instructions", {}).get("maxItems", 4)
        return json.dumps({"instructions": [_task_text(h, i) for i in range(n)]})
    if name == "task_type":
        return json.dumps({"is_classification": h % 3 == 0})
    if name == "instances":
        pairs = [{"input": f"input {h % 89} {i}", "output": f"output {h % 97} {i}"} for i in range(2)]
        return json.dumps({"instances": pairs})
    if name == "evolved":  # Evol-Instruct: the rewritten instruction, a little longer
        return json.dumps({"instruction": f"{_task_text(h, 0)} Also justify each step ({h % 1000})."})
    if name == "judge":  # Evol-Instruct's elimination rule 1: every fourth evolution adds nothing
        return json.dumps({"verdict": "equal" if h % 4 == 0 else "not_equal"})
    if name == "critique":  # the question critique: every fifth question gives away its answer
        return json.dumps({"self_contained": True, "answerable": True, "on_topic": True,
                           "answer_free": h % 5 != 0, "difficulty_fits": True, "reason": "ok"})  # fmt: skip
    if name == "judgment":  # the critics: "yes" or "no" by hash
        return json.dumps({"verdict": "yes" if h % 3 else "no", "reason": "checked"})
    if name == "names":
        return json.dumps({"items": [f"Node {h % 97} {i}" for i in range(2)]})
    if "Act as an education expert" in last:
        return f"1. Subject {h % 7} (undergraduate): topic a, topic b\n2. Subject {(h + 1) % 7} ({h})"
    return f"Answer {h}: because of the reasons given in the question ({len(last)} chars)."


_WORDS = (  # noqa: SIM905 (a paragraph of words reads better than a list literal)
    "compare summarize classify rewrite explain list suggest translate outline estimate "
    "river budget protein poem invoice planet recipe tariff sonnet glacier algebra vaccine "
    "castle startup violin harbor desert neuron ledger comet orchard tunnel jazz parrot "
    "meadow fossil tenant rocket cactus mural quartz bakery canyon ballot lantern"
).split()


def _task_text(h: int, i: int) -> str:
    """A task of ten words drawn from `_WORDS` by hash: two such tasks rarely share much."""
    words = [_WORDS[_h(h, i, k) % len(_WORDS)] for k in range(10)]
    return f"{words[0].capitalize()} the {' '.join(words[1:])}."


class Killed(BaseException):
    """Stands for a process killed between two calls (not an Exception: nothing catches it)."""


class FakeBackend:
    """In-process fake backend; counts calls; can fail the first `fail_first` calls."""

    name = "fake"

    def __init__(self, fail_first: int = 0, break_after: int | None = None, garbage: bool = False) -> None:
        self.calls: list[ChatRequest] = []
        self.garbage = garbage
        self.fail_first = fail_first
        self.break_after = break_after

    async def chat(self, request: ChatRequest) -> ChatResponse:
        if self.break_after is not None and len(self.calls) >= self.break_after:
            raise Killed()
        self.calls.append(request)
        if len(self.calls) <= self.fail_first:
            raise TransientBackendError("HTTP 503 (fake)", retry_after=0.0)
        text = "this reply is not JSON at all, sorry" if self.garbage else fake_reply(request.openai_body())
        return ChatResponse(
            text=text,
            finish_reason="stop",
            model=request.model,
            prompt_tokens=10,
            completion_tokens=len(text) // 4,
            model_ms=1.0,
        )

    async def aclose(self) -> None:
        pass
