"""Streaming readers and writers for pair files (JSONL or Parquet); user mistakes -> ConfigError."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from glan.errors import ConfigError
from glan.post.config import FieldMap
from glan.records import lineage_id

_PARQUET = (".parquet", ".pq")


def _check_exists(path: Path, what: str) -> None:
    if not path.exists():
        raise ConfigError(f"{what} not found: {path}")
    if path.is_dir():
        raise ConfigError(f"{what} is a directory, expected a file: {path}")


def _open_text(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def iter_rows(path: Path, what: str = "pairs file") -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or row number from 1, row) for every row of a JSONL(.gz), Parquet or CSV file."""
    path = Path(path)
    _check_exists(path, what)
    name = path.name.lower()
    if name.endswith(_PARQUET):
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise ConfigError(f"{path}: not a readable Parquet file ({exc})") from exc
        n = 0
        for batch in pf.iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                n += 1
                yield n, row
        return
    if name.endswith(".csv"):
        with path.open(newline="", encoding="utf-8") as fh:
            for n, row in enumerate(csv.DictReader(fh), start=1):
                yield n, row
        return
    with _open_text(path) as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{n}: malformed JSON line ({exc})") from exc
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
            yield n, row


def _text(row: dict[str, Any], key: str, path: Path, n: int, flag: str) -> str:
    if key not in row:
        names = ", ".join(sorted(row)[:12])
        raise ConfigError(
            f"{path}:{n}: no field '{key}' (fields here: {names}); name the right one with {flag}"
        )
    value = row[key]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{path}:{n}: field '{key}' is {type(value).__name__}, expected text")
    return value


def read_pairs(path: Path, fields: FieldMap | None = None) -> Iterator[dict[str, Any]]:
    """Pair records with canonical keys (id, instruction, input, response, finish_reason).

    Other keys of the row (field, discipline, subject, ...) pass through unchanged. A row
    without an id gets one derived from the file name and row number.
    """
    fm = fields or FieldMap()
    path = Path(path)
    rename = {fm.id: "id", fm.instruction: "instruction", fm.response: "response"}
    rename |= {fm.input: "input", fm.finish_reason: "finish_reason"}
    for n, row in iter_rows(path):
        rec: dict[str, Any] = {"id": None}
        rec.update((k, v) for k, v in row.items() if k not in rename)
        rid = row.get(fm.id)
        rec["id"] = str(rid) if rid is not None else lineage_id(path.name, n)
        rec["instruction"] = _text(row, fm.instruction, path, n, "--instruction-field")
        rec["response"] = _text(row, fm.response, path, n, "--response-field")
        extra = row.get(fm.input)
        if extra:
            rec["input"] = _text(row, fm.input, path, n, "--input-field")
        fr = row.get(fm.finish_reason)
        if fr is not None:
            rec["finish_reason"] = fr
        yield rec


class JsonlWriter:
    """Appends one JSON object per line; `_`-prefixed keys (step caches) are not written."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh = path.open("wb")
        self.count = 0

    def write(self, rec: dict[str, Any]) -> None:
        out = {k: v for k, v in rec.items() if not k.startswith("_")}
        self._fh.write(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
        self.count += 1

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
