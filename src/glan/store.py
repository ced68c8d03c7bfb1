"""The run directory: one JSONL file per stage, written as records arrive and renamed into
place when the stage completes; failures beside them; a manifest of what ran; a lock held by
the one command that writes it."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from glan.atomic import JsonlWriter as JsonlWriter  # re-exported: the run steps write with it
from glan.atomic import write_atomic
from glan.errors import ConfigError, first_error

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of `size` (the last one shorter), read lazily."""
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def read_jsonl(path: Path, model: type[M]) -> Iterator[M]:
    """Stream records of `model` from a JSONL file; a bad line is a ConfigError naming it."""
    require(path)
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield model.model_validate(orjson.loads(line))
            except (orjson.JSONDecodeError, ValidationError) as e:
                msg = first_error(e) if isinstance(e, ValidationError) else str(e).splitlines()[0]
                raise ConfigError(f"{path}:{n}: {msg}") from None


def read_dicts(*paths: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of glan's own JSONL files, in order, unvalidated (for counting); a
    path that does not exist holds none."""
    for path in paths:
        if path.is_file():
            with path.open("rb") as f:
                yield from (orjson.loads(line) for line in f if line.strip())


def require(path: Path) -> None:
    """A step's input must exist; say which step makes it."""
    if not path.is_file():
        raise ConfigError(f"{path}: not found (run the step that writes it first)")


def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to a temporary name, fsync it, then rename it into place."""
    write_atomic(path, text.encode())


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


class RunDir:
    """Paths of one run's files, and the lock a command holds while it writes them."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def stage(self, name: str) -> Path:
        """A step's folder of shards (glan.shards)."""
        return self.root / name

    @property
    def cache(self) -> Path:
        return self.root / "cache.sqlite"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def clean(self) -> Path:
        return self.root / "clean"

    def prepare(self) -> Path:
        """Create the run dir (and its parents); a file in the way or a folder glan cannot
        write in is a ConfigError naming it. Returns the resolved path."""
        root = self.root
        try:
            for p in (root, *root.parents):  # the first that exists must be a folder
                if p.exists():
                    if not p.is_dir():
                        raise ConfigError(f"run_dir {root}: {p} is a file, not a folder")
                    break
            root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"run_dir {root}: cannot create it ({e.strerror})") from None
        if not os.access(root, os.W_OK | os.X_OK):
            raise ConfigError(f"run_dir {root}: not writable")
        return root.resolve()

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold RUN/.lock (flock) while a command writes the run dir: a second command on the
        same dir stops with a ConfigError naming the holder. Re-entrant within a process; the
        kernel drops it when the process dies, so a stale lock never blocks. The outermost
        hold also turns SIGTERM into Ctrl-C (see sigterm_as_interrupt)."""
        root = self.prepare()
        if root in _HELD:
            _HELD[root] += 1
            try:
                yield
            finally:
                _HELD[root] -= 1
            return
        try:
            fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ConfigError(f"run_dir {self.root}: cannot write in it ({e.strerror})") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
                raise ConfigError(
                    f"run dir {self.root} is in use by {holder}; wait for it to end or stop it"
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} (started {time.strftime('%Y-%m-%d %H:%M:%S')})\n".encode())
            _HELD[root] = 1
            try:
                with sigterm_as_interrupt():
                    yield
            finally:
                del _HELD[root]
        finally:
            os.close(fd)  # releases the lock

    def read_manifest(self) -> dict[str, Any]:
        """manifest.json, or {} when there is none. One that does not parse is a ConfigError:
        it is never overwritten silently (move it aside; the next run writes a new one, with
        usage recounted from the cache)."""
        path = self.manifest
        if not path.exists():
            return {}
        try:
            data = orjson.loads(path.read_bytes())
        except OSError as e:
            raise ConfigError(f"{path}: cannot read it ({e.strerror})") from None
        except orjson.JSONDecodeError as e:
            why = f"not valid JSON ({str(e).splitlines()[0]})"
        else:
            parts = ("steps", "usage")
            if isinstance(data, dict) and all(isinstance(data.get(k, {}), dict) for k in parts):
                return data
            why = "not a glan manifest"
        raise ConfigError(
            f"{path}: {why}; move it aside to go on (the next run writes a new one, with usage "
            "recounted from the cache)"
        )


LOCK_FILE = ".lock"
_HELD: dict[Path, int] = {}  # run dirs this process holds the lock of -> depth


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While it is held, SIGTERM does what Ctrl-C does (inside asyncio.run: cancel the main
    task, so `finally` blocks write the manifest, then KeyboardInterrupt -> exit 130)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, frame: FrameType | None) -> None:
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
