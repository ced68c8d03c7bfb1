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


class InstructionPair(Lineage):
    """The product: one instruction-response pair with its full lineage."""

    question_id: str
    instruction: str
    response: str
    finish_reason: str | None = None
    subject: str
    level: str
    difficulty: Difficulty
    sessions: list[int]
    concepts: list[str]
    question_model: str
    question_sampling: dict[str, Any]
    answer_model: str
    answer_sampling: dict[str, Any]


class Failure(BaseModel):
    """A request that never produced a valid record: kept with its raw text, never dropped.
    `request_key` is the key of the job's first request; `attempt` the rerun attempt that
    failed (0: asked on a first run), from which a rerun asks the next (glan.runner)."""

    stage: str
    input_id: str
    request_key: str | None = None
    error: str
    raw: str | None = None
    attempt: int = 0
