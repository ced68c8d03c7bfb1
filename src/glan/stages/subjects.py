"""Subjects per discipline: the paper's "education expert" prompt, sampled several times.

Two ways: `two_call` (the paper's: free text, then a second call converts it to JSON) and
`json` (one call with a JSON schema). Subjects from all samples are merged per discipline.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from pydantic import BaseModel, Field

from glan.config import SubjectsConfig
from glan.errors import ParseError
from glan.llm.base import ChatRequest, ChatResponse
from glan.records import Discipline, Record, Subject, SubjectDraft, lineage_id
from glan.stages.base import Job, SeededStage, Stage, bounded, parse_reply, seed_for, strict_schema

EXPERT_PROMPT = (
    "Act as an education expert in {discipline} ({field} > {sub_field}). Design a list of "
    "subjects a student should learn to master {discipline}, from the foundations to an "
    "advanced level. Each subject is one specific course, named by its topic (not by a level "
    "or a degree). For each subject give its name, its level (for example: high school, "
    "undergraduate, graduate, professional) and its key subtopics."
)
CONVERT_PROMPT = (
    'Convert the list of subjects below into JSON: an object with a key "subjects" holding '
    'one object per subject with the keys "subject_name", "level" and "subtopics" (a list '
    "of strings). Keep every subject; do not add any.\n\n{text}"
)


class SubjectItem(BaseModel):
    subject_name: str = Field(min_length=1)
    level: str
    subtopics: list[str]


class SubjectList(BaseModel):
    subjects: list[SubjectItem] = Field(min_length=1)


SCHEMA = bounded(strict_schema(SubjectList), items=30, chars=300)


def _to_subjects(owner: Discipline | SubjectDraft, items: list[SubjectItem]) -> list[Subject]:
    out = []
    for it in items:
        name = " ".join(it.subject_name.split())
        if not name:
            continue
        out.append(
            Subject(
                id=lineage_id("subject", owner.discipline, normalize_name(name)),
                **owner.lineage(),
                subject=name,
                level=" ".join(it.level.split()) or "unspecified",
                subtopics=[s.strip() for s in it.subtopics if s.strip()],
            )
        )
    return out


def normalize_name(name: str) -> str:
    """Case, punctuation and spacing folded: 'Intro to  Physics!' == 'intro to physics'."""
    return " ".join(re.sub(r"[^\w\s]", " ", name.casefold()).split())


class _Sampled(SeededStage):
    cfg: SubjectsConfig

    @property
    def per_item(self) -> int:
        return self.cfg.samples

    def _expert_request(self, d: Discipline, sample: int, schema: bool) -> ChatRequest:
        prompt = EXPERT_PROMPT.format(discipline=d.discipline, field=d.field, sub_field=d.sub_field)
        return ChatRequest(
            model=self.model,
            messages=[{"role": "user", "content": prompt}],
            seed=seed_for(self.seed, d.id, sample),
            response_schema=SCHEMA if schema else None,
            schema_name="subjects" if schema else "response",
            **self.cfg.sampling(),
        )


class SubjectsJsonStage(_Sampled):
    """One JSON-schema call per sample."""

    name = "subject_samples"
    input = Discipline
    output = Subject

    def jobs(self, item: Discipline) -> Iterable[Job]:
        for s in range(self.cfg.samples):
            yield Job(item, self._expert_request(item, s, schema=True))

    def parse(self, job: Job, response: ChatResponse) -> list[Record]:
        return list(_to_subjects(job.item, parse_reply(response, SubjectList).subjects))


class SubjectDraftStage(_Sampled):
    """The paper's first call: a free-text subject list per sample."""

    name = "subject_drafts"
    input = Discipline
    output = SubjectDraft

    def jobs(self, item: Discipline) -> Iterable[Job]:
        for s in range(self.cfg.samples):
            yield Job(item, self._expert_request(item, s, schema=False), {"sample": s})

    def parse(self, job: Job, response: ChatResponse) -> list[Record]:
        if len(response.text.strip()) < 20:
            raise ParseError("the reply is empty; list the subjects")
        d: Discipline = job.item
        return [
            SubjectDraft(
                id=lineage_id("draft", d.id, self.seed, job.context["sample"]),
                **d.lineage(),
                sample=job.context["sample"],
                text=response.text,
                model=self.model,
            )
        ]


class SubjectConvertStage(Stage):
    """The paper's second call: convert a free-text draft into validated subjects."""

    name = "subject_samples"
    input = SubjectDraft
    output = Subject

    def __init__(self, cfg: SubjectsConfig, model: str) -> None:
        self.cfg, self.model = cfg, model

    def jobs(self, item: SubjectDraft) -> Iterable[Job]:
        yield Job(
            item,
            ChatRequest(
                model=self.model,
                messages=[{"role": "user", "content": CONVERT_PROMPT.format(text=item.text)}],
                temperature=0.0,
                top_p=1.0,
                max_tokens=self.cfg.max_tokens,
                seed=0,
                response_schema=SCHEMA,
                schema_name="subjects",
            ),
        )

    def parse(self, job: Job, response: ChatResponse) -> list[Record]:
        return list(_to_subjects(job.item, parse_reply(response, SubjectList).subjects))


def merge_subjects(subjects: Iterable[Subject], max_per_discipline: int | None) -> Iterator[Subject]:
    """Merge samples per discipline: first occurrence of each normalised name wins, subtopics
    of later duplicates are added; at most `max_per_discipline` per discipline, in order."""
    merged: dict[str, dict[str, Subject]] = {}
    for s in subjects:
        seen = merged.setdefault(s.discipline, {})
        if s.id in seen:
            have = seen[s.id]
            have.subtopics.extend(t for t in s.subtopics if t not in have.subtopics)
        elif max_per_discipline is None or len(seen) < max_per_discipline:
            seen[s.id] = s.model_copy(deep=True)
    for per_discipline in merged.values():
        yield from per_discipline.values()
