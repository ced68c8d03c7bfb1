"""Durable response cache: SQLite in WAL mode, request key -> response.

Inside an event loop, the puts of one loop iteration share one commit, made as the loop's
next callback: before any task sends another request, so a process killed with SIGKILL still
loses only the calls in flight (an answer waiting for that commit is one of them). Outside a
loop each put commits at once; closing the cache commits everything.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from pathlib import Path

import orjson

from glan.llm.base import ChatResponse

BLOOM_BITS = 1 << 26  # 8 MB: about 5 % false positives at 10M keys (then a query decides)


class ResponseCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses"
            " (key TEXT PRIMARY KEY, body BLOB NOT NULL, created REAL NOT NULL)"
        )
        self.hits = 0
        self.misses = 0
        # A cache that starts empty knows every key it holds: a Bloom filter of them answers
        # most misses (every call of a fresh run) without a query.
        empty = self._db.execute("SELECT 1 FROM responses LIMIT 1").fetchone() is None
        self._seen: bytearray | None = bytearray(BLOOM_BITS // 8) if empty else None
        self._commit_due = False
        self._open = True

    def _bloom(self, key: str, add: bool) -> bool:
        """Whether `key` may be here (and, with `add`, mark it)."""
        seen = self._seen
        assert seen is not None
        try:
            h = int(key[:21], 16)  # 84 bits of a sha256 hex key: three 26-bit positions
        except ValueError:  # any other key
            h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=11).digest(), "big")
        here = True
        for _ in range(3):
            bit = h & (BLOOM_BITS - 1)
            h >>= 26
            if add:
                seen[bit >> 3] |= 1 << (bit & 7)
            elif not seen[bit >> 3] >> (bit & 7) & 1:
                here = False
                break
        return here

    def get(self, key: str) -> ChatResponse | None:
        if self._seen is not None and not self._bloom(key, add=False):
            self.misses += 1
            return None
        row = self._db.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return ChatResponse.model_validate(orjson.loads(row[0]))

    def put(self, key: str, response: ChatResponse) -> None:
        self._write("INSERT OR REPLACE", key, orjson.dumps(response.model_dump()))

    def _write(self, verb: str, key: str, body: bytes) -> int:
        if self._seen is not None:
            self._bloom(key, add=True)
        db = self._db
        if not db.in_transaction:
            db.execute("BEGIN")
        n = db.execute(
            f"{verb} INTO responses (key, body, created) VALUES (?, ?, ?)", (key, body, time.time())
        ).rowcount
        if not self._commit_due:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.commit()
            else:
                self._commit_due = True
                loop.call_soon(self.commit)
        return n

    def commit(self) -> None:
        self._commit_due = False
        if self._open and self._db.in_transaction:
            self._db.execute("COMMIT")

    def add(self, key: str, response: ChatResponse) -> bool:
        """Store a response unless the key has one already; whether it was stored."""
        return self._write("INSERT OR IGNORE", key, orjson.dumps(response.model_dump())) == 1

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self.commit()
        self._open = False  # a commit still scheduled on the loop finds nothing to do
        self._db.close()
