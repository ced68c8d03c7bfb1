"""Client-side rate limits of one endpoint: requests and tokens per minute (token buckets),
pauses from `Retry-After`, and the `x-ratelimit-*` headers OpenAI-style servers send.

Each bucket holds at most one second of its rate (providers enforce per-minute limits in
sub-minute slices), so in any window of T seconds an endpoint gets at most
`rate * (T + 1 s)` requests plus the one request that may overdraw the token bucket.
A request is charged its estimated tokens up front (prompt + max_tokens, as OpenAI counts
them) and refunded the difference once the real usage is known.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections.abc import Awaitable, Callable, Mapping

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str | None) -> float | None:
    """'1s', '6m0s', '20ms', '0.5' (seconds) -> seconds; None for anything else."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms`, `Retry-After` (seconds or an HTTP date)."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Bucket:
    """A token bucket refilled at `per_minute / 60` a second, holding at most one second's
    worth (at least one request's need, so a big request is never stuck)."""

    def __init__(self, per_minute: float, now: float | None = None) -> None:
        self.set_rate(per_minute)
        self.level = self.capacity
        self.stamp = time.monotonic() if now is None else now

    def set_rate(self, per_minute: float) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)

    def _refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_s(self, need: float, now: float) -> float:
        """Seconds until `need` may be taken (need above capacity waits for a full bucket)."""
        self._refill(now)
        need = min(need, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, amount: float) -> None:
        self.level -= amount  # may go below zero: the debt delays later requests

    def give(self, amount: float) -> None:
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Requests/tokens per minute for one endpoint, plus server-requested pauses.

    With no limits configured and no pause in force, `acquire` returns at once (no lock,
    no sleep): the fast path costs a few attribute reads per request. `clock` and `sleep`
    are injectable so the schedule can be tested without real time.
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.requests = Bucket(rpm, clock()) if rpm else None
        self.tokens = Bucket(tpm, clock()) if tpm else None
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    @property
    def limited(self) -> bool:
        return self.requests is not None or self.tokens is not None

    def pause(self, seconds: float) -> None:
        """Send nothing to this endpoint for `seconds` (a 429's Retry-After, a reset)."""
        self.paused_until = max(self.paused_until, self.clock() + seconds)

    async def acquire(self, tokens: float = 0.0) -> None:
        """Wait until one request estimated at `tokens` may be sent, and charge it."""
        if not self.limited and self.clock() >= self.paused_until:
            return
        async with self._lock:  # FIFO: waiters go in the order they came
            while True:
                now = self.clock()
                wait = self.paused_until - now
                if self.requests is not None:
                    wait = max(wait, self.requests.wait_s(1.0, now))
                if self.tokens is not None:
                    wait = max(wait, self.tokens.wait_s(tokens, now))
                if wait <= 1e-9:  # float rounding: a wait of 1e-17 s would not move a clock
                    break
                await self.sleep(wait)
            if self.requests is not None:
                self.requests.take(1.0)
            if self.tokens is not None:
                self.tokens.take(tokens)

    def settle(self, estimated: float, used: float) -> None:
        """Refund (or charge) the difference between a request's estimate and its usage."""
        if self.tokens is not None and used > 0:
            if used < estimated:
                self.tokens.give(estimated - used)
            else:
                self.tokens.take(used - estimated)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Follow the server's `x-ratelimit-*` headers: adopt a stricter limit than the
        configured one, and pause until the reset when a budget is spent."""
        for kind in ("requests", "tokens"):
            limit = _number(headers, f"x-ratelimit-limit-{kind}")
            if limit is not None and limit > 0:
                bucket = getattr(self, kind)
                if bucket is None:
                    setattr(self, kind, Bucket(limit, self.clock()))
                elif limit < bucket.per_minute:
                    bucket.set_rate(limit)
            remaining = _number(headers, f"x-ratelimit-remaining-{kind}")
            if remaining is not None and remaining <= 0:
                reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
                self.pause(reset if reset is not None else 1.0)
