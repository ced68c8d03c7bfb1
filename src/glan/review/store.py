"""RUN/review/ on disk: the base taxonomy, the log of actions, and the reviewed taxonomy.

    RUN/review/base.yaml        the taxonomy under review, frozen when the review began
    RUN/review/log.jsonl        every action: who, what, when (appended and fsynced before the
                                request is answered, so a crash or a closed tab loses nothing)
    RUN/review/taxonomy.yaml    the kept taxonomy under the decision rule, rewritten (temporary
                                name, then rename) after every action; a taxonomy file to run
    RUN/review/.lock            held while a `glan review` serves this run dir

A torn last line (a crash while appending) was never acknowledged: it is cut off on start.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from glan.errors import ConfigError
from glan.review.state import Review
from glan.store import write_text_atomic
from glan.taxonomy import Taxonomy, dump_taxonomy, parse_taxonomy


class ReviewStore:
    def __init__(self, run_root: Path) -> None:
        self.dir = run_root / "review"
        self.base = self.dir / "base.yaml"
        self.log = self.dir / "log.jsonl"
        self.taxonomy = self.dir / "taxonomy.yaml"
        self.run_taxonomy = self.dir / "run-taxonomy.yaml"
        self._lock: int | None = None

    def open(self, make_base: Callable[[], Taxonomy]) -> Review:
        """Lock the review, read (or freeze) its base and replay its log."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._hold()
        if self.base.is_file():
            base = parse_taxonomy(self.base.read_text(encoding="utf-8"), str(self.base))
        else:
            base = make_base()
            write_text_atomic(self.base, dump_taxonomy(base, "The taxonomy under review (glan review)."))
        review = Review(base)
        for event in self._events():
            review.apply(event)
        self.write_taxonomy(review)
        return review

    def close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _hold(self) -> None:
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 300).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise ConfigError(f"{self.dir} is open in another glan review ({holder})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._lock = fd

    def note_url(self, url: str) -> None:
        """Say in the lock file where this review is served (for a second `glan review`)."""
        if self._lock is not None:
            os.ftruncate(self._lock, 0)
            os.pwrite(self._lock, f"pid {os.getpid()}, at {url.split('?')[0]}".encode(), 0)

    def _events(self) -> list[dict[str, Any]]:
        if not self.log.is_file():
            return []
        data = self.log.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a torn append: never acknowledged, so never applied
            with self.log.open("r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())
        events = []
        for i, line in enumerate(data[:end].splitlines(), 1):
            try:
                events.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                raise ConfigError(f"{self.log}:{i}: not a JSON line; fix or remove that line") from None
        return events

    def commit(self, review: Review, event: dict[str, Any]) -> None:
        """Log the checked event durably, then apply it and rewrite the reviewed taxonomy."""
        event = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **event}
        with self.log.open("ab") as f:
            f.write(orjson.dumps(event) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        review.apply(event)
        self.write_taxonomy(review)

    def write_taxonomy(self, review: Review) -> None:
        kept = review.reviewed()
        removed = sum(1 for d in review.decisions().values() if d == "remove")
        who = ", ".join(review.reviewers) or "nobody yet"
        header = (
            f"Reviewed with glan review: rule {review.rule}, by {who}; nodes removed: {removed} "
            f"(who voted what, and when: {self.log.name})."
        )
        text = dump_taxonomy(kept, header) if kept else f"# {header}\n# Every node is removed.\n{{}}\n"
        write_text_atomic(self.taxonomy, text)
