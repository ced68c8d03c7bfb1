"""The shape every clean step shares: a generator over records that reports what it drops."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from glan.atomic import JsonlWriter

Record = dict[str, Any]
_MAX_SHAPES = 10_000  # distinct instruction shapes remembered per step (bounds memory)
_EXAMPLES = 3


def shape(instruction: str) -> str:
    """An instruction reduced to its first two and last four words: pairs built from one
    template ("Explain what `X` does and when to use it.") share a shape."""
    words = instruction.split()
    return " ".join(words) if len(words) <= 6 else f"{' '.join(words[:2])} … {' '.join(words[-4:])}"


class Removed:
    """Where dropped records go: counted per step and reason, and written with why."""

    def __init__(self, writer: JsonlWriter | None = None) -> None:
        self.writer = writer
        self.counts: Counter[tuple[str, str]] = Counter()
        self.shapes: dict[str, Counter[str]] = {}
        self.examples: dict[str, list[str]] = {}

    def drop(self, rec: Record, step: str, reason: str, matched: Any = None) -> None:
        self.counts[(step, reason)] += 1
        self._remember(step, str(rec.get("instruction") or ""))
        if self.writer is not None:
            out = {k: v for k, v in rec.items() if not k.startswith("_")}
            out["step"] = step
            out["reason"] = reason
            out["matched"] = matched
            self.writer.write(out)

    def _remember(self, step: str, instruction: str) -> None:
        shapes = self.shapes.setdefault(step, Counter())
        key = shape(instruction)
        if key in shapes or len(shapes) < _MAX_SHAPES:
            shapes[key] += 1
        examples = self.examples.setdefault(step, [])
        if len(examples) < _EXAMPLES:
            examples.append(" ".join(instruction.split())[:120])

    def by_step(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (step, reason), n in sorted(self.counts.items()):
            out.setdefault(step, {})[reason] = n
        return out


class Step(Protocol):
    """A clean step: `run` yields the records it keeps and hands the others to `removed`."""

    name: str

    def run(self, records: Iterable[Record], removed: Removed) -> Iterator[Record]: ...


def run_steps(
    records: Iterable[Record], steps: list[Step], removed: Removed, seen: Counter[str] | None = None
) -> Iterator[Record]:
    """Chain the steps over the stream (lazily; nothing is held beyond each step's batch).
    `seen` counts the records each step read."""
    seen = seen if seen is not None else Counter()

    def counted(stream: Iterable[Record], name: str) -> Iterator[Record]:
        for rec in stream:
            seen[name] += 1
            yield rec

    stream: Iterable[Record] = records
    for step in steps:
        stream = step.run(counted(stream, step.name), removed)
    yield from stream
