"""What flows through the pipeline: pydantic records whose ids derive from their lineage."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def lineage_id(*parts: object) -> str:
    """A stable 16-hex id from the lineage parts (same lineage, same id, on every run)."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str


class Lineage(Record):
    """Fields every record below a discipline carries, so each one reads on its own."""

    field: str
    sub_field: str
    discipline: str

    def lineage(self) -> dict[str, str]:
        """field / sub_field / discipline, to pass on to the records made from this one."""
        return {"field": self.field, "sub_field": self.sub_field, "discipline": self.discipline}


class Discipline(Lineage):
    pass


class SubjectDraft(Lineage):
    """Free-text subject list (the paper's first call); converted to Subjects next."""

    sample: int
    text: str
    model: str


class Subject(Lineage):
    subject: str
    level: str
    subtopics: list[str] = Field(default_factory=list)


class ClassSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int
    title: str
    description: str
    key_concepts: list[str]


class Syllabus(Lineage):
    subject: str
    level: str
    subtopics: list[str] = Field(default_factory=list)
    introduction: str
    objectives: list[str]
    sessions: list[ClassSession]
    model: str


Difficulty = Literal["basic", "challenging"]


def _unset() -> Any:
    """An optional field that a record without it leaves out of its line (no `null`)."""
    return Field(default=None, exclude_if=lambda v: v is None)


class Question(Lineage):
    syllabus_id: str
    subject: str
    level: str
    index: int
    difficulty: Difficulty
    sessions: list[int]
    concepts: list[str]
    question: str
    model: str
    sampling: dict[str, Any]
    # the evolutions applied (Evol-Instruct on GLAN's questions): {operation, round, from}
    evolution: list[dict[str, Any]] | None = _unset()
    # the question critique's verdict (glan.stages.critique): {passed, checks, reason, model}
    critique: dict[str, Any] | None = _unset()


class Turn(BaseModel):
    """One turn of a conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class InstructionPair(Record):
    """The product: one instruction-response pair, or a conversation, with its lineage.

    Every method fills the generic part: `instruction` / `response` (for a conversation, its
    last user and assistant turns), `method`, `recipe`, `steps` (the steps that made it, in
    order) and, for a conversation of several turns, `messages`. The rest is GLAN's own
    lineage, optional because other methods have none (a Self-Instruct pair has no syllabus).
    Fields keep their order of old (new ones last), so files stay comparable line by line.
    """

    field: str | None = _unset()
    sub_field: str | None = _unset()
    discipline: str | None = _unset()
    question_id: str | None = _unset()
    instruction: str
    response: str
    finish_reason: str | None = None
    subject: str | None = _unset()
    level: str | None = _unset()
    difficulty: Difficulty | None = _unset()
    sessions: list[int] | None = _unset()
    concepts: list[str] | None = _unset()
    question_model: str | None = _unset()
    question_sampling: dict[str, Any] | None = _unset()
    answer_model: str | None = _unset()
    answer_sampling: dict[str, Any] | None = _unset()
    method: str | None = None
    recipe: str | None = None
    steps: list[str] = Field(default_factory=list)
    messages: list[Turn] | None = _unset()
    input: str | None = _unset()  # an Alpaca-style input of the instruction (Self-Instruct)
    meta: dict[str, Any] | None = _unset()  # the method's own lineage (round, operation, ...)


class Task(Record):
    """An instruction of Self-Instruct or Evol-Instruct, with its instances when it has any:
    a seed task (origin `human`), or one the bootstrap loop generated (origin `machine`)."""

    instruction: str
    instances: list[dict[str, str]] = Field(default_factory=list)  # [{input, output}]
    is_classification: bool | None = None
    origin: Literal["human", "machine"] = "human"
    round: int | None = _unset()
    prompt: str | None = _unset()  # the id of the prompt that generated it


class Dropped(Record):
    """Something a generation step made and then dropped, with its named reason: written to
    the step's `NAME.removed.jsonl` beside its records, never silently lost."""

    stage: str
    input_id: str
    reason: str
    text: str
    detail: dict[str, Any] | None = _unset()


class Failure(BaseModel):
    """A request that never produced a valid record: kept with its raw text, never dropped.
    `request_key` is the key of the job's first request; `attempt` the rerun attempt that
    failed (0: asked on a first run), from which a rerun asks the next (glan.exec.jobs)."""

    stage: str
    input_id: str
    request_key: str | None = None
    error: str
    raw: str | None = None
    attempt: int = 0
