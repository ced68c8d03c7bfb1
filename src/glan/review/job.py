"""The generation a review starts: `glan run` in a child process over the run taxonomy (the
kept disciplines that have data, plus the new and changed ones), its progress read from the
JSON events it prints. A child process holds the run dir's lock and its own signal handling,
as any `glan run` does; stopping it is Ctrl-C's SIGTERM: finished calls are cached."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

IDLE: dict[str, Any] = {"state": "idle", "by": None, "disciplines": [], "stage": None, "done": 0,
                        "total": 0, "stages": [], "message": None, "exit_code": None}  # fmt: skip


class Job:
    """One generation at a time; `snapshot()` is what the page shows."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self.on_change = on_change
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._stopped = False
        self.state: dict[str, Any] = {**IDLE, "stages": []}  # its own list: events append to it

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self.state))

    def start(self, argv: list[str], by: str, disciplines: list[str], cwd: Path | None = None) -> None:
        """Start `python -m glan ARGV --json-events` (the caller checked nothing runs)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "glan", *argv, "--json-events", "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True, env=env, cwd=cwd, start_new_session=True,
        )  # fmt: skip
        with self._lock:
            self._proc, self._stopped = proc, False
            self.state = {**IDLE, "stages": [], "state": "running", "by": by, "disciplines": disciplines}
        self.on_change()
        errors: deque[str] = deque(maxlen=20)
        drain = threading.Thread(target=lambda: errors.extend(proc.stderr or ()), daemon=True)
        drain.start()
        threading.Thread(target=self._follow, args=(proc, errors, drain), daemon=True).start()

    def stop(self) -> None:
        """SIGTERM the run (it stops as on Ctrl-C: its finished work is kept and cached)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._stopped = True
            proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float | None = None) -> None:
        if self._proc is not None:
            self._proc.wait(timeout)

    def _follow(self, proc: subprocess.Popen[str], errors: deque[str], drain: threading.Thread) -> None:
        for line in proc.stdout or ():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict):
                self._event(event)
        code = proc.wait()
        drain.join()
        last = [x.strip() for x in errors if x.strip()]
        with self._lock:
            done = "stopped" if self._stopped else "done" if code == 0 else "failed"
            self.state.update(state=done, exit_code=code, message=last[-1] if last else None)
        self.on_change()

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        with self._lock:
            if kind in ("started", "advanced", "finished"):
                row = {k: event.get(k) for k in ("stage", "done", "total", "calls", "cached")}
                stages = self.state["stages"]
                if stages and stages[-1]["stage"] == row["stage"]:
                    stages[-1] = row
                else:
                    stages.append(row)
                self.state.update(stage=row["stage"], done=row["done"], total=row["total"])
            elif kind == "note":
                self.state["message"] = str(event.get("text", ""))[:500]
            else:
                return
        self.on_change()
