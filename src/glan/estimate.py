"""What a config will cost before anything is spent: calls, tokens and dollars per step.

It walks the config's recipe: the records its source steps will write (GLAN: the config's
disciplines), then each map step over its input step. Counts are exact for the disciplines
an input step's output in the run directory holds (and the calls already cached are
subtracted); for the rest they follow from the step declarations (`Step.estimate`: records
per job, what a reduce keeps), counted from the level above. Records are counted per
discipline (one group for records without one), so a file written for an earlier selection
is read in part. Tokens per call come from what the run measured so far (the usage in its
cache: a small pilot run makes them real) or, before that, from the stage's real prompt on
a representative input (about four characters a token) and a typical reply length, capped
at max_tokens. The upper bound takes every reply at max_tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from glan.config import PriceConfig, RunConfig
from glan.errors import ConfigError
from glan.llm.cache import ResponseCache
from glan.recipes import Recipe, Step, recipe_of
from glan.records import InstructionPair, Lineage, Record
from glan.shards import StepFolder
from glan.stages.base import Stage
from glan.store import RunDir


@dataclass
class StageEstimate:
    stage: str  # the step's name
    model: str
    calls: int
    cached: int
    prompt_per_call: float
    reply_per_call: float
    max_tokens: int
    price: PriceConfig | None
    basis: str  # where the token figures come from: "measured" or "prompt+typical"
    counted: str  # where the call count comes from: "exact" or "assumed"

    @property
    def to_send(self) -> int:
        return max(0, self.calls - self.cached)

    @property
    def prompt_tokens(self) -> float:
        return self.to_send * self.prompt_per_call

    @property
    def completion_tokens(self) -> float:
        return self.to_send * self.reply_per_call

    def cost(self, at_most: bool = False) -> float | None:
        if self.price is None:
            return None
        reply = self.max_tokens if at_most else self.reply_per_call
        return self.price.cost(self.to_send * self.prompt_per_call, self.to_send * reply)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "model": self.model,
            "calls": self.calls,
            "cached": self.cached,
            "to_send": self.to_send,
            "prompt_tokens": round(self.prompt_tokens),
            "completion_tokens": round(self.completion_tokens),
            "completion_tokens_max": self.to_send * self.max_tokens,
            "cost_usd": None if self.price is None else round(self.cost() or 0.0, 4),
            "cost_usd_max": None if self.price is None else round(self.cost(at_most=True) or 0.0, 4),
            "basis": self.basis,
            "counted": self.counted,
        }


def _group(r: Record) -> Hashable:
    """The discipline a record belongs to; records of other methods form one group."""
    if isinstance(r, Lineage) or (isinstance(r, InstructionPair) and r.discipline is not None):
        return (r.field, r.sub_field, r.discipline)
    return None


def _prompt(job: Any) -> int:
    return job.request.estimated_tokens() - job.request.max_tokens


class Estimator:
    def __init__(
        self, cfg: RunConfig, assume: Mapping[str, float] | None = None, recipe: Recipe | None = None
    ) -> None:
        self.cfg = cfg
        self.recipe = recipe or recipe_of(cfg)
        self.assume = dict(assume or {})  # a step's per_job by its assumption's name
        self.run = RunDir(cfg.run_dir)
        self.steps: dict[str, dict[str, Any]] = self.run.read_manifest().get("steps", {})
        self.cache = ResponseCache(self.run.cache) if self.run.cache.is_file() else None
        # what each step's calls measured so far: the cache holds every answer, killed runs' too
        self.usage = self.cache.usage() if self.cache is not None else {}
        self.selected: set[Hashable] = set()  # the groups the source steps will write
        self.sources: dict[str, list[Record]] = {}
        # per step: its records per group, where a file (or the config) says; else how many
        # it makes of its input's (input step, records out of n in)
        self.held: dict[str, Counter[Hashable]] = {}
        self.made_from: dict[str, tuple[str, Callable[[float], float]]] = {}
        self.examples: dict[str, Record | None] = {}  # a representative record of each step

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def expected(self, name: str, group: Hashable) -> float:
        """The records of `group` in step `name`'s output: counted where known, else made
        from its input's."""
        held = self.held.get(name, {})
        if group in held:
            return held[group]
        if name not in self.made_from:
            return 0.0
        source, out = self.made_from[name]
        return out(self.expected(source, group))

    def _read(self, name: str, model: type[Record]) -> Iterator[Record]:
        """The records of step `name` (when it finished) that belong to the selected groups,
        counted per group into held[name] as they are read."""
        seen = self.held[name] = Counter()
        folder = StepFolder(self.run.stage(name))
        if folder.index() is None:
            return
        for r in folder.records(model):
            if _group(r) in self.selected:
                seen[_group(r)] += 1
                yield r

    def rows(self) -> list[StageEstimate]:
        cfg = self.cfg
        out: list[StageEstimate] = []
        for step in self.recipe.select(cfg):
            hint, source = step.estimate, step.input_of(cfg)
            if step.kind == "source":
                if hint.records is None:
                    raise ConfigError(f"recipe {self.recipe.name}: step {step.name} declares no estimate")
                records = self.sources[step.name] = hint.records(cfg)
                self.selected.update(_group(r) for r in records)
                self.held[step.name] = Counter(_group(r) for r in records)
                self.examples[step.name] = records[0] if records else None
            elif step.kind == "reduce" and source is not None:
                keep = hint.keep or (lambda cfg, n: n)
                self.made_from[step.name] = (source, lambda n, keep=keep: keep(cfg, n))
                self.examples[step.name] = self.examples.get(source)
            elif step.kind == "map" and source is not None:
                out.append(self.map_step(step, source))
            elif step.kind == "loop" and source is not None:
                out.append(self.loop_step(step, source))
        return out

    def loop_step(self, step: Step, source: str) -> StageEstimate:
        """A loop step: the calls its hint counts (its rounds depend on the replies), prompts
        like its hint's example made from its input's, `keep` records out for the next step."""
        cfg, hint = self.cfg, step.estimate
        if hint.calls is None or step.stage is None:
            raise ConfigError(f"recipe {self.recipe.name}: step {step.name} declares no estimate")
        example = self.examples.get(source)
        prompt = 0.0
        if example is not None and hint.example is not None:
            n, _, tokens = self._count(step.stage(cfg), [hint.example(cfg, example)], cached=False)
            prompt = tokens / max(1, n)
        keep = hint.keep or (lambda cfg, n: n)
        self.made_from[step.name] = (source, lambda n: keep(cfg, n))
        self.examples[step.name] = example  # an input record stands for what it makes
        return self._figures(step, round(hint.calls(cfg)), 0, prompt, "assumed")

    def map_step(self, step: Step, source: str) -> StageEstimate:
        """One map step: the calls of its real inputs (exact; cached ones subtracted), plus
        calls like a representative input's for the groups no input file holds yet."""
        cfg, hint = self.cfg, step.estimate
        assert step.stage is not None
        stage = step.stage(cfg)
        per_item = stage.per_item if hint.jobs is None else hint.jobs(cfg)
        per_job = self.assume.get(hint.assumption, hint.per_job) if hint.assumption else hint.per_job
        keep = hint.keep
        made_of = (lambda n: keep(cfg, n)) if keep is not None else (lambda n: n * per_item * per_job)
        self.made_from[step.name] = (source, made_of)
        example = self.examples.get(source)
        made = hint.example
        self.examples[step.name] = None if example is None or made is None else made(cfg, example)

        inputs = self.sources[source] if source in self.sources else self._read(source, stage.input)
        calls, cached, prompt = self._count(stage, inputs)
        held = self.held[source]  # filled by reading the inputs
        more = round(sum(self.expected(source, g) * per_item for g in self.selected if g not in held))
        if calls:
            prompt_per_call = prompt / calls
        elif example is not None:
            n, _, prompt = self._count(stage, [example], cached=False)
            prompt_per_call = prompt / max(1, n)
        elif more:
            raise ConfigError(
                f"recipe {self.recipe.name}: step {source} declares no example (for {step.name})"
            )
        else:
            prompt_per_call = 0.0
        calls += more
        if hint.calls_per_job is not None:  # a chain of calls per job; a job whose first call is
            per_call = hint.calls_per_job(cfg)  # cached is taken as made (a finished run: none to send)
            calls, cached = round(calls * per_call), round(cached * per_call)
        return self._figures(step, calls, cached, prompt_per_call, "exact" if more == 0 else "assumed")

    def _count(self, stage: Stage, inputs: Iterable[Record], cached: bool = True) -> tuple[int, int, float]:
        """Calls, cached calls and prompt tokens of `stage` over `inputs`."""
        calls = hits = 0
        prompt = 0.0
        for item in inputs:  # a representative input (not cached) makes the jobs of one asked about
            for job in stage.jobs(item) if cached else stage.example_jobs(item):
                calls += 1
                prompt += _prompt(job)
                if cached and self.cache is not None and self.cache.has(job.request.key()):
                    hits += 1
        return calls, hits, prompt

    def _figures(
        self, step: Step, calls: int, cached: int, prompt_per_call: float, counted: str
    ) -> StageEstimate:
        """Tokens per call (measured where the cache has usage), re-asks in the proportion the
        last run saw, and the price."""
        cfg, name = self.cfg, step.name
        sampling = step.sampling(cfg)
        llm = cfg.llm_for(sampling)
        max_tokens = sampling.max_tokens
        reply = float(min(max_tokens, step.estimate.reply or max_tokens))
        basis = "prompt+typical"
        used = self.usage.get(name, {}).get(llm.model)
        if used and used.get("calls"):
            prompt_per_call = used["prompt_tokens"] / used["calls"]
            reply = used["completion_tokens"] / used["calls"]
            basis = "measured"
        ran = self.steps.get(name, {})
        if ran.get("jobs"):  # the calls still to send need re-asks in the proportion measured
            calls = cached + round((calls - cached) * (1 + ran.get("reasks", 0) / ran["jobs"]))
        return StageEstimate(
            stage=name,
            model=llm.model,
            calls=calls,
            cached=cached,
            prompt_per_call=prompt_per_call,
            reply_per_call=reply,
            max_tokens=max_tokens,
            price=cfg.price_for(llm.model),
            basis=basis,
            counted=counted,
        )


def estimate(
    cfg: RunConfig, assume: Mapping[str, float] | None = None, recipe: Recipe | None = None
) -> list[StageEstimate]:
    """Per-step calls, tokens and cost still to spend for `cfg` (see the module docstring);
    `assume` overrides a step's declared assumption by name (GLAN: subjects_per_sample)."""
    est = Estimator(cfg, assume, recipe)
    try:
        return est.rows()
    finally:
        est.close()
