"""The response cache's group commit: the puts of one event-loop iteration share a commit made
before the loop runs anything else; outside a loop each put commits at once."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from glan.llm.base import ChatResponse
from glan.llm.cache import ResponseCache


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
