"""Answer verification by the LLM, the method chosen per pair (no call to choose it):

- `self_consistency` when the pair has a short final answer (its response states one, or its
  instruction asks for one): `verify.samples` new answers, each closing with 'Final answer:';
  their final answers are compared (glan.verify.final_answer), and the pair passes when the
  majority holds at least `min_agreement` of the samples and the pair's own answer is the
  majority's (or, with `replace`, its response is replaced by a majority sample's);
- `double_critic` otherwise: "is it correct and complete?" and "does it contain an error?",
  asked independently; the pair passes only when the first says yes and the second no.

A pair the `code` check already ran keeps that verdict under `meta.verify.code` and is
verified again here (a program that runs may still compute the wrong thing). A pair that fails
is a Dropped record with its reason (`on_fail: drop`) or kept with `meta.verify.passed` false
(`flag`). A pair with a job that failed makes no record this run (the failure is recorded and
asked again on the next, like every step's).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Literal

from glan.llm.base import ChatRequest, ChatResponse
from glan.quality_config import VerifyConfig
from glan.records import Dropped, InstructionPair, Record, lineage_id
from glan.stages import quality_prompts as p
from glan.stages.base import Job, SeededStage, parse_reply, seed_for
from glan.verify.final_answer import asks_short_answer, final_answer, majority, same_answer

JUDGE_MAX_TOKENS = 400


class Vote(Record):
    """One call's contribution to a pair's verdict (never written: `combine` folds them)."""

    kind: Literal["sample", "correct", "error"]
    index: int = 0
    text: str = ""
    verdict: str | None = None
    reason: str = ""
    finish_reason: str | None = None


def task_text(pair: InstructionPair) -> str:
    """The instruction as the pair's answerer saw it (with its Alpaca-style input)."""
    return f"{pair.instruction}\n\n{pair.input}" if pair.input else pair.instruction


class VerifyStage(SeededStage):
    name = "verified"
    input = InstructionPair
    output = InstructionPair
    version: ClassVar[int] = 1

    cfg: VerifyConfig

    @property
    def per_item(self) -> int:
        return self.cfg.samples if "self_consistency" in self.cfg.methods else 2

    def method_for(self, pair: InstructionPair) -> str | None:
        """The first of `verify.methods` that applies to the pair (`code` ran in its own step)."""
        for m in self.cfg.methods:
            if m == "self_consistency" and (
                final_answer(pair.response) is not None or asks_short_answer(pair.instruction)
            ):
                return m
            if m == "double_critic":
                return m
        return None

    def _request(self, prompt: str, seed: int, judge: bool) -> ChatRequest:
        if judge:
            sampling: dict[str, Any] = {
                "temperature": self.cfg.judge_temperature,
                "top_p": 1.0,
                "max_tokens": min(self.cfg.max_tokens, JUDGE_MAX_TOKENS),
                "response_schema": p.JUDGMENT_SCHEMA,
                "schema_name": "judgment",
            }
        else:
            sampling = self.cfg.sampling()
        return ChatRequest(
            model=self.model, messages=[{"role": "user", "content": prompt}], seed=seed, **sampling
        )

    def jobs(self, item: InstructionPair) -> Iterable[Job]:
        method = self.method_for(item)
        task = task_text(item)
        if method == "self_consistency":
            for i in range(self.cfg.samples):
                # seeded by the task, not the pair: pairs of one task share their samples
                seed = seed_for(self.seed, "self_consistency", task, i)
                yield Job(
                    item, self._request(task + p.FINAL_LINE, seed, judge=False), {"kind": "sample", "i": i}
                )
        elif method == "double_critic":
            for kind, template in (("correct", p.CORRECT), ("error", p.ERROR)):
                prompt = template.format(instruction=task, response=item.response)
                yield Job(
                    item,
                    self._request(prompt, seed_for(self.seed, item.id, kind), judge=True),
                    {"kind": kind},
                )

    def parse(self, job: Job, response: ChatResponse) -> list[Record]:
        kind, item = job.context["kind"], job.item
        vote_id = lineage_id("vote", item.id, kind, job.context.get("i", 0))
        if kind == "sample":
            return [
                Vote(
                    id=vote_id,
                    kind="sample",
                    index=job.context["i"],
                    text=response.text.strip(),
                    finish_reason=response.finish_reason,
                )
            ]
        judged = parse_reply(response, p.Judgment)
        return [Vote(id=vote_id, kind=kind, verdict=judged.verdict, reason=judged.reason.strip())]

    def combine(self, item: InstructionPair, records: list[Record]) -> Iterator[Record]:
        votes = [r for r in records if isinstance(r, Vote)]
        method = self.method_for(item)
        if method is None:
            yield item
            return
        if len(votes) < (self.cfg.samples if method == "self_consistency" else 2):
            return  # a job failed: recorded, asked again by the next run
        if method == "self_consistency":
            verdict, chosen = self._consistency(item, votes)
        else:
            verdict, chosen = self._critics(votes), None
        yield from self._out(item, verdict, chosen)

    def _consistency(self, item: InstructionPair, votes: list[Vote]) -> tuple[dict[str, Any], Vote | None]:
        """The verdict, and the majority sample that replaces the pair's response (if any)."""
        answers = [final_answer(v.text) for v in votes]
        top, count, _ = majority(answers)
        own = final_answer(item.response)
        agreement = count / len(votes)
        verdict: dict[str, Any] = {
            "method": "self_consistency",
            "agreement": round(agreement, 4),
            "samples": len(votes),
            "answer": top,
            "own_answer": own,
        }
        if top is None or agreement < self.cfg.min_agreement:
            return {**verdict, "passed": False, "reason": "low_agreement"}, None
        if own is not None and same_answer(own, top):
            return {**verdict, "passed": True}, None
        if not self.cfg.replace:
            return {**verdict, "passed": False, "reason": "disagrees_with_majority"}, None
        chosen = next(v for v, a in zip(votes, answers, strict=True) if a is not None and same_answer(a, top))
        return {**verdict, "passed": True, "replaced": True, "sample": chosen.index}, chosen

    def _critics(self, votes: list[Vote]) -> dict[str, Any]:
        by = {v.kind: v for v in votes}
        correct, error = by["correct"], by["error"]
        passed = correct.verdict == "yes" and error.verdict == "no"
        verdict: dict[str, Any] = {
            "method": "double_critic",
            "passed": passed,
            "correct": correct.verdict,
            "has_error": error.verdict,
            "reasons": [correct.reason, error.reason],
        }
        return verdict if passed else {**verdict, "reason": "critic_rejected"}

    def _out(self, item: InstructionPair, verdict: dict[str, Any], chosen: Vote | None) -> Iterator[Record]:
        meta = dict(item.meta or {})
        earlier = meta.get("verify")
        if earlier:  # the code check's verdict (glan.verify.execute): both must hold
            verdict = {
                **verdict,
                "code": earlier,
                "passed": verdict["passed"] and bool(earlier.get("passed")),
            }
        verdict["model"] = self.model
        if not verdict["passed"] and self.cfg.on_fail == "drop":
            yield Dropped(
                id=lineage_id("dropped", self.name, item.id, self.seed),
                stage=self.name,
                input_id=item.id,
                reason=verdict.get("reason", "code_failed"),
                text=item.response,
                detail={**verdict, "discipline": item.discipline, "generated_by": item.method},
            )
            return
        update: dict[str, Any] = {"meta": {**meta, "verify": verdict}}
        if chosen is not None:  # the majority's response, the pair's own kept beside it
            verdict["replaced_response"] = item.response
            update.update(
                response=chosen.text,
                answer_model=self.model,
                answer_sampling=self.cfg.sampling(),
                finish_reason=chosen.finish_reason,
            )
        yield item.model_copy(update=update)
