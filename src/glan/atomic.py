"""Outputs written to a temporary name, fsynced and renamed into place: a reader (or a rerun
after a kill) sees the previous file or the new one, never half of one."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from pydantic import BaseModel

_PARTIAL = ".partial"


def _dumps(rec: dict[str, Any]) -> bytes:
    # default=str: a Parquet input may carry decimals, bytes or dates in pass-through columns
    return orjson.dumps(rec, default=str, option=orjson.OPT_SERIALIZE_NUMPY)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary sibling, fsync it and rename it over `path`."""
    tmp = path.with_name(path.name + _PARTIAL)
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def jsonl_line(rec: BaseModel | dict[str, Any]) -> bytes:
    """One record as a JSONL line (keys starting with `_`, caches of the post steps, left out)."""
    if isinstance(rec, BaseModel):
        data = rec.model_dump(mode="json")
    else:
        data = {k: v for k, v in rec.items() if not k.startswith("_")}
    return _dumps(data) + b"\n"


class JsonlWriter:
    """One JSON object per line (a pydantic record or a dict), written to `path.partial`.

    On a clean exit (or `commit()`) the file is fsynced and renamed to `path`; on an error (or
    `abort()`) it is removed, so the finished file of an earlier run stays as it was. Dict keys
    that start with `_` (caches of the post steps) are not written.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(path.name + _PARTIAL)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.tmp.open("wb")
        self._sha = hashlib.sha256()
        self.count = 0

    def write(self, rec: BaseModel | dict[str, Any]) -> None:
        line = jsonl_line(rec)
        self._fh.write(line)
        self._sha.update(line)
        self.count += 1

    @property
    def digest(self) -> str:
        """sha256 of the lines written so far (a shard's content, without reading it back)."""
        return self._sha.hexdigest()

    def commit(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self._fh.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            self.commit()
        else:
            self.abort()
