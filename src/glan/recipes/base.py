"""A recipe declares its steps once. `glan run`, the step commands, `glan estimate`, batch
files and the manifest all read the declaration; none lists steps by hand.

A step is one of:
- `map`: a stage over the records of its input step, one or more LLM jobs per record;
- `source`: a function over the run that returns the first step's shards (the disciplines);
- `reduce`: a function over all the records of one input shard (merge the subjects of a
  discipline), run as is by every executor;
- `loop`: a function over the run that makes the step's shards round after round, each round
  reading what the earlier ones made (Self-Instruct's growing pool); it commits each round
  as a shard with its marker, so a resumed run redoes only the unfinished round;
- `post`: clean and ship, after generation (only with a `post:` section).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from glan.errors import ConfigError

if TYPE_CHECKING:
    from glan.config import RunConfig, Sampling
    from glan.records import Record
    from glan.stages.base import Stage

StepKind = Literal["source", "map", "reduce", "loop", "post"]


def _always(cfg: RunConfig) -> bool:
    return True


@dataclass(frozen=True)
class Estimate:
    """What `glan estimate` assumes of a step until its input exists (see glan.estimate).

    A map step makes `stage.per_item` jobs per input record (`jobs(cfg)` when it asks about a
    share of its inputs only), `calls_per_job(cfg)` calls per job (a chain of follow-ups) and
    `per_job` records per job (`keep(cfg, n)` records of n inputs, when given); a reduce step
    keeps `keep(cfg, n)` records of the n of one discipline; a source step will write
    `records(cfg)`. `example(cfg, record)` is a representative output record made from
    an input record (its prompt size stands for the next step's before there is any input);
    `reply` is a typical reply length in tokens (None: max_tokens)."""

    per_job: float = 1.0
    assumption: str | None = None  # the name by which `glan estimate` may override per_job
    keep: Callable[[RunConfig, float], float] | None = None
    records: Callable[[RunConfig], list[Record]] | None = None
    example: Callable[[RunConfig, Record], Record] | None = None
    reply: int | None = None
    calls: Callable[[RunConfig], float] | None = None  # loop: the calls it will make
    jobs: Callable[[RunConfig], float] | None = None  # map: jobs per input record
    calls_per_job: Callable[[RunConfig], float] | None = None  # map: calls of one job, at most


@dataclass(frozen=True)
class Step:
    """One step: its name is the folder it writes (RUN/NAME/), its manifest entry and its
    batch-file prefix."""

    name: str
    kind: StepKind
    command: str | None  # the `glan COMMAND` that runs it (several steps may share one)
    input: str | Callable[[RunConfig], str] | None = None  # the step whose output it reads
    section: str | None = None  # the RunConfig section holding its sampling and `llm`
    stage: Callable[[RunConfig], Stage] | None = None  # map, loop: builds its stage
    # source: (session) -> the shards; loop: (session, step) makes them; post: (session) runs
    apply: Callable[..., Awaitable[Any]] | None = None
    reduce: Callable[[RunConfig, list[Any]], Iterable[Any]] | None = None  # reduce: one shard's records
    reads: type[Any] | None = None  # reduce: the record type of its input
    when: Callable[[RunConfig], bool] = _always  # whether the config uses this step
    also_reads: tuple[str, ...] = ()  # other config sections its records depend on (fingerprint)
    estimate: Estimate = Estimate()  # what `glan estimate` assumes of it
    # raises ConfigError when the step cannot run here (a missing tool): before any step writes
    preflight: Callable[[RunConfig], None] | None = None

    def input_of(self, cfg: RunConfig) -> str | None:
        return self.input(cfg) if callable(self.input) else self.input

    def sampling(self, cfg: RunConfig) -> Sampling:
        """The step's config section (sampling, max_tokens, its own `llm`)."""
        if self.section is None:
            raise ConfigError(f"step {self.name!r} makes no LLM calls")
        return getattr(cfg, self.section)

    @property
    def calls_llm(self) -> bool:
        return self.kind in ("map", "loop")


@dataclass(frozen=True)
class Recipe:
    name: str
    help: str
    steps: tuple[Step, ...]
    commands_help: dict[str, str]  # the help of each step command, in run order
    pairs: str = "answers"  # the step whose records are the pairs (what `clean` reads)

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise ConfigError(f"recipe {self.name}: no step {name!r} (steps: {', '.join(self.names())})")

    def final_pairs(self, cfg: RunConfig) -> str:
        """The step whose records are the run's pairs for `cfg`: what `clean` reads (the
        verified pairs when verification is on)."""
        clean = next((s for s in self.steps if s.kind == "post"), None)
        return (clean.input_of(cfg) if clean else None) or self.pairs

    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    def select(self, cfg: RunConfig, names: list[str] | tuple[str, ...] | None = None) -> list[Step]:
        """The steps `cfg` uses, in order: all of them, or those of the commands or steps named."""
        if names is None:
            return [s for s in self.steps if s.when(cfg)]
        unknown = [n for n in names if n not in self.commands_help and n not in self.names()]
        if unknown:
            known = ", ".join(dict.fromkeys([*self.commands_help, *self.names()]))
            raise ConfigError(f"recipe {self.name}: no step {unknown[0]!r} (steps: {known})")
        wanted = set(names)
        return [s for s in self.steps if s.when(cfg) and (s.name in wanted or s.command in wanted)]

    def lineage(self, cfg: RunConfig, name: str) -> tuple[str, ...]:
        """The commands whose steps a step's records descend from, first to last, its own too."""
        chain: list[str] = []
        step: Step | None = self.step(name)
        while step is not None:
            chain.append(step.command or step.name)
            source = step.input_of(cfg)
            step = self.step(source) if source else None
        return tuple(dict.fromkeys(reversed(chain)))

    def llm_steps(self, cfg: RunConfig, command: str | None = None) -> list[Step]:
        """The steps that call the LLM (of one command), in order."""
        return [s for s in self.select(cfg, None if command is None else [command]) if s.calls_llm]
