"""Evol-Instruct (WizardLM, Xu et al. 2023) as a stage: one job per chosen item, a chain of
follow-up calls, round after round.

Each round picks an operation (uniformly among `evolve.operations`, from a Random seeded by
the run seed, the item and the round) and asks the rewrite. The rewrite is eliminated when it
copies words of the rewriting prompt (rule 4) or repeats the text, both checked without a call;
then, with `evolve.judge`, when a judge call finds it equal to the text it came from (rule 1:
no information gain); then, where the stage asks for a response, when that response says
"sorry" in under 80 words (rule 2) or holds only stop words and punctuation (rule 3). An
eliminated evolution is a Dropped record (its reason, operation and round), and the item goes
back to the pool: the next round evolves the text it had before.

Items are chosen by `share` (a hash of the run seed and the item id); the others make no call.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from glan.config import AnswersConfig
from glan.errors import ParseError
from glan.llm.base import ChatRequest, ChatResponse
from glan.method_config import EvolOperation, EvolveConfig
from glan.records import Dropped, InstructionPair, Question, Record, Task, lineage_id
from glan.stages import evol_prompts as p
from glan.stages.base import FollowUp, Job, Stage, parse_reply, seed_for


def chosen(seed: int, item_id: str, share: float) -> bool:
    """Whether the item is evolved: the same answer on every run, `share` of the items."""
    return int(lineage_id("evolve", seed, item_id), 16) < share * 16**16


def calls_per_chain(cfg: EvolveConfig, respond: bool) -> int:
    """The calls of one item's chain at most (an eliminated evolution makes fewer)."""
    return cfg.rounds * (1 + int(cfg.judge) + int(respond))


class EvolStage(Stage):
    """The evolution chain over an item's text; subclasses say what an item's text is, what a
    kept evolution makes, and what the item becomes at the end."""

    version: ClassVar[int] = 1
    respond: ClassVar[bool] = False  # ask a response to each evolution (rules 2 and 3)

    def __init__(self, cfg: EvolveConfig, model: str, seed: int, share: float) -> None:
        self.cfg, self.model, self.seed, self.share = cfg, model, seed, share

    def text_of(self, item: Any) -> str:
        raise NotImplementedError

    def kept(self, item: Any, ctx: dict[str, Any], text: str, response: ChatResponse | None) -> list[Record]:
        """The records of an evolution that passed every rule (`ctx`: its operation, round, parent)."""
        return []

    def finish(self, item: Any, text: str, history: list[dict[str, Any]]) -> list[Record]:
        """The records the item makes once its rounds are done."""
        return []

    def jobs(self, item: Any) -> Iterable[Job]:
        if chosen(self.seed, item.id, self.share):
            yield from self.example_jobs(item)

    def example_jobs(self, item: Any) -> Iterable[Job]:
        text = self.text_of(item)
        yield Job(item, *self._round(item, text, 1, {"history": [], "out": []}))

    def operation(self, item_id: str, round_: int) -> EvolOperation:
        """Uniform among the operations (as WizardLM), the same for an item and round on every run."""
        return random.Random(seed_for(self.seed, item_id, round_)).choice(self.cfg.operations)

    def _round(self, item: Any, text: str, round_: int, state: dict[str, Any]) -> tuple[ChatRequest, dict]:
        """The rewrite request of round `round_` and the chain's context from there on."""
        op = self.operation(item.id, round_)
        request = self._ask(
            p.rewrite_prompt(op, text),
            seed_for(self.seed, item.id, round_, "rewrite"),
            schema=(p.EVOLVED_SCHEMA, "evolved"),
        )
        return request, {**state, "phase": "rewrite", "round": round_, "operation": op, "text": text}

    def _ask(
        self, prompt: str, seed: int, schema: tuple[dict, str] | None = None, sampling: Any = None
    ) -> ChatRequest:
        extra = {"response_schema": schema[0], "schema_name": schema[1]} if schema else {}
        return ChatRequest(
            model=self.model,
            messages=[{"role": "user", "content": prompt}],
            seed=seed,
            **(sampling or self.cfg).sampling(),
            **extra,
        )

    def parse(self, job: Job, response: ChatResponse) -> list[Record] | FollowUp:
        ctx = job.context
        if ctx["phase"] == "rewrite":
            candidate = parse_reply(response, p.Evolved).instruction.strip()
            if not candidate:
                raise ParseError("the rewritten instruction is empty")
            if p.copies_prompt_words(candidate):
                return self._eliminated(job, candidate, "copied_prompt_words")
            if " ".join(candidate.split()) == " ".join(ctx["text"].split()):
                return self._eliminated(job, candidate, "no_information_gain")
            if self.cfg.judge:
                request = self._ask(
                    p.judge_prompt(ctx["text"], candidate),
                    seed_for(self.seed, job.item.id, ctx["round"], "judge"),
                    schema=(p.JUDGE_SCHEMA, "judge"),
                )
                return FollowUp(request, {"phase": "judge", "candidate": candidate})
            return self._judged(job, candidate)
        if ctx["phase"] == "judge":
            if parse_reply(response, p.Verdict).verdict == "equal":
                return self._eliminated(job, ctx["candidate"], "no_information_gain")
            return self._judged(job, ctx["candidate"])
        answer = response.text.strip()  # phase "response"
        reason = p.response_problem(answer)
        if reason is not None:
            return self._eliminated(job, ctx["candidate"], reason, response=answer)
        return self._keep(job, ctx["candidate"], response)

    def response_request(self, job: Job, candidate: str) -> ChatRequest:
        raise NotImplementedError

    def _judged(self, job: Job, candidate: str) -> list[Record] | FollowUp:
        """An evolution that passed rules 1 and 4: its response next, or kept."""
        if self.respond:
            request = self.response_request(job, candidate)
            return FollowUp(request, {"phase": "response", "candidate": candidate})
        return self._keep(job, candidate, None)

    def _keep(self, job: Job, candidate: str, response: ChatResponse | None) -> list[Record] | FollowUp:
        ctx = job.context
        step = {"operation": ctx["operation"], "round": ctx["round"], "from": ctx["text"]}
        out = [*ctx["out"], *self.kept(job.item, ctx, candidate, response)]
        return self._next(job, candidate, {"history": [*ctx["history"], step], "out": out})

    def _eliminated(self, job: Job, candidate: str, reason: str, **detail: str) -> list[Record] | FollowUp:
        ctx, item = job.context, job.item
        dropped = Dropped(
            id=lineage_id("dropped", self.name, item.id, self.seed, ctx["round"]),
            stage=self.name,
            input_id=item.id,
            reason=reason,
            text=candidate,
            detail={"operation": ctx["operation"], "round": ctx["round"], **detail},
        )
        # the item goes back to the pool: the next round evolves the text it had
        return self._next(job, ctx["text"], {"history": ctx["history"], "out": [*ctx["out"], dropped]})

    def _next(self, job: Job, text: str, state: dict[str, Any]) -> list[Record] | FollowUp:
        round_ = job.context["round"] + 1
        if round_ > self.cfg.rounds:
            return [*state["out"], *self.finish(job.item, text, state["history"])]
        request, ctx = self._round(job.item, text, round_, state)
        return FollowUp(request, ctx)


class EvolQuestionStage(EvolStage):
    """GLAN's questions, a share of them evolved (`evolve: {share: 0.3}`): every question comes
    out, an evolved one with its new text and its `evolution` (operation, round, the text it
    came from). No response call here (the answers step answers): only rules 1 and 4 apply."""

    name = "evolved_questions"
    input = Question
    output = Question

    def text_of(self, item: Question) -> str:
        return item.question

    def finish(self, item: Question, text: str, history: list[dict[str, Any]]) -> list[Record]:
        if not history:  # every evolution eliminated: the question as it was
            return [item]
        return [item.model_copy(update={"question": text, "evolution": [*(item.evolution or []), *history]})]

    def combine(self, item: Question, records: list[Record]) -> Iterator[Record]:
        yield from records
        if not any(isinstance(r, Question) for r in records):  # not chosen, or its job failed
            yield item


class EvolInstructionStage(EvolStage):
    """The evol_instruct recipe's instructions (a task's text: its instruction, and its first
    instance's input when it has one). Each kept evolution is a pair: the evolved instruction and
    the response asked of it, with the `answers` section's sampling (and system prompt). The
    response goes through the step's client, so the model is the `evolve` section's llm (an
    `answers.llm` is not used here)."""

    name = "evolved"
    input = Task
    output = InstructionPair
    respond = True
    method: ClassVar[str] = "evol_instruct"
    recipe: ClassVar[str] = "evol_instruct"

    def __init__(
        self, cfg: EvolveConfig, model: str, seed: int, share: float, answers: AnswersConfig
    ) -> None:
        super().__init__(cfg, model, seed, share)
        self.answers = answers
        self.lineage_steps: tuple[str, ...] = ()

    def text_of(self, item: Task) -> str:
        given = item.instances[0].get("input", "").strip() if item.instances else ""
        return f"{item.instruction}\n\n{given}" if given else item.instruction

    def response_request(self, job: Job, candidate: str) -> ChatRequest:
        seed = seed_for(self.seed, job.item.id, job.context["round"], "response")
        request = self._ask(candidate, seed, sampling=self.answers)
        if not self.answers.system_prompt:
            return request
        system = {"role": "system", "content": self.answers.system_prompt}
        return request.model_copy(update={"messages": [system, *request.messages]})

    def kept(self, item: Task, ctx: dict[str, Any], text: str, response: ChatResponse | None) -> list[Record]:
        assert response is not None
        return [
            InstructionPair(
                id=lineage_id("evolved", item.id, self.seed, ctx["round"]),
                instruction=text,
                response=response.text.strip(),
                finish_reason=response.finish_reason,
                answer_model=self.model,
                answer_sampling=self.answers.sampling(),
                method=self.method,
                recipe=self.recipe,
                steps=list(self.lineage_steps),
                meta={
                    "original_id": item.id,
                    "operation": ctx["operation"],
                    "round": ctx["round"],
                    "parent": ctx["text"],
                },
            )
        ]
