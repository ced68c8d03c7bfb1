"""Adaptive concurrency: the controller on an injected clock (rounds, cuts, growth, bounds),
the gate in front of the client's calls, and a real local server that degrades past its
capacity, which a run finishes against with every job done."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glan.cli import app
from glan.config import load_config
from glan.errors import TransientBackendError
from glan.llm.adaptive import CUT_ABOVE, AdaptiveConcurrency, Ticket, work_of
from glan.llm.base import ChatRequest, ChatResponse
from glan.llm.cache import ResponseCache
from glan.llm.client import LLMClient
from glan.llm.local import LocalOptions
from glan.llm.openai_compat import OpenAIOptions
from tests.helpers import step_done
from tests.http_fakes import DegradingServer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_round(ctl: AdaptiveConcurrency, clock: Clock, latency: float) -> None:
    """Fill the limit, answer every call `latency` seconds later, until a round ends."""
    epoch = ctl.epoch
    while ctl.epoch == epoch:
        tickets = [t for _ in range(ctl.limit) if (t := ctl.try_start()) is not None]
        assert ctl.try_start() is None  # the limit is reached
        clock.now += latency
        for t in tickets:
            ctl.succeeded(t)


def test_slow_start_doubles_up_to_the_bound_while_latency_is_flat() -> None:
    clock = Clock()
    ctl = AdaptiveConcurrency(1, 64, clock=clock)
    seen = []
    for _ in range(12):
        run_round(ctl, clock, 1.0)
        seen.append(ctl.limit)
    assert seen[:6] == [2, 4, 8, 16, 32, 64] and set(seen[6:]) == {64}  # never past the bound


def test_overload_halves_once_per_round_then_grows_by_one() -> None:
    clock = Clock()
    ctl = AdaptiveConcurrency(1, 64, clock=clock)
    for _ in range(4):
        run_round(ctl, clock, 1.0)
    assert ctl.limit == 16
    tickets = [ctl.try_start() for _ in range(16)]
    for t in tickets[:10]:  # ten 503s of calls sent under one limit: one cut
        assert t is not None
        ctl.overloaded(t)
    assert ctl.limit == 8 and ctl.cuts == 1
    for t in tickets[10:]:  # sent before the cut, answered after it: no signal for the new round
        assert t is not None
        ctl.succeeded(t)
    run_round(ctl, clock, 1.0)
    assert ctl.limit == 9  # past the first cut: additive growth
    run_round(ctl, clock, 1.0)
    assert ctl.limit == 10


def test_latency_well_above_the_minimum_cuts_and_between_holds() -> None:
    clock = Clock()
    ctl = AdaptiveConcurrency(2, 100, clock=clock)
    for _ in range(3):
        run_round(ctl, clock, 1.0)
    assert ctl.limit == 16
    run_round(ctl, clock, 1.9)  # slower, not yet queueing, and fewer answers a second: hold
    assert ctl.limit == 16
    run_round(ctl, clock, CUT_ABOVE * 1.2)
    assert ctl.limit == 12 and ctl.cuts == 1


@pytest.mark.parametrize("capacity", [3, 8, 20])
def test_converges_near_the_capacity_of_a_server_that_degrades(capacity: int) -> None:
    """Latency flat up to `capacity` in flight, then growing with the square of the excess
    share (throughput falls past it): the limit ends between the capacity and the load at
    which latency doubles, and stays there."""
    clock = Clock()
    ctl = AdaptiveConcurrency(1, 256, clock=clock)
    seen = []
    for _ in range(60):
        run_round(ctl, clock, max(1.0, ctl.limit / capacity) ** 2)
        seen.append(ctl.limit)
    doubled = capacity * CUT_ABOVE**0.5
    assert all(capacity * 0.75 - 1 <= n <= doubled + 1 for n in seen[-30:]), seen


def test_a_server_that_batches_keeps_the_limit_growing_while_throughput_grows() -> None:
    """Latency growing with the square root of the load past 4 in flight (a GPU server that
    batches): slower per call, more calls a second; the limit grows past 2x the latency."""
    clock = Clock()
    ctl = AdaptiveConcurrency(1, 64, clock=clock)
    for _ in range(80):
        run_round(ctl, clock, max(1.0, ctl.limit / 4) ** 0.5)
    assert ctl.limit == 64 and ctl.cuts == 0


def test_the_floor_relearns_the_base_so_a_slower_workload_can_grow_again() -> None:
    clock = Clock()
    ctl = AdaptiveConcurrency(1, 32, clock=clock)
    for _ in range(5):
        run_round(ctl, clock, 1.0)
    assert ctl.limit == 32
    for _ in range(20):  # every call now takes 5x as long, whatever the load (longer replies)
        run_round(ctl, clock, 5.0)
    assert ctl.limit == 32  # cut to the floor, re-based there, then grew again


def test_no_growth_without_demand() -> None:
    clock = Clock()
    ctl = AdaptiveConcurrency(1, 64, clock=clock)
    for _ in range(3):
        run_round(ctl, clock, 1.0)
    assert ctl.limit == 8
    for _ in range(20):  # two calls at a time, never the 8 allowed: no evidence for more
        a, b = ctl.try_start(), ctl.try_start()
        clock.now += 1.0
        assert a is not None and b is not None
        ctl.succeeded(a)
        ctl.succeeded(b)
    assert ctl.limit == 8


def test_latency_is_compared_per_unit_of_work() -> None:
    assert work_of(0, 0) == 1.0
    assert work_of(800, 100) == 1 + 100 + 100
    clock = Clock()
    ctl = AdaptiveConcurrency(1, 8, clock=clock)
    t = ctl.try_start()
    assert isinstance(t, Ticket)
    clock.now += 2.0
    ctl.succeeded(t, work=4.0)
    assert ctl.samples == [0.5]


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError):
        AdaptiveConcurrency(5, 4)
    with pytest.raises(ValueError):
        AdaptiveConcurrency(0, 4)


async def test_gate_wakes_waiters_in_order_and_survives_cancellation() -> None:
    clock = Clock()
    ctl = AdaptiveConcurrency(1, 4, clock=clock)
    first = await ctl.acquire()
    order: list[int] = []

    async def wait(i: int) -> Ticket:
        t = await ctl.acquire()
        order.append(i)
        return t

    tasks = [asyncio.create_task(wait(i)) for i in range(3)]
    await asyncio.sleep(0)
    tasks[0].cancel()  # a cancelled waiter gives up its place, not a slot
    ctl.released(first)  # woken before its cancellation is handled
    await asyncio.sleep(0)
    assert order == [1] and ctl.inflight == 1
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    ctl.released(await tasks[1])
    await asyncio.sleep(0)
    assert order == [1, 2]
    ctl.released(await tasks[2])
    assert ctl.inflight == 0


class OverloadBackend:
    """In-process: past `capacity` calls in flight, every call fails with a 503."""

    name = "overload"

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.inflight = 0
        self.most = 0

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.inflight += 1
        self.most = max(self.most, self.inflight)
        try:
            await asyncio.sleep(0.002)
            if self.inflight > self.capacity:
                raise TransientBackendError("HTTP 503 (fake)", retry_after=None)
            return ChatResponse(text="ok", prompt_tokens=10, completion_tokens=10)
        finally:
            self.inflight -= 1

    async def aclose(self) -> None:
        pass


async def test_client_cuts_on_503s_and_every_call_is_answered(tmp_path: Path) -> None:
    backend = OverloadBackend(capacity=4)
    opts = OpenAIOptions(base_url="http://127.0.0.1:9/v1", model="m", concurrency=32)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    client = LLMClient.for_options(cache, opts, lambda: backend)
    client.backoff_s = 0.001
    client.max_retries = 50
    try:
        reqs = [ChatRequest(model="m", messages=[{"role": "user", "content": f"q{i}"}]) for i in range(300)]
        sem = asyncio.Semaphore(32)  # the executor's bound

        async def one(r: ChatRequest) -> ChatResponse:
            async with sem:
                return await client.complete(r)

        out = await asyncio.gather(*map(one, reqs))
    finally:
        await client.aclose()
        cache.close()
    assert all(r.text == "ok" for r in out)
    assert client.limit is not None and client.limit.cuts >= 1 and client.limit.limit <= 16
    assert client.limit.inflight == 0


def test_only_http_endpoints_adapt_by_default() -> None:
    assert OpenAIOptions(base_url="http://x/v1").adaptive
    assert not LocalOptions().adaptive
    fixed = OpenAIOptions(base_url="http://x/v1", concurrency=8, adaptive=False)
    client = LLMClient.for_options(None, fixed, lambda: None)  # type: ignore[arg-type]
    assert client.limit is None


def glan_run(tmp_path: Path, base_url: str, concurrency: int) -> tuple[int, str]:
    settings = {
        "run_dir": str(tmp_path / "run"),
        "disciplines": ["Physics", "Chemistry"],
        "subjects": {"samples": 4, "mode": "json"},
        "syllabi": {"min_sessions": 3, "max_sessions": 4},
        "questions": {"per_syllabus": 6},
        "llm": {"backend": "openai", "base_url": base_url, "model": "fake", "api_key_env": None}
        | {"concurrency": concurrency, "max_retries": 20},
    }
    cfg = tmp_path / "run.yaml"
    cfg.write_text(json.dumps(settings))
    r = CliRunner().invoke(app, ["run", "-c", str(cfg), "-q"])
    return r.exit_code, r.output


def test_a_run_against_a_server_that_degrades_past_its_capacity(tmp_path: Path) -> None:
    # 4 calls in flight take 40 ms; each call past them adds its share squared (a server that
    # thrashes), and past 12 it answers 503. The run allows 48.
    with DegradingServer(capacity=4, delay=0.04, reject_above=12) as srv:
        code, out = glan_run(tmp_path, srv.base_url, concurrency=48)
        most, rejected, total = srv.max_inflight, srv.rejected, srv.count
    assert code == 0, out
    assert step_done(tmp_path / "run", "answers")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    limits = {name: s["concurrency"] for name, s in manifest["steps"].items() if "concurrency" in s}
    assert limits["answers"]["max"] == 48 and limits["answers"]["limit"] <= 16
    assert most < 48 and rejected < total / 4  # it never sent the 48 it was allowed


def test_adaptive_false_keeps_the_fixed_number(tmp_path: Path) -> None:
    cfg = load_config(None, ["llm.backend=openai", "llm.base_url=http://x/v1", "llm.adaptive=false"])
    assert not cfg.llm.adaptive
