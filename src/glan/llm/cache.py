"""Durable response cache: SQLite in WAL mode, request key -> response.

Each put commits at once, so a process killed at any moment loses only the calls in flight.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import orjson

from glan.llm.base import ChatResponse


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

    def get(self, key: str) -> ChatResponse | None:
        row = self._db.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return ChatResponse.model_validate(orjson.loads(row[0]))

    def put(self, key: str, response: ChatResponse) -> None:
        body = orjson.dumps(response.model_dump(mode="json"))
        self._db.execute(
            "INSERT OR REPLACE INTO responses (key, body, created) VALUES (?, ?, ?)",
            (key, body, time.time()),
        )

    def add(self, key: str, response: ChatResponse) -> bool:
        """Store a response unless the key has one already; whether it was stored."""
        body = orjson.dumps(response.model_dump(mode="json"))
        cur = self._db.execute(
            "INSERT OR IGNORE INTO responses (key, body, created) VALUES (?, ?, ?)", (key, body, time.time())
        )
        return cur.rowcount == 1

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._db.close()
