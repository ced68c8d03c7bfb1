"""Question critique: a judge call per question, before it is answered. A question that fails
a check is not answered: it goes to the step's removed file with the judge's reason; one that
passes goes on with its `critique` (the checks, the reason, the judge's model)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from glan.llm.base import ChatRequest, ChatResponse
from glan.quality_config import CritiqueConfig
from glan.records import Dropped, Question, Record, lineage_id
from glan.stages import quality_prompts as p
from glan.stages.base import Job, SeededStage, parse_reply, seed_for


class QuestionCritiqueStage(SeededStage):
    name = "critiqued_questions"
    input = Question
    output = Question
    version: ClassVar[int] = 1

    cfg: CritiqueConfig

    def jobs(self, item: Question) -> Iterable[Job]:
        yield Job(
            item,
            ChatRequest(
                model=self.model,
                messages=[{"role": "user", "content": p.critique_prompt(item)}],
                seed=seed_for(self.seed, item.id, "critique"),
                response_schema=p.CRITIQUE_SCHEMA,
                schema_name="critique",
                **self.cfg.sampling(),
            ),
        )

    def parse(self, job: Job, response: ChatResponse) -> list[Record]:
        verdict = parse_reply(response, p.Critique)
        q: Question = job.item
        checks = {c: bool(getattr(verdict, c)) for c in p.CHECKS}
        failed = [c for c in p.CHECKS if not checks[c]]
        critique = {
            "passed": not failed,
            "checks": checks,
            "reason": verdict.reason.strip(),
            "model": self.model,
        }
        if failed:
            return [
                Dropped(
                    id=lineage_id("dropped", self.name, q.id, self.seed),
                    stage=self.name,
                    input_id=q.id,
                    reason=f"not_{failed[0]}",
                    text=q.question,
                    detail={**critique, "discipline": q.discipline, "generated_by": "glan"},
                )
            ]
        return [q.model_copy(update={"critique": critique})]
