"""The Ray executor: a map step's input records flow through Ray Data to worker actors.

The driver (this process) reads the step's input, hands it to Ray Data a window at a time
(`ray.window` records: its memory stays bounded at any size), and writes what comes back in
input order (Ray Data's `preserve_order`) through the same shard writer as the local
executor: the same folders, markers and records, so a run may switch executors between
invocations and a resumed run skips finished shards. The workers (glan.exec.ray_worker) run
the same stage code against the endpoint and share the run's one response cache through a
cache actor, so no finished call is paid twice, whichever worker made it.

The cluster: `ray.address` names one to join; none starts a local one for the run (and
stops it at the end). Workers must be able to import glan and reach the endpoint; an API
key's environment variable must be set where the workers run (a local cluster inherits this
process's environment).
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import socket
from collections.abc import Callable, Iterable
from dataclasses import fields, replace
from importlib.util import find_spec
from typing import Any

from glan.config import LLMConfig, RunConfig
from glan.errors import ConfigError, GlanError
from glan.exec.jobs import Reruns, StageResult
from glan.executor_config import RayConfig
from glan.llm.budget import Budget
from glan.llm.cache import Spend
from glan.records import Failure, Record
from glan.stages.base import Stage
from glan.store import batched


def _reachable(address: str | None, timeout_s: float = 10.0) -> None:
    """A `host:port` (or `ray://host:port`) that takes no connection is a ConfigError now:
    Ray itself would retry for minutes before it gave up."""
    if not address or address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as e:
        raise ConfigError(f"ray.address: {address!r}: cannot reach the cluster ({e})") from None


class _Tally:
    """A stage's call usage from its batches' rows: each actor's client counts (monotonic, so
    the latest report is the largest) plus each batch's own cache lookups."""

    def __init__(self) -> None:
        self.actors: dict[str, dict[str, float]] = {}
        self.lookups: dict[str, float] = {}

    def add(self, actor: str, client: dict[str, float], lookups: dict[str, float]) -> dict[str, float]:
        seen = self.actors.setdefault(actor, {})
        for k, v in client.items():
            seen[k] = max(seen.get(k, 0), v)
        for k, v in lookups.items():
            self.lookups[k] = self.lookups.get(k, 0) + v
        usage: dict[str, float] = {}
        for counts in self.actors.values():
            for k, v in counts.items():
                usage[k] = usage.get(k, 0) + v
        return usage | self.lookups


def _share(budget: Budget, usage: dict[str, float], actors: int) -> Budget:
    """One actor's share of what `budget` leaves once `usage` (this stage's so far) is spent:
    actors cannot share one object, so each checks its own share."""
    left = Budget(
        budget.usd,
        budget.tokens,
        spent_usd=budget.spent_usd + usage.get("cost_usd", 0.0),
        spent_tokens=budget.spent_tokens + usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0),
    )
    return left.split(actors)[0]


class RayExecutor:
    """Runs each map step's stage on a Ray cluster through Ray Data (see the module doc)."""

    name = "ray"

    def __init__(self, cfg: RayConfig) -> None:
        if find_spec("ray") is None:  # imported when a stage runs: a rerun of a finished run needs none
            raise ConfigError("executor: ray needs Ray: pip install 'glan[ray]' (or 'ray[data]')")
        self.cfg = cfg
        self._started = False

    def preflight(self) -> None:
        """Before any step writes: the configured cluster takes connections (a rerun of a
        finished run starts no cluster at all: its steps are skipped unread)."""
        _reachable(self.cfg.address)

    def start(self) -> None:
        """Join the configured cluster or start a local one (once)."""
        import ray
        import ray.data

        if not ray.is_initialized():
            _reachable(self.cfg.address)
            # Ray's C++ core warns on stderr for each actor pool whose constructor arguments sit
            # in the object store (Ray Data's always do; they stay in scope while a step runs)
            os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
            try:
                ray.init(
                    address=self.cfg.address,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level="ERROR",
                    configure_logging=True,
                )
            except ConnectionError as e:
                raise ConfigError(
                    f"ray.address: {self.cfg.address!r}: cannot join the cluster ({e})"
                ) from None
            self._started = True
        for name in ("ray", "ray.data"):  # lines per dataset otherwise; glan's events say what matters
            logging.getLogger(name).setLevel(logging.CRITICAL)
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # records come back in input order
        ctx.enable_progress_bars = False  # glan's own progress shows the step

    def close(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
        self._started = False

    def run_stage(
        self,
        cfg: RunConfig,
        cache_path: str,
        stage: Stage,
        items: Iterable[Record],
        llm: LLMConfig,
        emit: Callable[[Record], None],
        fail: Callable[[Failure], None],
        *,
        reruns: Reruns,
        budget: Budget | None,
        on_jobs_done: Callable[[int, dict[str, Any]], None],
        on_item_done: Callable[[int], None] | None = None,
    ) -> tuple[StageResult, dict[str, float]]:
        """`stage` over `items` on the cluster, output in input order; the stage's counts and
        its call usage. `on_jobs_done(n, usage so far)` follows progress."""
        import ray
        import ray.data
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from glan.exec.ray_worker import CacheServer, StageWorker, WorkerSpec

        self.start()
        here = ray.get_runtime_context().get_node_id()
        cache = (
            ray.remote(CacheServer)
            .options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False))
            .remote(cache_path, Spend(stage.name, llm.model, cfg.price_for))
        )
        actors = self.cfg.actors
        spec = WorkerSpec(
            stage=stage,
            llm=llm,
            price=cfg.price_for(llm.model),
            max_reasks=cfg.max_reasks,
            reruns=reruns,
            slots=max(1, math.ceil(llm.concurrency / actors)),
        )
        total = StageResult()
        usage: dict[str, float] = {}
        tally = _Tally()
        try:
            for window in batched(items, self.cfg.window):
                if budget is not None:  # each actor a share of what is left after the windows before
                    spec = replace(spec, budget=_share(budget, usage, actors))
                ds = ray.data.from_items([{"item": pickle.dumps(r)} for r in window]).map_batches(
                    StageWorker,
                    fn_constructor_args=(spec, cache),
                    batch_size=self.cfg.batch_size,
                    compute=ray.data.ActorPoolStrategy(
                        size=min(actors, math.ceil(len(window) / self.cfg.batch_size))
                    ),
                    num_cpus=self.cfg.actor_cpus,
                )
                for row in ds.iter_rows():
                    out = pickle.loads(row["out"])
                    if isinstance(out, GlanError):  # a breaker that tripped, a budget spent
                        raise out
                    records, failures, deferred, counts = out
                    for failure in failures:
                        fail(failure)
                    for record in records:
                        emit(record)
                    if counts is not None:  # the batch's last row: its counts and usage
                        result, (actor, client, lookups) = counts
                        for f in fields(StageResult):
                            setattr(total, f.name, getattr(total, f.name) + result[f.name])
                        usage = tally.add(actor, client, lookups)
                        on_jobs_done(result["jobs"], usage)
                    if on_item_done:
                        on_item_done(deferred)
        finally:
            try:
                ray.get(cache.close.remote())
            finally:
                ray.kill(cache)
        return total, usage
