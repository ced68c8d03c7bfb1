"""Quality control as steps any recipe can include, each on by a setting:

- `critiqued_questions` (`critique.enabled`): a judge call per question; failed questions are
  not answered (GLAN, whose questions know their discipline, subject and concepts);
- `executed` (`code` in `verify.methods`): the Python programs the pairs show, run in the
  sandbox (no LLM call), their shown output checked;
- `verified` (`self_consistency` or `double_critic` in `verify.methods`): the LLM's verdicts.

Each step's verdict travels with the pair (`meta.critique`, `meta.verify`); what fails goes to
the step's removed file with its reason, or stays flagged (`verify.on_fail: flag`) for
`glan clean` to filter by its thresholds.
"""

from __future__ import annotations

from collections.abc import Callable

from glan.config import RunConfig
from glan.recipes.base import Estimate, Step
from glan.records import InstructionPair, Record
from glan.stages.critique import QuestionCritiqueStage
from glan.stages.verify import VerifyStage

CRITIQUE_TOKENS, JUDGE_TOKENS = 80, 60  # typical replies: a critique's JSON, a critic's verdict

Input = str | Callable[[RunConfig], str]


def critiquing(cfg: RunConfig) -> bool:
    return cfg.critique.enabled


def executing(cfg: RunConfig) -> bool:
    return "code" in cfg.verify.methods


def verifying(cfg: RunConfig) -> bool:
    return any(m != "code" for m in cfg.verify.methods)


def _resolve(source: Input, cfg: RunConfig) -> str:
    return source(cfg) if callable(source) else source


def after_critique(questions: Input) -> Callable[[RunConfig], str]:
    """The step whose questions get answered: the critiqued ones when the critique is on."""
    return lambda cfg: "critiqued_questions" if critiquing(cfg) else _resolve(questions, cfg)


def verified_pairs(pairs: str) -> Callable[[RunConfig], str]:
    """The step whose records are the run's final pairs (what `clean` reads)."""

    def last(cfg: RunConfig) -> str:
        if verifying(cfg):
            return "verified"
        return "executed" if executing(cfg) else pairs

    return last


def critique_step(questions: Input) -> Step:
    def stage(cfg: RunConfig) -> QuestionCritiqueStage:
        return QuestionCritiqueStage(cfg.critique, cfg.llm_for(cfg.critique).model, cfg.seed)

    return Step(
        "critiqued_questions",
        "map",
        "critique",
        input=questions,
        section="critique",
        stage=stage,
        when=critiquing,
        estimate=Estimate(example=lambda cfg, r: r, reply=CRITIQUE_TOKENS),
    )


def _executed(cfg: RunConfig, pairs: list[InstructionPair]) -> list[Record]:
    from glan.verify.execute import executed  # the sandbox: imported when a run uses it

    return list(executed(cfg, pairs))


def _sandbox(cfg: RunConfig) -> None:
    from glan.verify.execute import check_sandbox

    check_sandbox(cfg)


def _verify_stage(cfg: RunConfig) -> VerifyStage:
    return VerifyStage(cfg.verify, cfg.llm_for(cfg.verify).model, cfg.seed)


def verify_steps(pairs: str) -> tuple[Step, Step]:
    """The code check, then the LLM's verification, of the pairs of step `pairs`."""
    return (
        Step(
            "executed",
            "reduce",
            "verify",
            input=pairs,
            section="verify",
            reduce=_executed,
            reads=InstructionPair,
            when=executing,
            preflight=_sandbox,
        ),
        Step(
            "verified",
            "map",
            "verify",
            input=lambda cfg: "executed" if executing(cfg) else pairs,
            section="verify",
            stage=_verify_stage,
            when=verifying,
            # every pair is asked about (its method's calls); one record each, at most
            estimate=Estimate(keep=lambda cfg, n: n, example=lambda cfg, r: r, reply=JUDGE_TOKENS),
        ),
    )


VERIFY_HELP = (
    "Verify the pairs (verify.methods): run the programs they show in a sandbox, then "
    "self-consistency or a double critic; failed pairs go to NAME.removed.jsonl, or are flagged."
)
CRITIQUE_HELP = "Judge each question before it is answered (critique.enabled); failed ones are not answered."
