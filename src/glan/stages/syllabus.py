"""A syllabus per subject: introduction, objectives and class sessions with key concepts."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from glan.config import SyllabusConfig
from glan.errors import ParseError
from glan.llm.base import ChatRequest, ChatResponse
from glan.records import ClassSession, Record, Subject, Syllabus, lineage_id
from glan.stages.base import Job, SeededStage, bounded, parse_reply, seed_for, strict_schema

PROMPT = (
    "You are an expert teacher of {discipline}. Design the syllabus of a course on "
    '"{subject}" at the {level} level.{subtopics}\n\n'
    "Write a short introduction, the learning objectives, and {lo} to {hi} class sessions in "
    "teaching order. Each session has a title, a description of what is taught, and the key "
    "concepts a student must learn in it (about 5 short noun phrases)."
)


class SessionDraft(BaseModel):
    title: str = Field(min_length=1)
    description: str
    key_concepts: list[str] = Field(min_length=1)


class SyllabusDraft(BaseModel):
    introduction: str
    objectives: list[str]
    sessions: list[SessionDraft]


def syllabus_schema(lo: int, hi: int) -> dict:
    schema = strict_schema(SyllabusDraft)
    schema["properties"]["sessions"].update(minItems=lo, maxItems=hi)
    return bounded(schema, items=12, chars=1500)


class SyllabusStage(SeededStage):
    name = "syllabi"
    input = Subject
    output = Syllabus

    def __init__(self, cfg: SyllabusConfig, model: str, seed: int) -> None:
        super().__init__(cfg, model, seed)
        self.schema = syllabus_schema(cfg.min_sessions, cfg.max_sessions)

    def jobs(self, item: Subject) -> Iterable[Job]:
        subtopics = f" It covers: {', '.join(item.subtopics)}." if item.subtopics else ""
        prompt = PROMPT.format(
            discipline=item.discipline,
            subject=item.subject,
            level=item.level,
            subtopics=subtopics,
            lo=self.cfg.min_sessions,
            hi=self.cfg.max_sessions,
        )
        yield Job(
            item,
            ChatRequest(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                seed=seed_for(self.seed, item.id),
                response_schema=self.schema,
                schema_name="syllabus",
                **self.cfg.sampling(),
            ),
        )

    def parse(self, job: Job, response: ChatResponse) -> list[Record]:
        draft = parse_reply(response, SyllabusDraft)
        sessions = []
        for s in draft.sessions:
            concepts = list(dict.fromkeys(c.strip() for c in s.key_concepts if c.strip()))
            if concepts:
                sessions.append((s, concepts))
        lo, hi = self.cfg.min_sessions, self.cfg.max_sessions
        if not lo <= len(sessions) <= hi:
            raise ParseError(
                f"the syllabus has {len(sessions)} class sessions with key concepts; it needs {lo} to {hi}"
            )
        item: Subject = job.item
        return [
            Syllabus(
                id=lineage_id("syllabus", item.id, self.seed),
                **item.lineage(),
                subject=item.subject,
                level=item.level,
                subtopics=item.subtopics,
                introduction=draft.introduction.strip(),
                objectives=[o.strip() for o in draft.objectives if o.strip()],
                sessions=[
                    ClassSession(
                        number=i,
                        title=s.title.strip(),
                        description=s.description.strip(),
                        key_concepts=c,
                    )
                    for i, (s, c) in enumerate(sessions, 1)
                ],
                model=self.model,
            )
        ]


def render_syllabus(s: Syllabus) -> str:
    """The syllabus as plain text, as question prompts carry it."""
    lines = [f"Course: {s.subject} ({s.level})", "", "Introduction:", s.introduction, ""]
    if s.objectives:
        lines += ["Objectives:", *(f"- {o}" for o in s.objectives), ""]
    lines.append("Class sessions:")
    for cs in s.sessions:
        lines.append(f"Session {cs.number}: {cs.title}")
        if cs.description:
            lines.append(f"  {cs.description}")
        lines.append(f"  Key concepts: {'; '.join(cs.key_concepts)}")
    return "\n".join(lines)
