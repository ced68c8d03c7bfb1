"""Homework questions per syllabus. The prompt carries the whole syllabus first (a prefix
shared by every question of the syllabus) and the sampled sessions and concepts last."""

from __future__ import annotations

import random
from collections.abc import Iterable

from pydantic import BaseModel, Field

from glan.config import QuestionsConfig
from glan.errors import ParseError
from glan.llm.base import ChatRequest, ChatResponse
from glan.records import Question, Record, Syllabus, lineage_id
from glan.stages.base import Job, SeededStage, parse_reply, seed_for, strict_schema
from glan.stages.sampler import ConceptSample, sample_concepts
from glan.stages.syllabus import render_syllabus

SYSTEM = (
    "You are an expert teacher of {discipline} who writes homework questions for the course "
    "below.\n\n{syllabus}"
)
BASIC = (
    "The student has learned up to class session {last}. Write one basic homework question "
    "about session {sessions} that tests these key concepts: {concepts}."
)
CHALLENGING = (
    "The student has learned up to class session {last}. Write one challenging homework "
    "question that combines these key concepts from sessions {sessions}: {concepts}. The "
    "question must require connecting ideas from both sessions."
)
TAIL = (
    " The question must be self-contained (do not mention the course, the sessions or 'the "
    'student\'), and must not include its answer. Reply with JSON: {{"question": "..."}}.'
)


class QuestionDraft(BaseModel):
    question: str = Field(min_length=1)


SCHEMA = strict_schema(QuestionDraft)


def question_prompt(sample: ConceptSample) -> str:
    concepts = "; ".join(c for _, c in sample.concepts)
    sessions = " and ".join(str(n) for n in sample.sessions)
    template = BASIC if sample.difficulty == "basic" else CHALLENGING
    body = template.format(last=max(sample.sessions), sessions=sessions, concepts=concepts)
    return body + TAIL


class QuestionStage(SeededStage):
    name = "questions"
    input = Syllabus
    output = Question

    cfg: QuestionsConfig

    @property
    def per_item(self) -> int:
        return self.cfg.per_syllabus

    def jobs(self, item: Syllabus) -> Iterable[Job]:
        system = SYSTEM.format(discipline=item.discipline, syllabus=render_syllabus(item))
        for i in range(self.cfg.per_syllabus):
            rng = random.Random(seed_for(self.seed, item.id, i, "sample"))
            sample = sample_concepts(item, self.cfg.challenging_share, rng)
            request = ChatRequest(
                model=self.model,
                messages=[
                    {"role": "system", "content": system},
                    {"role": "user", "content": question_prompt(sample)},
                ],
                seed=seed_for(self.seed, item.id, i),
                response_schema=SCHEMA,
                schema_name="question",
                **self.cfg.sampling(),
            )
            yield Job(item, request, {"index": i, "sample": sample})

    def parse(self, job: Job, response: ChatResponse) -> list[Record]:
        text = " ".join(parse_reply(response, QuestionDraft).question.split())
        if len(text) < 10:
            raise ParseError("the question is too short to be a homework question")
        item: Syllabus = job.item
        sample: ConceptSample = job.context["sample"]
        return [
            Question(
                id=lineage_id("question", item.id, self.seed, job.context["index"]),
                **item.lineage(),
                syllabus_id=item.id,
                subject=item.subject,
                level=item.level,
                index=job.context["index"],
                difficulty=sample.difficulty,
                sessions=list(sample.sessions),
                concepts=[c for _, c in sample.concepts],
                question=text,
                model=self.model,
                sampling=self.cfg.sampling(),
            )
        ]
