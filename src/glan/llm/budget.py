"""A hard budget for a run (USD and/or tokens), checked before every call is sent.

A call is let through only when what the run directory has spent (every answer in its cache,
earlier invocations included), plus the estimates of the calls in flight, plus this call's
estimate stays within the budget. An estimate takes the reply at max_tokens and the prompt at
about four characters a token (ChatRequest.estimated_tokens), so a run stops before it could
pass the budget rather than after. Cache hits never reach the budget: they cost nothing.

Once a call is refused, no other is sent; the refused call waits until the calls in flight
have answered (their answers are cached) and then raises BudgetExceeded, which stops the run.
Raising the budget and running the same command resumes it from the cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from glan.errors import BudgetExceeded

if TYPE_CHECKING:
    from glan.config import PriceConfig

Usage = Mapping[str, Mapping[str, Mapping[str, float]]]  # stage -> model -> counts (cache.usage)


@dataclass(frozen=True)
class Hold:
    """What a call in flight has reserved."""

    usd: float
    tokens: float


class Budget:
    """USD and/or token limits (None: no limit) and what has been spent against them."""

    def __init__(
        self,
        usd: float | None = None,
        tokens: float | None = None,
        *,
        spent_usd: float = 0.0,
        spent_tokens: float = 0.0,
    ) -> None:
        self.usd = usd
        self.tokens = tokens
        self.spent_usd = spent_usd
        self.spent_tokens = spent_tokens
        self.held_usd = 0.0
        self.held_tokens = 0.0
        self.inflight = 0
        self.refused: str | None = None  # the limit ("usd", "tokens") that refused a call: all are now
        self._idle = asyncio.Event()
        self._idle.set()

    @classmethod
    def from_usage(
        cls,
        usd: float | None,
        tokens: float | None,
        usage: Usage,
        price_for: Callable[[str], PriceConfig | None],
    ) -> Budget:
        """A budget whose spend starts at a cache's usage table: the cost recorded with each
        answer, or, where none was recorded (no price then), the model's price now."""
        spent_usd = spent_tokens = 0.0
        for models in usage.values():
            for model, u in models.items():
                used = u.get("prompt_tokens", 0) + u.get("completion_tokens", 0)
                spent_tokens += used
                cost = u.get("cost_usd") or 0.0
                price = price_for(model)
                if not cost and price is not None:
                    cost = price.cost(u.get("prompt_tokens", 0), u.get("completion_tokens", 0))
                spent_usd += cost
        return cls(usd, tokens, spent_usd=spent_usd, spent_tokens=spent_tokens)

    def split(self, n: int) -> list[Budget]:
        """`n` budgets that together spend no more than this one's remainder: for clients in
        processes that cannot share one object (each checks its own share)."""
        if n < 1:
            raise ValueError("n must be at least 1")

        def share(limit: float | None, spent: float) -> float | None:
            return None if limit is None else spent + max(0.0, limit - spent) / n

        return [
            Budget(
                share(self.usd, self.spent_usd),
                share(self.tokens, self.spent_tokens),
                spent_usd=self.spent_usd,
                spent_tokens=self.spent_tokens,
            )
            for _ in range(n)
        ]

    def reserve(self, usd: float, tokens: float) -> Hold | None:
        """Hold `usd` and `tokens` for a call about to be sent; None when it would pass the
        budget (and from then on for every call)."""
        if self.refused is None:
            if self.usd is not None and self.spent_usd + self.held_usd + usd > self.usd:
                self.refused = "usd"
            elif self.tokens is not None and self.spent_tokens + self.held_tokens + tokens > self.tokens:
                self.refused = "tokens"
        if self.refused is not None:
            return None
        hold = Hold(usd, tokens)
        self.held_usd += usd
        self.held_tokens += tokens
        self.inflight += 1
        self._idle.clear()
        return hold

    def settle(self, hold: Hold, usd: float, tokens: float) -> None:
        """The call behind `hold` answered and cost `usd` and `tokens`."""
        self.spent_usd += usd
        self.spent_tokens += tokens
        self.cancel(hold)

    def cancel(self, hold: Hold) -> None:
        """The call behind `hold` ended without an answer (nothing is charged)."""
        self.held_usd -= hold.usd
        self.held_tokens -= hold.tokens
        self.inflight -= 1
        if self.inflight == 0:
            self.held_usd = self.held_tokens = 0.0  # no float dust left behind
            self._idle.set()

    async def drained(self) -> None:
        """Return once no call holds part of the budget (their answers are in the cache)."""
        while self.inflight:
            await self._idle.wait()

    def stop(self) -> BudgetExceeded:
        """The error that stops the run, naming the limit reached and what was spent."""
        if self.refused == "usd":
            assert self.usd is not None
            places = 2 if self.usd >= 1 else 4  # a budget of cents shows them
            limit, spent = f"${self.usd:,.{places}f}", f"${self.spent_usd:,.{places}f}"
            setting = "budget.usd"
        else:
            limit = f"{self.tokens:,.0f} tokens"
            spent, setting = f"{self.spent_tokens:,.0f}", "budget.tokens"
        return BudgetExceeded(
            f"stopping: budget of {limit} reached ({spent} spent, the next call could pass it); "
            f"finished calls are cached, raise {setting} and run the same command to resume"
        )
