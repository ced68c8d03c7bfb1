"""Adaptive concurrency for one endpoint (one `llm:` section): how many calls may be in flight.

Self-hosted servers (vLLM, llama.cpp's server, SGLang) rarely answer 429 when overloaded: they
queue, swap or thrash, and every request slows down. So the limit follows two signals, in
rounds (a round: as many answers as the limit, at least `MIN_ROUND`, all sent under the
current limit, like TCP's once-per-round-trip rule):

- overload: a transient failure (429, 5xx, timeout, dropped connection) of a call sent under
  the current limit cuts it in half at once; later failures of calls sent before the cut do
  not cut again;
- latency: the round's median latency, per unit of work (`work`: a token of output, a
  prompt token an eighth of one), against the lowest round median seen (`base`). Up to
  `GROW_BELOW` x base the limit grows: doubling per round until the first cut (slow start),
  then by one per round. Above `CUT_ABOVE` x base it is cut by a quarter, unless the round
  still answers clearly more per second (limit / latency, Little's law) than the best round
  whose latency was flat: a server that batches (vLLM on a GPU) gets slower per request and
  faster overall, and there the limit keeps growing by one. In between it holds (or grows
  when more per second still comes). It grows only when the round used the whole limit.

The limit stays within [lo, hi]. At the floor `base` is measured anew (and slow start begins
again): a later stage's longer calls, which only looked slow, then let the limit climb again.
Time comes from `clock`, so the controller is tested without waiting; `acquire` is the asyncio
gate in front of each call.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CUT_ABOVE = 2.0  # latency this many times the base: the server is queueing, cut
GROW_BELOW = 1.5  # latency up to this many times the base: still flat enough to grow
OVERLOAD_CUT = 0.5  # the limit after an overload signal, as a share of the limit
LATENCY_CUT = 0.75  # the limit after a latency cut
PAYING = 1.1  # answers a second, over the best flat round's, that make a slower round worth it
MIN_ROUND = 3  # answers a round needs at least (one answer is no median)
PROMPT_WEIGHT = 1 / 8  # a prompt token costs a server about this share of an output token


def work_of(prompt_tokens: int, completion_tokens: int) -> float:
    """The units a call's latency is divided by: latencies of short and long replies compare."""
    if prompt_tokens <= 0 and completion_tokens <= 0:
        return 1.0  # a server that reports no usage: plain latency
    return 1.0 + completion_tokens + prompt_tokens * PROMPT_WEIGHT


@dataclass(frozen=True)
class Ticket:
    """A call let through: when, and under which limit (epoch) it was sent."""

    sent: float
    epoch: int


class AdaptiveConcurrency:
    """AIMD on overload and latency signals, between `lo` and `hi` calls in flight."""

    def __init__(self, lo: int, hi: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if not 1 <= lo <= hi:
            raise ValueError(f"need 1 <= lo <= hi (got lo={lo}, hi={hi})")
        self.lo = lo
        self.hi = hi
        self.clock = clock
        self.value = float(lo)  # the limit, fractional between rounds of additive growth
        self.threshold = float(hi)  # slow start (doubling) below it; set at every cut
        self.base: float | None = None  # lowest round median of latency per unit of work
        self.flat_rate = 0.0  # the most units a second of a round whose latency was flat
        self.inflight = 0
        self.epoch = 0
        self.samples: list[float] = []  # latencies per unit of the current epoch's calls
        self.busy = False  # the limit was reached during the current epoch
        self.cuts = 0
        self.peak = lo
        self._waiters: deque[asyncio.Future[Ticket]] = deque()

    @property
    def limit(self) -> int:
        return max(self.lo, min(self.hi, math.floor(self.value)))

    # -- the gate ------------------------------------------------------------------------

    def try_start(self) -> Ticket | None:
        """A ticket when a call may be sent now (counted in flight), else None."""
        if self._waiters or self.inflight >= self.limit:
            self.busy = True
            return None
        return self._start()

    async def acquire(self) -> Ticket:
        """Wait (first come, first served) until a call may be sent."""
        ticket = self.try_start()
        if ticket is not None:
            return ticket
        fut: asyncio.Future[Ticket] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # granted, then cancelled: give the slot back
                self.inflight -= 1
                self._wake()
            elif fut in self._waiters:  # else _wake already dropped it
                self._waiters.remove(fut)
            raise

    def _start(self) -> Ticket:
        self.inflight += 1
        if self.inflight >= self.limit:
            self.busy = True
        return Ticket(self.clock(), self.epoch)

    def _wake(self) -> None:
        while self._waiters and self.inflight < self.limit:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(self._start())

    # -- the signals ---------------------------------------------------------------------

    def succeeded(self, ticket: Ticket, work: float = 1.0) -> None:
        """A call answered; `work` (see work_of) normalises its latency."""
        self.inflight -= 1
        if ticket.epoch == self.epoch:
            self.samples.append((self.clock() - ticket.sent) / max(work, 1e-9))
            if len(self.samples) >= max(self.limit, MIN_ROUND):
                self._end_round()
        self._wake()

    def overloaded(self, ticket: Ticket) -> None:
        """A call failed as an overloaded server fails (429, 5xx, timeout): cut, once per round."""
        self.inflight -= 1
        if ticket.epoch == self.epoch:
            self._cut(OVERLOAD_CUT)
        self._wake()

    def released(self, ticket: Ticket) -> None:
        """A call ended without saying anything about load (a bad request, cancelled)."""
        self.inflight -= 1
        self._wake()

    def _end_round(self) -> None:
        median = statistics.median(self.samples)
        if self.base is None or median < self.base:
            self.base = median
        elif self.limit <= self.lo:  # at the floor what the server does is the new normal:
            self.base = median  # measured anew, and slow start again from there
            self.threshold = float(self.hi)
            self.flat_rate = 0.0
        rate = self.limit / max(median, 1e-12) if self.busy else 0.0  # units a second
        flat = median <= GROW_BELOW * self.base
        if flat:
            self.flat_rate = max(self.flat_rate, rate)
        paying = rate >= PAYING * self.flat_rate > 0
        if median > CUT_ABOVE * self.base and not paying:
            self._cut(LATENCY_CUT)
            return
        if self.busy and (flat or paying):
            if not flat:  # slower calls: probe one at a time, no more doubling
                self.threshold = min(self.threshold, self.value)
            if self.value < self.threshold:
                self.value = min(self.threshold, self.value * 2)
            else:
                self.value += 1.0
            self.value = min(self.value, float(self.hi))
            self.peak = max(self.peak, self.limit)
        self._next_round()

    def _cut(self, factor: float) -> None:
        self.cuts += 1
        self.value = max(float(self.lo), self.value * factor)
        self.threshold = self.value
        self._next_round()

    def _next_round(self) -> None:
        self.epoch += 1
        self.samples = []
        self.busy = self.inflight >= self.limit

    def summary(self) -> dict[str, Any]:
        """What the limit is and did (for the report): limit now, its bounds, peak, cuts."""
        return {"limit": self.limit, "min": self.lo, "max": self.hi, "peak": self.peak, "cuts": self.cuts}
