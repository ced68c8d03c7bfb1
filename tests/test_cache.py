"""The response cache's group commit: the puts of one event-loop iteration share a commit made
before the loop runs anything else; outside a loop each put commits at once. Each response
carries what it cost; a commit that fails stops the next call."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import orjson
import pytest

from glan.config import PriceConfig
from glan.errors import GlanError
from glan.llm.base import ChatResponse
from glan.llm.cache import SPEND, UNTRACKED, ResponseCache, Spend, usage_of


def committed(path: Path) -> int:
    """Rows another process would see."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    finally:
        db.close()


def resp(i: int) -> ChatResponse:
    return ChatResponse(text=f"answer {i}", prompt_tokens=3, completion_tokens=5)


def test_a_lone_put_commits_at_once(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put("k1", resp(1))
    assert committed(tmp_path / "c.sqlite") == 1
    cache.put("k2", resp(2))  # no event loop: nothing to defer the commit to
    assert committed(tmp_path / "c.sqlite") == 2
    assert cache.add("k2", resp(9)) is False and cache.get("k2") == resp(2)
    cache.close()


async def test_puts_of_one_loop_iteration_share_a_commit(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    for i in range(100):
        cache.put(f"k{i}", resp(i))
    assert committed(path) == 0  # one commit, scheduled as the loop's next callback
    assert cache.get("k99") == resp(99) and len(cache) == 100  # visible to its own reader
    await asyncio.sleep(0)  # any await lets it run, before another request could be sent
    assert committed(path) == 100
    cache.put("late", resp(0))
    cache.close()  # closing commits what is pending; the scheduled commit then does nothing
    assert committed(path) == 101
    await asyncio.sleep(0)


def test_a_fresh_cache_answers_misses_from_its_bloom_filter(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    keys = [f"{i:064x}"[::-1] for i in range(2000)]
    for k in keys[:1000]:
        cache.put(k, resp(1))
    assert all(cache.get(k) == resp(1) for k in keys[:1000])  # no false negative
    assert sum(cache.get(k) is None for k in keys[1000:]) == 1000
    cache.close()
    reopened = ResponseCache(path)  # not empty at open: every lookup is a query
    assert reopened._seen is None and reopened.get(keys[5]) == resp(1) and reopened.get(keys[1500]) is None
    reopened.close()


def test_usage_is_stored_with_each_response(tmp_path: Path) -> None:
    price = PriceConfig(input=1.0, output=2.0, batch=0.5)
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put("loose", resp(0))  # stored outside any stage: not charged to one
    token = SPEND.set(Spend("answers", "gpt-x", lambda m: price if m == "gpt-x" else None))
    try:
        cache.put("k1", resp(1))
        cache.put("k2", resp(2))
    finally:
        SPEND.reset(token)
    token = SPEND.set(Spend("batch", price_for=lambda m: price, batch=True))
    try:
        assert cache.add(
            "k3", ChatResponse(text="b", model="served-name", prompt_tokens=100, completion_tokens=10)
        )
        assert not cache.add("k3", resp(9))  # imported before: counted once
    finally:
        SPEND.reset(token)
    cache.close()
    mark, usage = usage_of(tmp_path / "c.sqlite")  # what a new process reads back
    assert usage_of(tmp_path / "c.sqlite", known=(mark, "unchanged")) == (mark, "unchanged")
    assert usage_of(tmp_path / "c.sqlite", known=(mark - 1, "stale")) == (mark, usage)
    assert usage == {
        "answers": {"gpt-x": {"calls": 2, "prompt_tokens": 6, "completion_tokens": 10, "cost_usd": 2.6e-05}},
        "batch": {
            "served-name": {"calls": 1, "prompt_tokens": 100, "completion_tokens": 10, "cost_usd": 6e-05}
        },
    }


def test_a_cache_from_before_usage_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, body BLOB NOT NULL, created REAL NOT NULL)")
    body = ChatResponse(text="old", model="m", prompt_tokens=7, completion_tokens=3).model_dump()
    db.execute("INSERT INTO responses VALUES ('k', ?, 0)", (orjson.dumps(body),))
    db.commit()
    db.close()
    cache = ResponseCache(path)
    assert cache.get("k") == ChatResponse.model_validate(body)
    cache.put("new", resp(1))
    assert cache.usage() == {
        UNTRACKED: {"m": {"calls": 1, "prompt_tokens": 7, "completion_tokens": 3, "cost_usd": 0.0}}
    }
    cache.close()
    assert len(ResponseCache(path)) == 2  # opens again without migrating twice


async def test_a_failed_commit_is_raised_by_the_next_call(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    logged: list[dict] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: logged.append(ctx))
    real = cache._db

    class Full:
        in_transaction = property(lambda _self: real.in_transaction)

        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
            if sql == "COMMIT":
                raise sqlite3.OperationalError("database or disk is full")
            return real.execute(sql, *args)

        def close(self) -> None:
            real.close()

    cache._db = Full()  # type: ignore[assignment]
    cache.put("k1", resp(1))
    await asyncio.sleep(0)  # the scheduled commit fails here: nothing is logged, it is kept
    assert logged == []
    for call in (lambda: cache.get("k2"), lambda: cache.put("k2", resp(2)), cache.commit):
        with pytest.raises(
            GlanError, match=f"{path}: cannot save LLM answers \\(database or disk is full\\)"
        ):
            call()
    cache.close()  # does not try again
    assert committed(path) == 0
