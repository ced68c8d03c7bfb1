"""Runs a recipe's steps (glan.recipes) over a run directory.

Each step reads the previous step's file in the run directory and writes its own, so every
step also runs alone. All LLM calls go through one durable cache: a rerun repeats none.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from glan import __version__
from glan.config import LLMConfig, RunConfig
from glan.errors import StepDeferred
from glan.llm.base import Backend
from glan.llm.cache import SPEND, ResponseCache, Spend, usage_of
from glan.llm.client import FailureBreaker, LLMClient
from glan.recipes import Step, recipe_of
from glan.records import Failure, Record
from glan.runner import Reruns, StageResult, run_stage
from glan.stages.base import Stage
from glan.stages.taxonomy_gen import TaxonomyNode, TaxonomyStage
from glan.store import JsonlWriter, RunDir, count_lines, read_jsonl, write_json_atomic
from glan.taxonomy import Taxonomy, taxonomy_from_tree

USAGE_KEYS = ("calls", "prompt_tokens", "completion_tokens", "cost_usd")


def _count(n: float) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else f"{n:.0f}"


def _progress_info(client: LLMClient, before: dict[str, Any]) -> str:
    """'calls 12 cached 3 tokens 4.1k>1.2k $0.0042' for this stage so far."""
    s = client.stats
    info = (
        f"calls {s.calls - before['calls']} cached {s.cache_hits - before['cache_hits']} "
        f"tokens {_count(s.prompt_tokens - before['prompt_tokens'])}>"
        f"{_count(s.completion_tokens - before['completion_tokens'])}"
    )
    if client.price is not None:
        info += f" ${s.cost_usd - before['cost_usd']:.4f}"
    return info


def make_backend(cfg: LLMConfig) -> Backend:
    """Build the backend an LLMConfig names (only called on a cache miss)."""
    from glan.llm.registry import build_backend

    return build_backend(cfg)


class Pipeline:
    def __init__(
        self,
        cfg: RunConfig,
        console: Console | None = None,
        backend_factory: Callable[[LLMConfig], Backend] = make_backend,
        show_progress: bool = True,
        record: bool = True,
    ) -> None:
        self.cfg = cfg
        self.record = record  # write the manifest (not when only collecting batch requests)
        self.run = RunDir(cfg.run_dir)
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress
        self._factory = backend_factory
        self._cache: ResponseCache | None = None
        self._clients: dict[str, LLMClient] = {}
        self.report: dict[str, Any] = {}
        self.recipe = recipe_of(cfg)
        self.post_cfg: Any = None

    @property
    def cache(self) -> ResponseCache:
        if self._cache is None:
            self._cache = ResponseCache(self.run.cache)
        return self._cache

    def client(self, llm: LLMConfig) -> LLMClient:
        key = llm.model_dump_json()
        if key not in self._clients:
            self._clients[key] = LLMClient(
                self.cache,
                lambda: self._factory(llm),
                max_retries=llm.max_retries,
                price=self.cfg.price_for(llm.model),
                breaker=FailureBreaker(llm.max_failure_rate),
            )
        return self._clients[key]

    async def aclose(self) -> None:
        for c in self._clients.values():
            await c.aclose()
        if self._cache is not None:
            self._cache.close()

    # -- steps -------------------------------------------------------------------------

    async def run_steps(self, names: Sequence[str] | None = None) -> dict[str, Any]:
        """Run the recipe's steps in order (all that the config uses, or those of the commands
        or steps named), holding the run dir's lock. Inputs (the run dir, its manifest, the
        `post:` section) are checked before anything is written, and the manifest is written
        only when a step finished or a response was cached: a failed invocation never puts its
        config beside data it did not make."""
        steps = self.recipe.select(self.cfg, names)
        with self.run.lock():
            # a corrupt manifest or cache stops the run before it writes anything
            self.run.read_manifest()
            if any(s.calls_llm for s in steps) or (
                self.cfg.taxonomy == "generate" and any(s.name == "disciplines" for s in steps)
            ):
                self.cache  # noqa: B018 (opened now, not at the first call)
            self.post_cfg = self._post_config() if any(s.kind == "post" for s in steps) else None
            try:
                for step in steps:
                    t0 = time.perf_counter()
                    pairs_before = self._pairs_digest() if step.name == "answers" else None
                    await self._step(step)
                    if pairs_before is not None:
                        self._drop_stale_clean(pairs_before, rebuilt=self.post_cfg is not None)
                    self.report.setdefault(step.name, {})["wall_s"] = round(time.perf_counter() - t0, 3)
            except BaseException:
                if self.record and self._changed():
                    with contextlib.suppress(Exception):  # the step's own error is what matters
                        self.write_manifest()
                raise
            if self.record and self._changed():
                self.write_manifest()
        return self.report

    async def _step(self, step: Step) -> None:
        if step.kind != "map":
            assert step.apply is not None
            await step.apply(self)
            return
        assert step.stage is not None
        stage = step.stage(self.cfg)
        src = self.run.stage(step.input_of(self.cfg) or "")
        total = count_lines(src) * stage.per_item
        items = read_jsonl(src, stage.input)
        # the failures of the previous run, read before this run rewrites them
        reruns = Reruns.load(self.run.failures(step.name), self.cfg.max_rerun_attempts)
        with (
            JsonlWriter(self.run.stage(step.name)) as out,
            JsonlWriter(self.run.failures(step.name)) as failures,
        ):
            llm = self.cfg.llm_for(step.sampling(self.cfg))
            result = await self._run(stage, items, total, llm, out.write, failures.write, reruns)
            if result.deferred:  # some calls went to a batch file: the step is not done
                raise StepDeferred(step.name, result.deferred)

    def _changed(self) -> bool:
        """Whether this invocation finished a step or cached a response."""
        return bool(self.report) or (self._cache is not None and self._cache.stored > 0)

    def _pairs_digest(self) -> str | None:
        """sha256 of answers.jsonl when a clean/ made from it exists (else nothing to compare)."""
        pairs = self.run.stage("answers")
        if not (self.run.clean.exists() and pairs.is_file()):
            return None
        with pairs.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()

    def _drop_stale_clean(self, before: str, rebuilt: bool) -> None:
        """clean/ is derived from answers.jsonl: when the answers step changed the pairs, delete
        it rather than leave it beside pairs it was not made from (`post:` rebuilds it in the
        same run; otherwise `glan clean` does)."""
        if self._pairs_digest() == before:
            return
        shutil.rmtree(self.run.clean)
        then = "rebuilding it" if rebuilt else "add `post:` to the config or run `glan clean` to rebuild it"
        self.console.print(
            f"{self.run.clean}: removed, it was made from an earlier answers.jsonl; {then}",
            markup=False,
            highlight=False,
        )

    async def generate_taxonomy(self) -> Taxonomy:
        """Fields, then sub-fields, then disciplines, each level one stage pass."""
        gen = self.cfg.taxonomy_gen
        stage = TaxonomyStage(gen, self.cfg.llm_for(gen).model, self.cfg.seed)
        level: list[Record] = [TaxonomyNode(id="root", path=[])]
        with self.run.lock():  # its responses go into the run dir's cache
            for _ in range(3):
                nxt: list[Record] = []
                await self._run(stage, level, len(level), self.cfg.llm_for(gen), nxt.append)
                level = nxt
        tree: dict[str, dict[str, list[str]]] = {}
        for n in level:
            assert isinstance(n, TaxonomyNode)
            field, sub, disc = n.path
            tree.setdefault(field, {}).setdefault(sub, []).append(disc)
        return taxonomy_from_tree(tree)

    async def _run(
        self,
        stage: Stage,
        items: Iterable[Record],
        total: int,
        llm: LLMConfig,
        emit: Callable[[Record], None],
        fail: Callable[[Failure], None] | None = None,
        reruns: Reruns | None = None,
    ) -> StageResult:
        client = self.client(llm)
        before = asdict(client.stats)
        failures: list[Failure] = []
        with Progress(
            TextColumn("[bold]{task.description:<15}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.show_progress,
            transient=False,
        ) as progress:
            task = progress.add_task(stage.name, total=total, info="")

            def tick() -> None:
                progress.update(task, advance=1, info=_progress_info(client, before))

            # the responses this stage stores are charged to it in the cache (usage survives kill -9)
            spend = SPEND.set(Spend(stage.name, llm.model, self.cfg.price_for))
            try:
                result = await run_stage(
                    stage,
                    items,
                    client,
                    emit,
                    fail or failures.append,
                    concurrency=llm.concurrency,
                    max_reasks=self.cfg.max_reasks,
                    on_job_done=tick,
                    reruns=reruns,
                )
            finally:
                SPEND.reset(spend)
        after = asdict(client.stats)
        entry = self.report.setdefault(stage.name, {})
        for k, v in asdict(result).items():
            entry[k] = entry.get(k, 0) + v
        for k in after:
            entry[k] = round(entry.get(k, 0) + after[k] - before[k], 6)
        spent = entry.setdefault("models", {}).setdefault(llm.model, {})
        for k in USAGE_KEYS:
            spent[k] = round(spent.get(k, 0) + after[k] - before[k], 6)
        if result.failures:
            self.console.print(
                f"{stage.name}: {result.failures} failed jobs recorded in {self.run.failures(stage.name)}",
                style="yellow",
                markup=False,  # the run dir is the user's text
                highlight=False,
            )
        return result

    def _post_config(self) -> Any:
        if self.cfg.post is None:
            return None
        from pydantic import ValidationError

        from glan.errors import ConfigError, first_error
        from glan.post import preflight
        from glan.post.config import PostConfig

        try:
            cfg = PostConfig.model_validate(self.cfg.post)
        except ValidationError as e:
            raise ConfigError(f"post.{first_error(e)}") from None
        preflight(cfg)  # a missing benchmark fails now, not after hours of generation
        return cfg

    def step_clean(self) -> None:
        from glan.post import clean_and_export

        pairs = self.run.stage("answers")
        if self.report.get("answers", {}).get("records") == 0:  # nothing to clean: the run is
            return  # incomplete (exit 1 names the answers step), not a bad clean input (exit 2)
        self.report["clean"] = clean_and_export(pairs, self.cfg.run_dir / "clean", self.post_cfg)

    def write_manifest(self) -> None:
        """Merge this invocation's report into manifest.json (no secrets: keys live in env).
        `steps` holds the last invocation of each step (its calls count attempts, failed ones
        too); `usage` is every response in the cache, per stage and model: what the run dir
        has cost, whatever was killed on the way (batch imports at batch prices)."""
        old = self.run.read_manifest()
        usage = self._cache.usage() if self._cache is not None else usage_of(self.run.cache)
        write_json_atomic(
            self.run.manifest,
            {
                "glan_version": __version__,
                "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "config": self.cfg.model_dump(mode="json"),
                "steps": {**old.get("steps", {}), **self.report},
                "usage": usage,
            },
        )
