"""Instruction files: the Self-Instruct seed tasks shipped with glan, a user's JSONL file, or a
step folder of another run (its records: tasks, questions or pairs), so methods combine.

A line holds `instruction` (or a GLAN `question`) and, optionally, `id`, `instances`
([{input, output}]) or a single `input` / `output` (or `response`), and `is_classification`.
Any problem is one ConfigError naming the file and line.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import orjson

from glan.errors import ConfigError
from glan.records import Record, Task, lineage_id

R = TypeVar("R", bound=Record)
BUILTIN = ("builtin", "self-instruct-seeds")  # names of the shipped seed tasks


def seed_tasks_path() -> Path:
    """The 175 Self-Instruct seed tasks (Apache-2.0; LICENSE and NOTICE.md beside them)."""
    return Path(str(resources.files("glan") / "data" / "self_instruct" / "seed_tasks.jsonl"))


def load_tasks(spec: str, setting: str) -> list[Task]:
    """The tasks of `spec` (a built-in name or a file path), as human tasks in file order;
    `setting` names the config setting that gave it (for the error line)."""
    path = seed_tasks_path() if spec in BUILTIN else Path(spec).expanduser()
    if not path.exists():
        raise ConfigError(f"{setting}: {spec}: no such file (or 'builtin' for the Self-Instruct seeds)")
    return read_records(path, setting, _task, "tasks")


def read_records(path: Path, setting: str, parse: Callable[[dict[str, Any], str], R], what: str) -> list[R]:
    """The records of a JSONL file or a finished step folder, in order, each line's JSON object
    made one by `parse(row, "FILE:LINE")`; a line that is not a JSON object, an id seen twice,
    or no record at all is a ConfigError."""
    files = _step_files(path, setting) if path.is_dir() else [path]
    out: list[R] = []
    seen: set[str] = set()
    for file in files:
        with file.open("rb") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                rec = parse(_json_object(line, f"{file}:{n}"), f"{file}:{n}")
                if rec.id in seen:
                    raise ConfigError(f"{file}:{n}: id {rec.id!r} repeats an earlier line's")
                seen.add(rec.id)
                out.append(rec)
    if not out:
        raise ConfigError(f"{setting}: {path} holds no {what}")
    return out


def _json_object(line: bytes, where: str) -> dict[str, Any]:
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise ConfigError(f"{where}: not a JSON object ({e})") from None
    if not isinstance(row, dict):
        raise ConfigError(f"{where}: not a JSON object")
    return row


def _step_files(folder: Path, setting: str) -> list[Path]:
    """The shard files of a finished step folder (RUN/STEP/), in order."""
    from glan.shards import StepFolder  # glan.shards imports the records, as this module does

    step = StepFolder(folder)
    if step.index() is None:
        raise ConfigError(f"{setting}: {folder}: not a finished step folder of a run (no _step.json)")
    return [step.records_path(s.name) for s in step.shards()]


def _task(row: dict[str, Any], where: str) -> Task:
    text = row.get("instruction", row.get("question"))  # a GLAN question is an instruction too
    if "output" not in row and "response" in row:  # a pair: its response is the output
        row["output"] = row["response"]
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: `instruction` missing or not a non-empty string")
    instances = row.get("instances")
    if instances is None:  # Alpaca style: one input / output, or an input alone (no output yet)
        given = {k: row[k] for k in ("input", "output") if row.get(k)}
        instances = [{"input": given.get("input", ""), "output": given.get("output", "")}] if given else []
    if not isinstance(instances, list) or not all(_instance(i) for i in instances):
        raise ConfigError(f"{where}: `instances` must be a list of {{input, output}} strings")
    kind = row.get("is_classification")
    if kind is not None and not isinstance(kind, bool):
        raise ConfigError(f"{where}: `is_classification` must be true or false")
    rid = row.get("id")
    if rid is None:
        rid = lineage_id("task", text.strip(), row.get("input") or "")
    return Task(
        id=str(rid),
        instruction=text.strip(),
        instances=[{"input": i.get("input") or "", "output": i["output"]} for i in instances],
        is_classification=kind,
    )


def _instance(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("output"), str)
        and isinstance(item.get("input", ""), str)
    )


def tasks_shards(tasks: list[Task], size: int = 1000) -> list[tuple[str, list[Task]]]:
    """Shards of `size` tasks each (part-0000 ...), for a source step."""
    return [(f"part-{i // size:04d}", tasks[i : i + size]) for i in range(0, len(tasks), size)]
