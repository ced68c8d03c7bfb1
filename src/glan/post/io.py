"""Streaming readers for pair files; every way a user's file can be
unreadable (missing, a folder, not UTF-8, a broken gzip or Parquet, a bad line) becomes one
ConfigError naming the file and, where there is one, the line."""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from glan.errors import ConfigError
from glan.post.config import FieldMap
from glan.records import lineage_id
from glan.shards import INDEX, StepFolder

_PARQUET = (".parquet", ".pq")
_BOM = b"\xef\xbb\xbf"


def _check_exists(path: Path, what: str) -> None:
    if not path.exists():
        raise ConfigError(f"{what} not found: {path}")
    if path.is_dir():
        raise ConfigError(f"{what} is a directory, expected a file: {path}")


def _open_bytes(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    n = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            n += 1
            yield n, row


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with io.TextIOWrapper(_open_bytes(path), encoding="utf-8-sig", newline="") as fh:
        # surplus cells go under one named key (csv's default key None breaks sorting names)
        yield from enumerate(csv.DictReader(fh, restkey="(extra cells)"), start=1)


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with _open_bytes(path) as fh:
        for n, line in enumerate(fh, start=1):
            if n == 1 and line.startswith(_BOM):
                line = line[len(_BOM) :]
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{n}: malformed JSON line ({exc})") from None
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{n}: expected a JSON object, got {type(row).__name__}")
            yield n, row


def iter_rows(path: Path, what: str = "pairs file") -> Iterator[tuple[int, dict[str, Any]]]:
    """(line or row number from 1, row) for every row of a JSONL, CSV (either .gz) or Parquet
    file, or of the shards of a glan step's folder (RUN/answers)."""
    import pyarrow as pa

    path = Path(path)
    if path.is_dir() and (path / INDEX).is_file():  # a glan step's folder: its shards in order
        folder = StepFolder(path)
        for shard in folder.shards():
            yield from iter_rows(folder.records_path(shard.name), what)
        return
    _check_exists(path, what)
    name = path.name.lower()
    if name.endswith(_PARQUET):
        rows, kind = _parquet_rows(path), "Parquet"
    elif name.endswith((".csv", ".csv.gz")):
        rows, kind = _csv_rows(path), "CSV"
    else:
        rows, kind = _jsonl_rows(path), "JSONL"
    n = 0
    try:
        for n, row in rows:
            yield n, row
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text near row {n + 1} ({exc.reason})") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ConfigError(f"{path}: not a readable gzip file ({exc})") from None
    except csv.Error as exc:
        raise ConfigError(f"{path}: not a readable CSV file near row {n + 1} ({exc})") from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        if kind != "Parquet" and not isinstance(exc, pa.ArrowException):
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: not a readable {kind} file ({first})") from None


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


_ROLES = ("system", "user", "assistant")


def _turns(value: Any, key: str, path: Path, n: int) -> list[dict[str, str]]:
    """A conversation as [{role, content}, ...]: it must end with an assistant turn that
    answers a user turn (the exchange that filters, dedup and decontamination look at)."""
    where = f"{path}:{n}: field '{key}'"
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where} must be a non-empty list of {{role, content}} turns")
    turns = []
    for i, t in enumerate(value):
        role = t.get("role") if isinstance(t, dict) else None
        content = t.get("content") if isinstance(t, dict) else None
        if role not in _ROLES or not isinstance(content, str):
            got = f"role {role!r}" if role not in _ROLES else f"content of type {type(content).__name__}"
            raise ConfigError(
                f"{where}, turn {i + 1}: expected {{role: system|user|assistant, content: text}}, got {got}"
            )
        turns.append({"role": role, "content": content})
    if turns[-1]["role"] != "assistant" or not any(t["role"] == "user" for t in turns):
        raise ConfigError(f"{where}: a conversation must end with an assistant turn after a user turn")
    return turns


def read_pairs(path: Path, fields: FieldMap | None = None) -> Iterator[dict[str, Any]]:
    """Pair records with canonical keys (id, instruction, input, response, finish_reason, and
    messages for a conversation).

    Other keys of the row (method, field, discipline, subject, ...) pass through unchanged. A
    row without an id gets one derived from the file name and row number. A row with
    `messages` (a list of {role, content} turns) is a conversation: its instruction and
    response are its last user and assistant turns.
    """
    fm = fields or FieldMap()
    path = Path(path)
    rename = {fm.id: "id", fm.instruction: "instruction", fm.response: "response"}
    rename |= {fm.input: "input", fm.finish_reason: "finish_reason", fm.messages: "messages"}
    for n, row in iter_rows(path):
        rec: dict[str, Any] = {"id": None}
        rec.update((k, v) for k, v in row.items() if k not in rename)
        rid = row.get(fm.id)
        rec["id"] = str(rid) if rid is not None else lineage_id(path.name, n)
        if row.get(fm.messages) is not None:
            turns = rec["messages"] = _turns(row[fm.messages], fm.messages, path, n)
            rec["instruction"] = next(t["content"] for t in reversed(turns) if t["role"] == "user")
            rec["response"] = turns[-1]["content"]
        else:
            rec["instruction"] = _text(row, fm.instruction, path, n, "--instruction-field")
            rec["response"] = _text(row, fm.response, path, n, "--response-field")
            extra = row.get(fm.input)
            if extra:
                rec["input"] = _text(row, fm.input, path, n, "--input-field")
        fr = row.get(fm.finish_reason)
        if fr is not None:
            rec["finish_reason"] = fr
        yield rec


def check_pairs(path: Path, fields: FieldMap | None = None) -> None:
    """Fail (ConfigError) unless `path` is a readable pairs file whose first row has the named
    fields; cheap (one row), so every input is checked before any output is touched."""
    rows = read_pairs(path, fields)
    try:
        if next(rows, None) is None:
            raise ConfigError(f"{path}: no pairs in the file (it is empty)")
    finally:
        rows.close()


_SAMPLE = 1 << 22  # bytes read to estimate a text file's rows


def estimate_rows(path: Path) -> int:
    """About how many rows a pairs file (or a step's folder) holds, cheaply: Parquet's metadata,
    else the newlines of its first 4 MiB scaled to the file's size (0 when it cannot tell)."""
    path = Path(path)
    try:
        if path.is_dir() and (path / INDEX).is_file():
            folder = StepFolder(path)
            return sum(estimate_rows(folder.records_path(s.name)) for s in folder.shards())
        if path.name.lower().endswith(_PARQUET):
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        with path.open("rb") as raw:
            gz = path.name.lower().endswith(".gz")
            data = (gzip.GzipFile(fileobj=raw) if gz else raw).read(_SAMPLE)
            lines = data.count(b"\n") + (bool(data) and not data.endswith(b"\n"))
            if len(data) < _SAMPLE:
                return lines
            return int(lines * path.stat().st_size / max(1, raw.tell()))
    except Exception:  # an estimate only: the readers report what is wrong with the file
        return 0
