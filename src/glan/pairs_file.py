"""Pair files for the `verify` recipe: a JSONL file of instruction-response pairs (glan's own
pairs, or another tool's), or a step folder of another run. A line holds `instruction` (or
`question` / `prompt`) and `response` (or `answer` / `output`), and optionally `id`, `input`
and `meta`; a line of glan's InstructionPair is read whole. Any problem is one ConfigError
naming the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from glan.errors import ConfigError, first_error
from glan.records import InstructionPair, lineage_id
from glan.tasks_file import read_records

ALIASES = {"instruction": ("instruction", "question", "prompt"), "response": ("response", "answer", "output")}


def load_pairs(spec: str, setting: str) -> list[InstructionPair]:
    """The pairs of `spec` (a JSONL file or a finished step folder), in file order."""
    path = Path(spec).expanduser()
    if not path.exists():
        raise ConfigError(f"{setting}: {spec}: no such file")
    return read_records(path, setting, _pair, "pairs")


def _pair(row: dict[str, Any], where: str) -> InstructionPair:
    given = {}
    for name, keys in ALIASES.items():
        value = next((row[k] for k in keys if k in row), None)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: `{name}` missing or not a non-empty string")
        given[name] = value
    try:
        return InstructionPair.model_validate(row)  # glan's own pair, with all its lineage
    except ValidationError:
        pass
    pid = row.get("id")
    if pid is not None and not isinstance(pid, str | int):
        raise ConfigError(f"{where}: `id` must be a string or a number")
    try:
        return InstructionPair(
            id=str(pid) if pid is not None else lineage_id("pair", given["instruction"], given["response"]),
            input=row.get("input") or None,
            meta=row.get("meta") or None,
            **given,
        )
    except ValidationError as e:
        raise ConfigError(f"{where}: {first_error(e)}") from None
