"""The shape every clean step shares: a generator over records that reports what it drops."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, Protocol

from glan.post.io import JsonlWriter

Record = dict[str, Any]


class Removed:
    """Where dropped records go: counted per step and reason, and written with why."""

    def __init__(self, writer: JsonlWriter | None = None) -> None:
        self.writer = writer
        self.counts: Counter[tuple[str, str]] = Counter()

    def drop(self, rec: Record, step: str, reason: str, matched: Any = None) -> None:
        self.counts[(step, reason)] += 1
        if self.writer is not None:
            out = {k: v for k, v in rec.items() if not k.startswith("_")}
            out["step"] = step
            out["reason"] = reason
            out["matched"] = matched
            self.writer.write(out)

    def by_step(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (step, reason), n in sorted(self.counts.items()):
            out.setdefault(step, {})[reason] = n
        return out


class Step(Protocol):
    """A clean step: `run` yields the records it keeps and hands the others to `removed`."""

    name: str

    def run(self, records: Iterable[Record], removed: Removed) -> Iterator[Record]: ...


def batched(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    it = iter(records)
    while batch := list(islice(it, size)):
        yield batch


def run_steps(records: Iterable[Record], steps: list[Step], removed: Removed) -> Iterator[Record]:
    """Chain the steps over the stream (lazily; nothing is held beyond each step's batch)."""
    stream: Iterable[Record] = records
    for step in steps:
        stream = step.run(stream, removed)
    yield from stream
