"""`glan clean` at paper scale: the on-disk dedup (bounded memory) against the in-memory steps.

    python benchmarks/bench_clean_scale.py --n 10000000 --baseline-n 1000000 [--workdir DIR]

Writes synthetic GLAN-like pairs with short responses (bench_clean.generate: six question
stems over a 60k-word made-up vocabulary, 20-60 word responses; planted 1% exact duplicates,
1% paraphrases, 0.05% benchmark items, 0.5% truncated answers), then runs the whole default
clean (filters, exact dedup, HumanEval + MMLU decontamination, near dedup) in a fresh
subprocess per measurement, each reporting its own peak RSS:

1. in memory at --baseline-n pairs (the baseline), 2. on disk at --baseline-n pairs (the same
outputs, checked byte for byte), 3. on disk at --n pairs. Ratios are against 1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench_clean import generate


def child(pairs: Path, out: Path, max_mb: int) -> None:
    """Subprocess: one clean; prints its figures and its own peak RSS as JSON."""
    from glan.post.config import PostConfig
    from glan.post.pipeline import clean

    cfg = PostConfig.model_validate({"dedup": {"max_memory_mb": max_mb}})
    t0 = time.perf_counter()
    rep = clean(pairs, out, cfg)
    secs = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # before reading the outputs
    digest = {f: _sha(out / f) for f in ("clean.jsonl", "removed.jsonl")}
    print(json.dumps({"read": rep["read"], "kept": rep["kept"], "removed": rep["removed"],
                      "path": rep["dedup"], "seconds": secs, "rss": rss, "sha": digest}))  # fmt: skip


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:16]


def measure(pairs: Path, out: Path, max_mb: int) -> dict:
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, __file__, "--child", str(pairs), str(out), str(max_mb)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    w = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"  {w['path']:<9} {w['read']:>11,} pairs  {w['seconds']:8.0f} s  {w['read'] / w['seconds']:8,.0f} "
          f"pairs/s  peak RSS {w['rss'] / 2**30:5.2f} GiB  (wall {time.perf_counter() - t0:.0f} s)",
          flush=True)  # fmt: skip
    return w


def pairs_file(workdir: Path, n: int) -> Path:
    path = workdir / f"short-{n}.jsonl"
    if not path.exists():
        t0 = time.perf_counter()
        tmp = path.with_suffix(".partial")
        planted = generate(tmp, n, words_per_response=(20, 60))
        tmp.rename(path)
        print(f"generated {n:,} pairs ({path.stat().st_size / 2**20:,.0f} MiB) in "
              f"{time.perf_counter() - t0:.0f} s; planted {planted}", flush=True)  # fmt: skip
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--baseline-n", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/glan-bench-scale"))
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))
    args.workdir.mkdir(parents=True, exist_ok=True)
    base = pairs_file(args.workdir, args.baseline_n)
    print(f"baseline: {args.baseline_n:,} pairs, in memory then on disk", flush=True)
    mem = measure(base, args.workdir / "out-mem", 1 << 30)
    disk = measure(base, args.workdir / "out-disk", 0)
    same = mem["sha"] == disk["sha"] and mem["removed"] == disk["removed"]
    print(f"  same clean.jsonl and removed.jsonl bytes: {same}", flush=True)
    big = disk
    if args.n != args.baseline_n:
        path = pairs_file(args.workdir, args.n)
        print(f"scale: {args.n:,} pairs on disk", flush=True)
        big = measure(path, args.workdir / "out-big", 0)
        path.unlink()  # several GiB
    speed = lambda w: w["read"] / w["seconds"]  # noqa: E731
    print("\n| run | pairs | pairs/s | vs in memory | peak RSS | vs in memory |\n|---|---|---|---|---|---|")
    for name, w in (("in memory", mem), ("on disk", disk), ("on disk", big))[: 3 if big is not disk else 2]:
        print(f"| {name} | {w['read']:,} | {speed(w):,.0f} | {speed(w) / speed(mem):.2f}x "
              f"| {w['rss'] / 2**30:.2f} GiB | {w['rss'] / mem['rss']:.2f}x |")  # fmt: skip
    print(f"\nidentical outputs at {args.baseline_n:,}: {same}; removed at {big['read']:,}: {big['removed']}")


if __name__ == "__main__":
    main()
