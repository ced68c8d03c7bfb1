"""What a run tells whoever watches it. The core emits events; it never draws: the CLI's
rich progress bars (glan.cli.progress) subscribe, a library user may pass their own."""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass
class StageProgress:
    """One map step so far: jobs done of `total`, and what its calls have used."""

    stage: str
    total: int
    done: int = 0
    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None  # None: the model has no price
    concurrency: int | None = None  # the adaptive limit of calls in flight now (None: fixed)


class Events:
    """The events of a run; this base prints notes to stderr and shows no progress."""

    def started(self, progress: StageProgress) -> None:
        """A map step begins."""

    def advanced(self, progress: StageProgress) -> None:
        """A job of the step finished (`progress` is updated in place)."""

    def finished(self, progress: StageProgress) -> None:
        """The step's jobs are all done."""

    def note(self, text: str, style: str | None = None) -> None:
        """One line the user should read (failures recorded, outputs removed); plain text."""
        print(text, file=sys.stderr, flush=True)
