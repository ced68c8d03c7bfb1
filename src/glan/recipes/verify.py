"""The `verify` recipe: quality control of pairs made elsewhere (another run's step folder, or
another tool's JSONL file, named by `verify.input`): the code check, the LLM's verification,
then clean. The same steps as at the end of every recipe (glan.recipes.quality)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glan.config import RunConfig
from glan.errors import ConfigError
from glan.pairs_file import load_pairs
from glan.recipes.base import Estimate, Recipe, Step
from glan.recipes.clean import clean_step
from glan.recipes.quality import VERIFY_HELP, verified_pairs, verify_steps
from glan.recipes.report import report_step
from glan.records import InstructionPair, Record

if TYPE_CHECKING:
    from glan.session import Session

SHARD = 1000


def _input(cfg: RunConfig) -> str:
    if not cfg.verify.input:
        raise ConfigError("recipe verify: set verify.input (a JSONL file of pairs, or a run's step folder)")
    if not cfg.verify.methods:
        raise ConfigError("recipe verify: verify.methods is empty (code, self_consistency, double_critic)")
    return cfg.verify.input


def _records(cfg: RunConfig) -> list[Record]:
    return list(load_pairs(_input(cfg), "verify.input"))


async def pair_shards(session: Session) -> list[tuple[str, list[InstructionPair]]]:
    """The pairs, in shards of a thousand (a shard of new pairs leaves the others as they are)."""
    pairs = load_pairs(_input(session.cfg), "verify.input")
    return [(f"pairs-{i // SHARD:05d}", pairs[i : i + SHARD]) for i in range(0, len(pairs), SHARD)]


VERIFY = Recipe(
    name="verify",
    help="Verify pairs made elsewhere (verify.input): run their programs, self-consistency, double critic.",
    steps=(
        Step("pairs", "source", "pairs", apply=pair_shards, estimate=Estimate(records=_records)),
        *verify_steps("pairs"),
        clean_step(verified_pairs("pairs")),
        report_step(verified_pairs("pairs")),
    ),
    pairs="pairs",
    commands_help={
        "pairs": "Write RUN/pairs/ from verify.input (the verify recipe).",
        "verify": VERIFY_HELP,
    },
)
