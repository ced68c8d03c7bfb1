"""Evol-Instruct (WizardLM, Xu et al. 2023): seed instructions, evolved in rounds; each kept
evolution is a pair (the evolved instruction and its response). The step list, declared once.

`evolve.instructions` names the pool ('self-instruct-seeds' or a JSONL file); `evolve.share`
(default 1 here), `rounds`, `operations` and `judge` shape the evolution (glan.stages.evol).
Eliminated evolutions go to RUN/evolved/NAME.removed.jsonl with their reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glan.config import RunConfig
from glan.recipes.base import Estimate, Recipe, Step
from glan.recipes.clean import clean_step
from glan.recipes.quality import VERIFY_HELP, verified_pairs, verify_steps
from glan.recipes.report import report_step
from glan.records import Record, Task
from glan.stages.evol import EvolInstructionStage, calls_per_chain
from glan.tasks_file import load_tasks, tasks_shards

if TYPE_CHECKING:
    from glan.session import Session

REWRITE_TOKENS, JUDGE_TOKENS, RESPONSE_TOKENS = 150, 10, 600  # typical replies of a chain's calls


def evolve_share(cfg: RunConfig, default: float) -> float:
    """The share of items evolved: `evolve.share`, or the recipe's default when unset."""
    return default if cfg.evolve.share is None else cfg.evolve.share


def evolve_estimate(default_share: float, respond: bool, passes_through: bool) -> Estimate:
    """What `glan estimate` assumes of an evolve step: `share` of its inputs make a job (a chain
    of calls); it outputs every input (`passes_through`) or a pair per kept evolution (all
    kept, at most). Calls count every call of a chain: an eliminated evolution makes fewer."""
    calls = [REWRITE_TOKENS] + [JUDGE_TOKENS] + [RESPONSE_TOKENS] * respond

    def keep(cfg: RunConfig, n: float) -> float:
        return n if passes_through else n * evolve_share(cfg, default_share) * cfg.evolve.rounds

    return Estimate(
        jobs=lambda cfg: evolve_share(cfg, default_share),
        calls_per_job=lambda cfg: calls_per_chain(cfg.evolve, respond),
        keep=keep,
        example=(lambda cfg, r: r) if passes_through else None,
        reply=sum(calls) // len(calls),
    )


def seed_instructions(cfg: RunConfig) -> list[Record]:
    return list(load_tasks(cfg.evolve.instructions, "evolve.instructions"))


async def seed_shards(session: Session) -> list[tuple[str, list[Task]]]:
    """The pool of instructions, in shards of a thousand."""
    return tasks_shards(load_tasks(session.cfg.evolve.instructions, "evolve.instructions"))


def _evolved(cfg: RunConfig) -> EvolInstructionStage:
    model = cfg.llm_for(cfg.evolve).model
    stage = EvolInstructionStage(cfg.evolve, model, cfg.seed, evolve_share(cfg, 1.0), cfg.answers)
    stage.lineage_steps = EVOL_INSTRUCT.lineage(cfg, "evolved")
    return stage


EVOL_INSTRUCT = Recipe(
    name="evol_instruct",
    help="Evol-Instruct: instructions evolved in rounds (in depth and in breadth), each with a response.",
    steps=(
        Step(
            "seed_instructions",
            "source",
            "seed_instructions",
            apply=seed_shards,
            estimate=Estimate(records=seed_instructions),
        ),
        Step(
            "evolved",
            "map",
            "evolve",
            input="seed_instructions",
            section="evolve",
            also_reads=("answers",),  # the responses' sampling
            stage=_evolved,
            estimate=evolve_estimate(1.0, respond=True, passes_through=False),
        ),
        *verify_steps("evolved"),
        clean_step(verified_pairs("evolved")),
        report_step(verified_pairs("evolved")),
    ),
    pairs="evolved",
    commands_help={
        "seed_instructions": "Write RUN/seed_instructions/ from evolve.instructions (evol_instruct).",
        "evolve": (
            "Evolve instructions in rounds (Evol-Instruct): GLAN's questions (with evolve.share), "
            "or evol_instruct's seed instructions; eliminated ones go to NAME.removed.jsonl."
        ),
        "verify": VERIFY_HELP,
    },
)
