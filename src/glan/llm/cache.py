"""Durable response cache: SQLite in WAL mode, request key -> response, and what it cost.

Inside an event loop, the puts of one loop iteration share one commit, made as the loop's
next callback: before any task sends another request, so a process killed with SIGKILL still
loses only the calls in flight (an answer waiting for that commit is one of them). Outside a
loop each put commits at once; closing the cache commits everything.

Each response is stored with the stage and model it is charged to, its tokens and its cost
(see `Spend`), so the run's usage is a query over the cache: it survives `kill -9` exactly
as the answers do. A commit that fails (a full disk) is raised by the next get or put, in the
task that made it, so the run stops instead of going on without saving its answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from glan.errors import ConfigError, GlanError
from glan.llm.base import ChatResponse

if TYPE_CHECKING:
    from glan.config import PriceConfig

BLOOM_BITS = 1 << 26  # 8 MB: about 5 % false positives at 10M keys (then a query decides)
UNTRACKED = "untracked"  # the usage stage of responses cached before usage was recorded
# Added to caches made before usage was recorded; their rows get tokens and model from the body.
_USAGE_COLUMNS = (
    ("stage", "TEXT"),
    ("model", "TEXT"),
    ("prompt_tokens", "INTEGER"),
    ("completion_tokens", "INTEGER"),
    ("cost_usd", "REAL"),
)


@dataclass(frozen=True)
class Spend:
    """Whom the responses stored while it is set (in SPEND) are charged to."""

    stage: str
    model: str | None = None  # the name usage is kept under; None: the response's own model
    price_for: Callable[[str], PriceConfig | None] | None = None
    batch: bool = False  # at the price's Batch API rate

    def row(self, resp: ChatResponse) -> tuple[str, str, int, int, float | None]:
        model = self.model or resp.model or "?"
        price = self.price_for(model) if self.price_for is not None else None
        cost = None
        if price is not None:
            cost = price.cost(resp.prompt_tokens, resp.completion_tokens) * (price.batch if self.batch else 1)
        return (self.stage, model, resp.prompt_tokens, resp.completion_tokens, cost)


# Set by whoever runs a stage (a context variable: the stage's tasks inherit it).
SPEND: ContextVar[Spend | None] = ContextVar("glan_spend", default=None)


class ResponseCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.hits = 0
        self.misses = 0
        self.stored = 0  # responses this process added
        self._broken: GlanError | None = None  # a failed commit, raised by the next get or put
        self._commit_due = False
        self._open = False
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._open = True
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            columns = "".join(f", {name} {kind}" for name, kind in _USAGE_COLUMNS)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses"
                f" (key TEXT PRIMARY KEY, body BLOB NOT NULL, created REAL NOT NULL{columns})"
            )
            self._migrate()
            # A cache that starts empty knows every key it holds: a Bloom filter of them answers
            # most misses (every call of a fresh run) without a query.
            empty = self._db.execute("SELECT 1 FROM responses LIMIT 1").fetchone() is None
        except sqlite3.Error as e:
            if self._open:  # closed without a commit: a half-done migration is rolled back
                self._open = False
                self._db.close()
            raise ConfigError(
                f"{path}: cannot use it as the response cache ({e}); if it is damaged, move it "
                "aside (the next run then asks every call again)"
            ) from None
        self._seen: bytearray | None = bytearray(BLOOM_BITS // 8) if empty else None

    def _migrate(self) -> None:
        have = {row[1] for row in self._db.execute("PRAGMA table_info(responses)")}
        missing = [(name, kind) for name, kind in _USAGE_COLUMNS if name not in have]
        if not missing:
            return
        self._db.execute("BEGIN")
        for name, kind in missing:
            self._db.execute(f"ALTER TABLE responses ADD COLUMN {name} {kind}")
        self._db.execute(
            "UPDATE responses SET stage = ?,"
            " model = coalesce(json_extract(CAST(body AS TEXT), '$.model'), '?'),"
            " prompt_tokens = json_extract(CAST(body AS TEXT), '$.prompt_tokens'),"
            " completion_tokens = json_extract(CAST(body AS TEXT), '$.completion_tokens')"
            " WHERE stage IS NULL",
            (UNTRACKED,),
        )
        self._db.execute("COMMIT")

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

    def _error(self, e: Exception, doing: str) -> GlanError:
        return GlanError(
            f"{self.path}: cannot {doing} ({e}); free disk space or fix the file, then run the "
            "same command to resume"
        )

    def _query(self, sql: str, args: tuple[object, ...] = ()) -> tuple | None:
        if self._broken is not None:
            raise self._broken
        try:
            return self._db.execute(sql, args).fetchone()
        except sqlite3.Error as e:
            raise self._error(e, "read the response cache") from None

    def get(self, key: str) -> ChatResponse | None:
        if self._broken is not None:
            raise self._broken
        if self._seen is not None and not self._bloom(key, add=False):
            self.misses += 1
            return None
        row = self._query("SELECT body FROM responses WHERE key = ?", (key,))
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return ChatResponse.model_validate(orjson.loads(row[0]))

    def has(self, key: str) -> bool:
        if self._seen is not None and not self._bloom(key, add=False):
            return False
        return self._query("SELECT 1 FROM responses WHERE key = ?", (key,)) is not None

    def put(self, key: str, response: ChatResponse) -> None:
        self._write("INSERT OR REPLACE", key, response)

    def add(self, key: str, response: ChatResponse) -> bool:
        """Store a response unless the key has one already; whether it was stored."""
        return self._write("INSERT OR IGNORE", key, response) == 1

    def _write(self, verb: str, key: str, response: ChatResponse) -> int:
        if self._broken is not None:
            raise self._broken
        spend = SPEND.get()
        usage = spend.row(response) if spend is not None else (None, response.model, None, None, None)
        db = self._db
        try:
            if not db.in_transaction:
                db.execute("BEGIN")
            n = db.execute(
                f"{verb} INTO responses (key, body, created, stage, model, prompt_tokens,"
                " completion_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (key, orjson.dumps(response.model_dump()), time.time(), *usage),
            ).rowcount
        except sqlite3.Error as e:
            self._broken = self._error(e, "save LLM answers")
            raise self._broken from None
        if self._seen is not None:
            self._bloom(key, add=True)
        self.stored += n
        if not self._commit_due:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.commit()
            else:
                self._commit_due = True
                loop.call_soon(self._commit_soon)
        return n

    def _commit_soon(self) -> None:
        with contextlib.suppress(GlanError):  # kept in _broken: the next get or put raises it
            self.commit()

    def commit(self) -> None:
        self._commit_due = False
        if self._broken is not None:
            raise self._broken
        if self._open and self._db.in_transaction:
            try:
                self._db.execute("COMMIT")
            except (sqlite3.Error, OSError) as e:
                self._broken = self._error(e, "save LLM answers")
                raise self._broken from None

    def usage(self) -> dict[str, dict[str, dict[str, float]]]:
        """stage -> model -> {calls, prompt_tokens, completion_tokens, cost_usd} of every
        response stored (answers that arrived; failed attempts cost nothing here)."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        try:
            rows = self._db.execute(
                "SELECT stage, model, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(cost_usd)"
                " FROM responses WHERE stage IS NOT NULL GROUP BY stage, model ORDER BY stage, model"
            ).fetchall()
        except sqlite3.Error as e:
            raise self._error(e, "read the response cache") from None
        for stage, model, calls, prompt, completion, cost in rows:
            out.setdefault(stage, {})[model] = {
                "calls": calls,
                "prompt_tokens": prompt or 0,
                "completion_tokens": completion or 0,
                "cost_usd": round(cost or 0.0, 6),
            }
        return out

    def mark(self) -> int:
        """The rowid of the newest response: it grows with every response stored (a replaced
        one too), so an unchanged mark means an unchanged cache."""
        row = self._query("SELECT max(rowid) FROM responses")
        return (row[0] if row else None) or 0

    def __len__(self) -> int:
        row = self._query("SELECT COUNT(*) FROM responses")
        assert row is not None
        return row[0]

    def close(self) -> None:
        """Commit what is pending (raising if that fails) and close."""
        if not self._open:
            return
        try:
            if self._broken is None:
                self.commit()
        finally:
            self._open = False  # a commit still scheduled on the loop finds nothing to do
            self._db.close()


def usage_of(
    path: Path, cache: ResponseCache | None = None, known: tuple[int, Any] | None = None
) -> tuple[int, dict[str, dict[str, dict[str, float]]]]:
    """(mark, usage table) of a cache file ((0, {}) when there is none), through `cache` when
    it is open. `known` is an earlier (mark, usage): reused while the mark, the newest row's
    rowid, is the same (nothing stored since), so a rerun never scans a cache of millions."""
    if cache is None and not path.is_file():
        return 0, {}
    own = cache is None
    cache = cache or ResponseCache(path)
    try:
        mark = cache.mark()
        if known is not None and known[0] == mark:
            return known
        return mark, cache.usage()
    finally:
        if own:
            cache.close()
