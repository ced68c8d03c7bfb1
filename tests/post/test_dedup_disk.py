"""The on-disk dedup (post.dedup.max_memory_mb) gives byte for byte what the in-memory steps give."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import orjson
import pytest
from conftest import make_pairs, paraphrase, pseudo_words, write_jsonl

from glan.errors import ConfigError
from glan.post.base import Removed, run_steps
from glan.post.config import PostConfig
from glan.post.dedup_disk import DiskDedup, numbered, on_disk
from glan.post.io import estimate_rows
from glan.post.pipeline import build_steps, clean

BENCH = [  # a small user benchmark: decontamination runs without the builtin data sets
    "a train leaves the station at noon travelling at sixty miles per hour toward the coast",
    "which of the following best describes the function of mitochondria in eukaryotic cells",
]


def planted(n: int, seed: int) -> list[dict]:
    """Pairs with exact duplicates, paraphrases (near duplicates, some of paraphrases), chains
    of near duplicates of one pair (hot LSH buckets), truncated answers and benchmark text."""
    rng = random.Random(seed)
    pairs = make_pairs(n, seed=seed)
    out = []
    for i, p in enumerate(pairs):
        out.append(p)
        u = rng.random()
        if u < 0.04:
            out.append(dict(rng.choice(out), id=f"x{i}"))
        elif u < 0.10:
            src = rng.choice(out)
            out.append(dict(src, id=f"n{i}", instruction=paraphrase(src["instruction"], rng)))
        elif u < 0.13:  # a family: many variants of the first pair (one band key shared by many)
            out.append(dict(out[0], id=f"f{i}", instruction=paraphrase(out[0]["instruction"], rng)))
        elif u < 0.14:
            out.append(dict(p, id=f"t{i}", finish_reason="length"))
        elif u < 0.145:
            out.append(dict(p, id=f"b{i}", response=p["response"] + " " + rng.choice(BENCH)))
    rng.shuffle(out)
    return out


def config(tmp_path: Path, max_mb: int, **dedup) -> PostConfig:
    bench = write_jsonl(tmp_path / "bench.jsonl", [{"q": t} for t in BENCH])
    return PostConfig.model_validate(
        {
            "dedup": {"max_memory_mb": max_mb, **dedup},
            "decontam": {"builtin": [], "files": [{"path": str(bench), "fields": ["q"]}]},
            "batch_size": 97,  # many batches: pairs within a batch and across batches
        }
    )


def both(tmp_path: Path, rows: list[dict], **dedup) -> tuple[Path, Path, dict, dict]:
    src = write_jsonl(tmp_path / "pairs.jsonl", rows)
    mem, disk = tmp_path / "mem", tmp_path / "disk"
    rep_m = clean(src, mem, config(tmp_path, 10_000, **dedup))
    rep_d = clean(src, disk, config(tmp_path, 0, **dedup))
    assert (rep_m["dedup"], rep_d["dedup"]) == ("in memory", "on disk")
    return mem, disk, rep_m, rep_d


@pytest.mark.parametrize(
    "dedup",
    [
        {},
        {"max_bucket": 2, "max_candidates": 3},  # the caps bind: which pairs are looked at matters
        {"exact_on": "instruction+response", "near_on": "instruction+response"},
        {"near": False},
        {"exact": False, "rouge_l_threshold": 0.5},
    ],
)
def test_on_disk_output_is_byte_identical(tmp_path: Path, dedup: dict):
    rows = planted(3000, seed=3)
    mem, disk, rep_m, rep_d = both(tmp_path, rows, **dedup)
    for name in ("clean.jsonl", "removed.jsonl"):
        assert (mem / name).read_bytes() == (disk / name).read_bytes(), name
    same = ("read", "kept", "removed_total", "removed", "steps", "warnings", "near_dedup_rouge_checks")
    assert {k: rep_m.get(k) for k in same} == {k: rep_d.get(k) for k in same}
    removed = rep_d["removed"]
    assert removed["filter"]["truncated"] and removed["decontam"]["benchmark overlap"]
    if dedup.get("exact", True):
        assert removed["exact_dedup"]["exact duplicate"] > 50
    if dedup.get("near", True):
        assert removed["near_dedup"]["near duplicate"] > 100
    # nothing of the on-disk work is left: no temporary folder, no staging folder
    assert sorted(p.name for p in disk.iterdir()) == ["clean.jsonl", "removed.jsonl", "report.json"]


def test_temporary_files_exist_during_the_run_and_are_gone_after(tmp_path: Path, monkeypatch):
    seen: list[list[str]] = []
    exit_ = DiskDedup.__exit__

    def spy(self, *exc):
        if not self.folder.exists():  # the in-memory run: no files at all
            return exit_(self, *exc)
        seen.append(sorted(p.name for p in self.folder.iterdir()))
        assert self.folder.parent.name.startswith(".glan-staging-")  # inside the output's staging
        exit_(self, *exc)
        assert not self.folder.exists()

    monkeypatch.setattr(DiskDedup, "__exit__", spy)
    both(tmp_path, planted(500, seed=4))
    assert len(seen) == 1 and {"ids.data", "near-sig.bin", "near-tok.data"} <= set(seen[0])


def test_a_failing_clean_leaves_the_previous_outputs_and_no_files(tmp_path: Path):
    rows = planted(400, seed=5)
    src = write_jsonl(tmp_path / "pairs.jsonl", rows)
    out = tmp_path / "out"
    clean(src, out, config(tmp_path, 0))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with src.open("ab") as fh:  # a broken line at the end: found by the scan, after its files exist
        fh.write(b"{not json\n")
    with pytest.raises(ConfigError, match="malformed JSON"):
        clean(src, out, config(tmp_path, 0))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


class _Sink:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def write(self, rec: dict) -> None:
        self.rows.append({k: v for k, v in rec.items() if not k.startswith("_")})


def _steps_both(rows: list[dict], cfg: PostConfig, folder: Path) -> tuple[list, list]:
    """(kept ids, removed rows) of the in-memory steps and of the on-disk replay."""
    results = []
    for disk in (False, True):
        sink = _Sink()
        fresh = [dict(r) for r in rows]
        with DiskDedup(folder) as dd:
            steps = build_steps(cfg)
            if disk:
                steps = dd.steps(numbered(dict(r) for r in rows), steps)
                fresh = list(numbered(fresh))
            kept = [r["id"] for r in run_steps(fresh, steps, Removed(sink))]
        results.append((kept, sink.rows))
        assert not folder.exists()
    return results[0], results[1]


def test_random_inputs_give_the_same_decisions(tmp_path: Path):
    """Property-style: small vocabularies (many shared LSH keys), random settings and batches."""
    for seed in range(12):
        rng = random.Random(seed)
        vocab = pseudo_words(rng.choice([8, 30, 400]), seed)
        rows = []
        for i in range(rng.randint(1, 700)):
            words = [rng.choice(vocab) for _ in range(rng.randint(0, 14))]
            if rows and rng.random() < 0.2:
                words = rng.choice(rows)["instruction"].split()[: rng.randint(0, 14)] + words[:2]
            resp = "ok " * rng.randint(1, 5)
            rows.append({"id": f"r{i}", "instruction": " ".join(words), "response": resp})
        cfg = PostConfig.model_validate(
            {
                "filters": {"enabled": rng.choice([[], ["instruction_length"]])},
                "decontam": {"enabled": False},
                "dedup": {
                    "rouge_l_threshold": rng.choice([0.5, 0.7, 0.9]),
                    "max_bucket": rng.randint(1, 9),
                    "max_candidates": rng.randint(1, 40),
                    "near_on": rng.choice(["instruction", "instruction+response"]),
                    "rows": rng.choice([1, 2, 3]),
                },
                "batch_size": rng.choice([1, 7, 64, 2048]),
            }
        )
        mem, disk = _steps_both(rows, cfg, tmp_path / "tmp")
        assert mem == disk, f"seed {seed}"


def test_the_disk_path_is_chosen_from_the_estimated_size(tmp_path: Path):
    rows = make_pairs(300)
    src = write_jsonl(tmp_path / "p.jsonl", rows)
    assert estimate_rows(src) == 300
    big = tmp_path / "big.jsonl.gz"
    with gzip.open(big, "wb") as fh:  # past the 4 MiB sample: scaled by the compressed size
        fh.writelines(orjson.dumps(r) + b"\n" for r in make_pairs(9000, seed=1))
    assert 9000 * 0.7 < estimate_rows(big) < 9000 * 1.3
    cfg = PostConfig.model_validate({"dedup": {"max_memory_mb": 2}})
    assert not on_disk(src, cfg) and on_disk(big, cfg)
    assert not on_disk(big, PostConfig.model_validate({"dedup": {"max_memory_mb": 2, "near": False}}))
    assert not on_disk(big, PostConfig.model_validate({"dedup": {"near": False, "exact": False}}))
    assert estimate_rows(tmp_path / "missing.jsonl") == 0
