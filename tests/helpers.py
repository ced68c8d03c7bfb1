"""Helpers the test modules share: a whole run on a fake or real backend."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from glan.config import RunConfig
from glan.llm.base import Backend
from glan.session import Session


def run(cfg: RunConfig, backend: Backend | None = None, steps: Sequence[str] | None = None) -> dict[str, Any]:
    """The recipe's steps (all, or the commands or steps named) on `backend` (the config's
    own backend when None); the session's report."""

    async def go() -> dict[str, Any]:
        factory = {} if backend is None else {"backend_factory": lambda _llm: backend}
        async with Session(cfg, **factory) as session:
            return await session.run_steps(None if steps is None else tuple(steps))

    return asyncio.run(go())
