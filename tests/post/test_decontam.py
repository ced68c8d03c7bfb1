import csv
import inspect
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import make_pairs

from glan.errors import ConfigError
from glan.post import benchmarks
from glan.post.base import Removed
from glan.post.config import BenchmarkFile, DecontamConfig
from glan.post.decontam import Decontaminate, DecontamIndex


class _Sink:
    def __init__(self):
        self.rows = []

    def write(self, rec):
        self.rows.append(rec)


def _run(index, pairs, **cfg):
    sink = _Sink()
    kept = list(Decontaminate(DecontamConfig(**cfg), batch_size=97, index=index).run(pairs, Removed(sink)))
    return kept, sink.rows


def test_builtin_targets_load(bench_items, bench_index):
    names = {it.benchmark for it in bench_items}
    assert names == {"humaneval", "mmlu"}
    assert sum(it.benchmark == "humaneval" for it in bench_items) == 164
    assert sum(it.benchmark == "mmlu" for it in bench_items) > 14000
    assert bench_index.size > 500_000


def test_planted_benchmark_items_are_caught(bench_items, bench_index):
    pairs = make_pairs(400, seed=4)
    he = [it for it in bench_items if it.benchmark == "humaneval"]
    mm = [it for it in bench_items if it.benchmark == "mmlu" and len(it.texts[0].split()) > 20]
    short = [it for it in bench_items if it.benchmark == "mmlu" and 8 <= len(it.texts[0].split()) < 11]
    plants = {
        3: ("instruction", "Solve this:\n" + he[10].texts[0], he[10].item_id),
        50: ("response", "Here is the code.\n" + he[20].texts[1], he[20].item_id),
        99: ("instruction", mm[5].texts[0].upper() + " Explain.", mm[5].item_id),
        150: ("response", "Consider: " + mm[300].texts[1] + " The answer is B.", mm[300].item_id),
        200: ("instruction", "Quiz: " + short[0].texts[0] + " Why?", short[0].item_id),
    }
    for i, (key, text, _) in plants.items():
        pairs[i][key] = text if key == "instruction" else pairs[i][key] + " " + text
    kept, rows = _run(bench_index, pairs)
    assert len(kept) == 400 - len(plants)
    got = {r["id"]: r["matched"] for r in rows}
    for i, (key, _, item_id) in plants.items():
        m = got[pairs[i]["id"]]
        assert m["field"] == key and m["item"] == item_id and m["ngram"]
    assert got[pairs[200]["id"]]["whole_item"] is True


def test_no_false_positives_on_real_english_and_code(bench_index):
    """Docstrings and sources of the standard library: real prose and code, no test items."""
    import collections
    import email
    import json as json_mod
    import pathlib
    import textwrap

    texts = []
    import argparse
    import logging
    import typing

    for mod in (collections, email, json_mod, pathlib, textwrap, csv, inspect, argparse, logging, typing):
        for _, obj in inspect.getmembers(mod):
            doc = inspect.getdoc(obj)
            if doc and len(doc) > 150:
                texts.append(doc)
    pairs = [
        {"id": str(i), "instruction": t[:300], "response": t} for i, t in enumerate(dict.fromkeys(texts))
    ]
    assert len(pairs) > 100
    kept, rows = _run(bench_index, pairs)
    assert len(rows) / len(pairs) < 0.01, [r["matched"] for r in rows]


def test_user_benchmark_files(tmp_path: Path):
    item = "A train leaves the station at nine and travels sixty miles per hour toward the coast"
    (tmp_path / "b.jsonl").write_text(json.dumps({"q": item, "a": "x", "uid": "T-1"}) + "\n")
    with (tmp_path / "b.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["question"])
        w.writeheader()
        w.writerow({"question": "Name the capital city of the island nation of Malta please"})
    pq.write_table(
        pa.table({"prompt": ["Write a haiku about autumn leaves falling on quiet water"]}),
        tmp_path / "b.parquet",
    )
    cfg = DecontamConfig(
        builtin=[],
        files=[
            BenchmarkFile(path=tmp_path / "b.jsonl", fields=["q"], id_field="uid", name="trains"),
            BenchmarkFile(path=tmp_path / "b.csv", fields=["question"]),
            BenchmarkFile(path=tmp_path / "b.parquet", fields=["prompt"]),
        ],
    )
    index = DecontamIndex.from_config(cfg)
    pairs = make_pairs(20, seed=5)
    pairs[1]["instruction"] = item.lower() + "; when does it arrive?"
    pairs[2]["response"] += " name the capital city of the island nation of malta, please."
    pairs[3]["instruction"] = "Write a haiku about autumn leaves falling on quiet water."
    sink = _Sink()
    kept = list(Decontaminate(cfg, index=index).run(pairs, Removed(sink)))
    assert len(kept) == 17
    assert [r["matched"]["item"] for r in sink.rows] == ["T-1", "b/1", "b/1"]
    assert [r["matched"]["benchmark"] for r in sink.rows] == ["trains", "b", "b"]


def test_bad_benchmark_field_and_missing_package(tmp_path: Path, monkeypatch):
    (tmp_path / "b.jsonl").write_text('{"q": "x"}\n')
    cfg = DecontamConfig(builtin=[], files=[BenchmarkFile(path=tmp_path / "b.jsonl", fields=["question"])])
    with pytest.raises(ConfigError, match=r"b.jsonl:1: benchmark field 'question' missing"):
        DecontamIndex.from_config(cfg)
    monkeypatch.setitem(benchmarks.BUILTIN, "mmlu", ("no-such-dist-xyz", "x.jsonl", "pip install it"))
    with pytest.raises(ConfigError, match="pip install it"):
        DecontamIndex.from_config(DecontamConfig(builtin=["mmlu"]))


def test_ngram_size_is_configurable():
    text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    item = benchmarks.Item("b", "b/1", (text,))
    pairs = [{"id": "1", "instruction": "four five six seven eight nine ten eleven twelve", "response": "ok"}]
    assert (
        len(
            list(
                Decontaminate(DecontamConfig(ngram=13), index=DecontamIndex([item], 13)).run(pairs, Removed())
            )
        )
        == 1
    )
    assert (
        len(
            list(Decontaminate(DecontamConfig(ngram=8), index=DecontamIndex([item], 8)).run(pairs, Removed()))
        )
        == 0
    )
