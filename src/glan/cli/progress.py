"""The CLI's view of a run: rich progress bars and notes, subscribed to glan.events."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from glan.events import Events, StageProgress


def _count(n: float) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else f"{n:.0f}"


def describe(p: StageProgress) -> str:
    """'calls 12 cached 3 tokens 4.1k>1.2k $0.0042 in flight 9' for a step so far."""
    info = f"calls {p.calls} cached {p.cached} tokens {_count(p.prompt_tokens)}>{_count(p.completion_tokens)}"
    if p.cost_usd is not None:
        info += f" ${p.cost_usd:.4f}"
    return info if p.concurrency is None else f"{info} in flight {p.concurrency}"


class RichEvents(Events):
    """A progress bar per map step (none with `show_progress=False`), notes on `console`."""

    def __init__(self, console: Console, show_progress: bool = True) -> None:
        self.console = console
        self.show_progress = show_progress
        self._bars: Progress | None = None
        self._task: TaskID | None = None

    def started(self, progress: StageProgress) -> None:
        if not self.show_progress:
            return
        self._bars = Progress(
            TextColumn("[bold]{task.description:<15}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._bars.start()
        self._task = self._bars.add_task(progress.stage, total=progress.total, info="")

    def advanced(self, progress: StageProgress) -> None:
        if self._bars is not None and self._task is not None:
            self._bars.update(self._task, completed=progress.done, info=describe(progress))

    def finished(self, progress: StageProgress) -> None:
        if self._bars is not None:
            self.advanced(progress)
            self._bars.stop()
            self._bars = self._task = None

    def note(self, text: str, style: str | None = None) -> None:
        # soft_wrap: a long note (a path) stays one line for the terminal to wrap, unbroken
        self.console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


class JsonEvents(Events):
    """One JSON object a line on `stream` per event, for a program that drives glan (the
    review app): started / advanced (at most every `every` seconds a step) / finished / note."""

    def __init__(self, stream: TextIO, every: float = 0.25) -> None:
        self.stream, self.every = stream, every
        self._last = 0.0

    def _emit(self, event: str, **data: object) -> None:
        self.stream.write(json.dumps({"event": event, **data}) + "\n")
        self.stream.flush()

    def started(self, progress: StageProgress) -> None:
        self._last = 0.0
        self._emit("started", **asdict(progress))

    def advanced(self, progress: StageProgress) -> None:
        if (now := time.monotonic()) - self._last >= self.every:
            self._last = now
            self._emit("advanced", **asdict(progress))

    def finished(self, progress: StageProgress) -> None:
        self._emit("finished", **asdict(progress))

    def note(self, text: str, style: str | None = None) -> None:
        self._emit("note", text=text, style=style)
