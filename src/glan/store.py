"""The run directory: one JSONL file per stage, written as records arrive and renamed into
place when the stage completes; failures beside them; a manifest of what ran."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from glan.errors import ConfigError, first_error

M = TypeVar("M", bound=BaseModel)


class JsonlWriter:
    """Appends records to `path.partial`; `commit()` fsyncs and renames it to `path`.

    A run killed mid-stage leaves the finished file of the previous run untouched; the rerun
    rebuilds the stage from the response cache.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".partial")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = self.tmp.open("wb")
        self.count = 0

    def write(self, record: BaseModel) -> None:
        self._f.write(orjson.dumps(record.model_dump(mode="json")) + b"\n")
        self.count += 1

    def commit(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        os.replace(self.tmp, self.path)

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            self.commit()
        else:
            self._f.close()


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


def require(path: Path) -> None:
    """A step's input must exist; say which step makes it."""
    if not path.is_file():
        raise ConfigError(f"{path}: not found (run the step that writes it first)")


def count_lines(path: Path) -> int:
    require(path)
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


class RunDir:
    """Paths of one run's files."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def stage(self, name: str) -> Path:
        return self.root / f"{name}.jsonl"

    def failures(self, name: str) -> Path:
        return self.root / "failures" / f"{name}.jsonl"

    @property
    def cache(self) -> Path:
        return self.root / "cache.sqlite"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"
