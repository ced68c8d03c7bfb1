"""A hard budget (USD or tokens): the run stops before a call could pass it, after the calls
in flight have answered; a rerun with a higher budget finishes without repeating a finished
call; a resumed run counts what earlier invocations spent; cache hits cost nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glan.cli import app
from glan.config import BudgetConfig, PriceConfig, load_config
from glan.errors import BudgetExceeded, ConfigError
from glan.llm.base import ChatRequest
from glan.llm.budget import Budget
from glan.llm.cache import ResponseCache, usage_of
from glan.llm.client import LLMClient
from glan.llm.openai_compat import OpenAIOptions
from tests.fakes import FakeBackend
from tests.helpers import run, step_done
from tests.http_fakes import FakeOpenAIServer

PRICE = PriceConfig(input=100.0, output=100.0)  # $ per million tokens: a dear fake model


def test_reserve_settle_and_the_first_refusal_refuses_all() -> None:
    b = Budget(tokens=1000, spent_tokens=100)
    a = b.reserve(0.0, 500)
    assert a is not None and b.held_tokens == 500
    assert b.reserve(0.0, 401) is None  # 100 spent + 500 held + 401 > 1000
    assert b.reserve(0.0, 1) is None  # once refused, every call is
    b.settle(a, 0.0, 120)
    assert b.spent_tokens == 220 and b.held_tokens == 0 and b.inflight == 0
    msg = str(b.stop())
    assert msg.startswith("stopping: budget of 1,000 tokens reached (220 spent") and "budget.tokens" in msg


def test_usd_message_and_the_spend_of_earlier_invocations() -> None:
    usage = {
        "answers": {"m": {"calls": 3, "prompt_tokens": 1000, "completion_tokens": 2000, "cost_usd": 4.5}},
        "questions": {"cheap": {"calls": 1, "prompt_tokens": 10, "completion_tokens": 0, "cost_usd": 0.0}},
    }
    b = Budget.from_usage(5.0, None, usage, {"cheap": PriceConfig(input=1e6, output=0)}.get)
    assert b.spent_usd == pytest.approx(14.5) and b.spent_tokens == 3010  # unrecorded cost: priced now
    assert b.reserve(0.01, 10) is None
    assert str(b.stop()).startswith("stopping: budget of $5.00 reached ($14.50 spent")


def test_split_shares_the_remainder() -> None:
    parts = Budget(usd=10.0, tokens=None, spent_usd=4.0).split(3)
    assert [p.usd for p in parts] == [6.0, 6.0, 6.0] and all(p.tokens is None for p in parts)


async def test_a_refused_call_waits_for_the_calls_in_flight(tmp_path: Path) -> None:
    """Two calls fit, the third does not: it raises only once the two have answered and
    their answers are in the cache; nothing passes the budget."""

    class Slow(FakeBackend):
        async def chat(self, request: ChatRequest):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.05)
            return await super().chat(request)

    backend = Slow()
    req = [
        ChatRequest(model="m", messages=[{"role": "user", "content": f"q{i}"}], max_tokens=100)
        for i in range(3)
    ]
    budget = Budget(tokens=2 * req[0].estimated_tokens() + 10)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    opts = OpenAIOptions(base_url="http://127.0.0.1:9/v1", model="m", concurrency=3, adaptive=False)
    client = LLMClient.for_options(cache, opts, lambda: backend, budget=budget)
    try:
        first, second = (asyncio.create_task(client.complete(r)) for r in req[:2])
        await asyncio.sleep(0.01)
        with pytest.raises(BudgetExceeded):
            await client.complete(req[2])
        assert first.done() and second.done()  # the third raised only after they answered
        assert all(cache.has(r.key()) for r in req[:2]) and not cache.has(req[2].key())
    finally:
        await client.aclose()
        cache.close()
    assert len(backend.calls) == 2 and budget.spent_tokens <= budget.tokens  # type: ignore[operator]


def test_through_a_session_then_resumed_with_a_higher_budget(small_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    full = FakeBackend()
    run(small_config.model_copy(update={"run_dir": tmp_path / "full"}), full)
    total = len(full.calls)

    _, usage = usage_of(tmp_path / "full" / "cache.sqlite")
    used = sum(u["prompt_tokens"] + u["completion_tokens"] for m in usage.values() for u in m.values())
    # what the whole run used: its last calls are refused (each is estimated at max_tokens)
    cfg = small_config.model_copy(update={"budget": BudgetConfig(tokens=used)})
    first = FakeBackend()
    with pytest.raises(BudgetExceeded, match="budget.tokens"):
        run(cfg, first)
    assert 0 < len(first.calls) < total
    # the same budget again: what was spent counts, so it stops before any call
    again = FakeBackend()
    with pytest.raises(BudgetExceeded):
        run(cfg, again)
    assert again.calls == []
    rest = FakeBackend()
    run(small_config, rest)  # no budget
    assert {r.key() for r in rest.calls}.isdisjoint(r.key() for r in first.calls)
    assert len(first.calls) + len(rest.calls) == total
    assert step_done(small_config.run_dir, "answers")
    # a finished run needs no call: any budget lets it through (cache hits cost nothing)
    tiny = small_config.model_copy(update={"budget": BudgetConfig(tokens=1)})
    none = FakeBackend()
    run(tiny, none)
    assert none.calls == []


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


def glan_run(tmp_path: Path, base_url: str, run_dir: str, **top: object) -> tuple[int, str]:
    settings = {
        "run_dir": str(tmp_path / run_dir),
        "disciplines": ["Physics"],
        "subjects": {"samples": 6, "mode": "json"},
        "syllabi": {"min_sessions": 3, "max_sessions": 4},
        "questions": {"per_syllabus": 3},
        "llm": {
            "backend": "openai",
            "base_url": base_url,
            "model": "fake",
            "api_key_env": None,
            "concurrency": 4,
        },
        "prices": {"fake": PRICE.model_dump()},
        **top,
    }
    cfg = tmp_path / f"{run_dir}.yaml"
    cfg.write_text(json.dumps(settings))
    r = CliRunner().invoke(app, ["run", "-c", str(cfg), "-q"])
    return r.exit_code, r.output


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def spent_usd(run_dir: Path) -> float:
    usage = json.loads((run_dir / "manifest.json").read_text())["usage"]
    return sum(u["cost_usd"] for models in usage.values() for u in models.values())


def test_cli_stops_with_one_line_and_a_higher_budget_finishes(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    code, out = glan_run(tmp_path, server.base_url, "full")
    assert code == 0, out
    total, cost = server.count, spent_usd(tmp_path / "full")

    server.reset()
    code, out = glan_run(tmp_path, server.base_url, "run", budget={"usd": cost / 2})
    line = one_line(out)
    assert code == 2 and "stopping: budget of $" in line and "raise budget.usd" in line, out
    assert 0 < server.count < total
    assert spent_usd(tmp_path / "run") <= cost / 2  # stopped before it could pass the budget

    code, out = glan_run(tmp_path, server.base_url, "run", budget={"usd": cost * 100})
    assert code == 0, out
    assert server.count == total  # the rerun repeated no finished call
    assert spent_usd(tmp_path / "run") == pytest.approx(cost)


def test_a_usd_budget_without_a_price_fails_at_start(tmp_path: Path, server: FakeOpenAIServer) -> None:
    code, out = glan_run(tmp_path, server.base_url, "run", budget={"usd": 1.0}, prices={})
    assert code == 2 and "needs the price of model 'fake'" in one_line(out)
    assert server.count == 0
    with pytest.raises(ConfigError, match="budget"):
        load_config(None, ["budget.usd=2"])  # the local model pack has no price either
