"""Answers in separate calls, with their own model and sampling settings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from glan.config import AnswersConfig
from glan.errors import ParseError
from glan.llm.base import ChatRequest, ChatResponse
from glan.records import InstructionPair, Question, Record, lineage_id
from glan.stages.base import Job, SeededStage, seed_for


def _meta(q: Question) -> dict | None:
    meta = {k: v for k, v in (("evolution", q.evolution), ("critique", q.critique)) if v}
    return meta or None


class AnswerStage(SeededStage):
    name = "answers"
    input = Question
    output = InstructionPair

    cfg: AnswersConfig
    # The generic lineage of every pair it makes (glan.records.InstructionPair): the method,
    # the recipe, and the step commands whose records an answer descends from (the recipe that
    # builds the stage sets them from its declaration).
    method: ClassVar[str] = "glan"
    recipe: ClassVar[str] = "glan"
    lineage_steps: tuple[str, ...] = ()

    def jobs(self, item: Question) -> Iterable[Job]:
        messages = [{"role": "user", "content": item.question}]
        if self.cfg.system_prompt:
            messages.insert(0, {"role": "system", "content": self.cfg.system_prompt})
        yield Job(
            item,
            ChatRequest(
                model=self.model,
                messages=messages,
                seed=seed_for(self.seed, item.id, "answer"),
                **self.cfg.sampling(),
            ),
        )

    def parse(self, job: Job, response: ChatResponse) -> list[Record]:
        text = response.text.strip()
        if not text:
            raise ParseError("the answer is empty")
        q: Question = job.item
        return [
            InstructionPair(
                id=lineage_id("pair", q.id, self.seed),
                question_id=q.id,
                **q.lineage(),
                subject=q.subject,
                level=q.level,
                difficulty=q.difficulty,
                sessions=q.sessions,
                concepts=q.concepts,
                instruction=q.question,
                response=text,
                finish_reason=response.finish_reason,
                question_model=q.model,
                question_sampling=q.sampling,
                answer_model=self.model,
                answer_sampling=self.cfg.sampling(),
                method=self.method,
                recipe=self.recipe,
                steps=list(self.lineage_steps),
                # an evolved question's operations and earlier texts (Evol-Instruct on GLAN), and
                # the question critique's verdict
                meta=_meta(q),
            )
        ]
