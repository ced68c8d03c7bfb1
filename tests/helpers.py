"""Helpers the test modules share: a whole run on a fake or real backend."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from glan.config import RunConfig
from glan.llm.base import Backend
from glan.records import Failure
from glan.session import Session
from glan.shards import StepFolder
from glan.store import read_jsonl

M = TypeVar("M", bound=BaseModel)


def run(cfg: RunConfig, backend: Backend | None = None, steps: Sequence[str] | None = None) -> dict[str, Any]:
    """The recipe's steps (all, or the commands or steps named) on `backend` (the config's
    own backend when None); the session's report."""

    async def go() -> dict[str, Any]:
        factory = {} if backend is None else {"backend_factory": lambda _llm: backend}
        async with Session(cfg, **factory) as session:
            return await session.run_steps(None if steps is None else tuple(steps))

    return asyncio.run(go())


def step_records(run_dir: Path, name: str, model: type[M]) -> list[M]:
    """Every record of a step's folder of shards, in order."""
    return list(StepFolder(run_dir / name).records(model))


def step_bytes(run_dir: Path, name: str) -> bytes:
    """A step's records as one JSONL text: its shards' files in order."""
    folder = StepFolder(run_dir / name)
    return b"".join(folder.records_path(s.name).read_bytes() for s in folder.shards())


def step_failures(run_dir: Path, name: str) -> list[Failure]:
    """The failed jobs of a step, shard by shard (shards that ran; a finished step's all)."""
    folder = run_dir / name
    return [f for p in sorted(folder.glob("*.failures.jsonl")) for f in read_jsonl(p, Failure)]


def step_done(run_dir: Path, name: str) -> bool:
    """Whether the step finished in `run_dir` (its index is written)."""
    return StepFolder(run_dir / name).index() is not None
