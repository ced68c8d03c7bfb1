"""Self-Instruct (Wang et al. 2022): seed tasks -> the bootstrap loop of new instructions ->
instances of each (a classification call, then the instances). The step list, declared once."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from glan.config import RunConfig
from glan.recipes.base import Estimate, Recipe, Step
from glan.recipes.bootstrap import bootstrap
from glan.recipes.clean import clean_step
from glan.recipes.quality import VERIFY_HELP, verified_pairs, verify_steps
from glan.recipes.report import report_step
from glan.records import Record, Task
from glan.shards import StepFolder
from glan.stages.base import Stage
from glan.stages.self_instruct import BootstrapStage, InstancesStage, build_prompts
from glan.store import RunDir
from glan.tasks_file import load_tasks, tasks_shards

if TYPE_CHECKING:
    from glan.session import Session

SETTING = "self_instruct.seed_tasks"
KEEP_SHARE = 0.5  # of the candidates a round keeps, for `glan estimate` (more as the pool grows)


def seed_records(cfg: RunConfig) -> list[Record]:
    return list(load_tasks(cfg.self_instruct.seed_tasks, SETTING))


async def seed_tasks(session: Session) -> list[tuple[str, list[Task]]]:
    """The configured seed tasks (the 175 shipped ones, or a file), in shards of 1000."""
    return tasks_shards(load_tasks(session.cfg.self_instruct.seed_tasks, SETTING))


def _model(cfg: RunConfig, section: str) -> str:
    return cfg.llm_for(getattr(cfg, section)).model


def _bootstrap_stage(cfg: RunConfig) -> Stage:
    return BootstrapStage(cfg.self_instruct, _model(cfg, "self_instruct"), cfg.seed)


def _instances_stage(cfg: RunConfig) -> Stage:
    lineage = SELF_INSTRUCT.lineage(cfg, "instances")
    return InstancesStage(
        cfg.instances, _model(cfg, "instances"), cfg.seed, cfg.self_instruct.seed_tasks, lineage
    )


def loop_calls(cfg: RunConfig) -> float:
    """The calls of the rounds still to make: those that `target` needs at KEEP_SHARE of the
    candidates kept, less the rounds a finished loop in the run dir made."""
    si = cfg.self_instruct
    index = StepFolder(RunDir(cfg.run_dir).stage("instructions")).index()
    kept, made = (index["records"], len(index["shards"])) if index else (0, 0)
    per_round = si.prompts_per_round * si.new_per_prompt * KEEP_SHARE
    rounds = min(si.max_rounds - made, math.ceil(max(0, si.target - kept) / per_round))
    return max(0, rounds) * si.prompts_per_round


def _prompt_example(cfg: RunConfig, seed: Record) -> Record:
    """A first-round prompt (seeds only), for the size of the loop's prompts."""
    humans = [t.instruction for t in load_tasks(cfg.self_instruct.seed_tasks, SETTING)]
    one = cfg.self_instruct.model_copy(update={"prompts_per_round": 1})
    return build_prompts(one, cfg.seed, 0, humans, [])[0]


SEED_TASKS = Estimate(records=seed_records)
# the loop: its calls from loop_calls, a first round's prompt, ~target tasks out
INSTRUCTIONS = Estimate(
    calls=loop_calls, example=_prompt_example, keep=lambda cfg, n: cfg.self_instruct.target, reply=400
)
# two calls a task: its label (a few tokens), then its instances
INSTANCES = Estimate(reply=300, calls_per_job=lambda cfg: 2.0)

SELF_INSTRUCT = Recipe(
    name="self_instruct",
    help="Self-Instruct: seed tasks -> new instructions, round after round -> instances of each.",
    steps=(
        Step("seed_tasks", "source", "seed_tasks", apply=seed_tasks, estimate=SEED_TASKS),
        Step(
            "instructions",
            "loop",
            "instructions",
            input="seed_tasks",
            section="self_instruct",
            stage=_bootstrap_stage,
            apply=bootstrap,
            estimate=INSTRUCTIONS,
        ),
        Step(
            "instances",
            "map",
            "instances",
            input="instructions",
            section="instances",
            stage=_instances_stage,
            estimate=INSTANCES,
        ),
        *verify_steps("instances"),
        clean_step(verified_pairs("instances")),
        report_step(verified_pairs("instances")),
    ),
    pairs="instances",
    commands_help={
        "seed_tasks": "Write RUN/seed_tasks/ from self_instruct.seed_tasks (the 175 shipped seeds, or a "
        "file).",
        "instructions": "The bootstrap loop: new instructions, round after round, until self_instruct.target "
        "are kept (needs RUN/seed_tasks/); writes RUN/instructions/round-NNNN.jsonl.",
        "instances": "Instances of each new instruction (needs RUN/instructions/); writes the pairs to "
        "RUN/instances/.",
        "verify": VERIFY_HELP,
    },
)
