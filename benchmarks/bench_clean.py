"""Benchmark of `glan clean` + `glan export` on synthetic pairs, against plain reference code.

    python benchmarks/bench_clean.py --n 1000000 [--ref-n 20000] [--workdir /tmp/glan-bench]

1. writes N synthetic GLAN-like pairs (instruction ~12-50 words, response ~100-400 words) with
   planted exact duplicates, paraphrases, benchmark items and bad answers;
2. runs the whole clean + export in a subprocess (pairs/s and its peak RSS);
3. times each step alone over the N pairs, streaming from the file (read time subtracted);
4. on the first --ref-n pairs, times each step against a plain reference implementation
   (Python sets of regex tokens / 13-gram tuples; datasketch MinHash + MinHashLSH with their
   defaults except the LSH threshold, and rouge-score for ROUGE-L) and prints the ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson

from glan.post.base import Removed
from glan.post.benchmarks import load_items
from glan.post.config import DecontamConfig, DedupConfig, FilterConfig, PostConfig
from glan.post.decontam import Decontaminate, DecontamIndex
from glan.post.dedup import ExactDedup, NearDedup
from glan.post.filters import QualityFilter
from glan.post.io import read_pairs

_SYL = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zen", "qua", "pri", "dex", "sol", "mar", "tin"]
STEMS = [
    "Explain how {} relates to {} when studying {}.",
    "A student measures {} and {} in an experiment on {}; what should they conclude?",
    "Compare {} with {}, and give one example from {}.",
    "Why does {} matter for {} in the context of {}?",
    "Describe the steps to analyse {} using {}, then discuss {}.",
    "Write a short program that computes {} from {} and prints {}.",
]
COMMON = "the a of and to in is that for it with as on this by be are from at or an".split()  # noqa: SIM905


def generate(
    path: Path, n: int, seed: int = 0, words_per_response: tuple[int, int] = (100, 400)
) -> dict[str, int]:
    """N pairs as JSONL; returns how many of each planted kind it wrote."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    syl = np.array(_SYL, dtype=object)
    vocab = np.array(
        sorted({"".join(syl[nrng.integers(0, len(_SYL), nrng.integers(2, 5))]) for _ in range(60000)}),
        dtype=object,
    )
    words = np.concatenate([vocab, np.array(COMMON * 400, dtype=object)])
    items = list(load_items(DecontamConfig()))
    planted = {"exact": 0, "paraphrase": 0, "benchmark": 0, "bad": 0}
    recent: list[str] = []
    with path.open("wb") as fh:
        for start in range(0, n, 10000):
            m = min(10000, n - start)
            rlen = nrng.integers(*words_per_response, m)
            flat = words[nrng.integers(0, len(words), int(rlen.sum()))].tolist()
            slots = words[nrng.integers(0, len(vocab), 9 * m)].tolist()
            off = 0
            for j in range(m):
                i = start + j
                s = slots[9 * j : 9 * j + 9]
                instr = rng.choice(STEMS).format(" ".join(s[0:3]), " ".join(s[3:6]), " ".join(s[6:9]))
                resp = " ".join(flat[off : off + rlen[j]]).capitalize() + "."
                off += rlen[j]
                fr, u = "stop", rng.random()
                if recent and u < 0.01:
                    instr, planted["exact"] = rng.choice(recent).upper(), planted["exact"] + 1
                elif recent and u < 0.02:
                    instr, planted["paraphrase"] = (
                        _paraphrase(rng.choice(recent), rng),
                        planted["paraphrase"] + 1,
                    )
                elif u < 0.0205:
                    it = rng.choice(items)
                    resp, planted["benchmark"] = resp + "\n" + it.texts[-1], planted["benchmark"] + 1
                elif u < 0.0255:
                    fr, planted["bad"] = "length", planted["bad"] + 1
                else:
                    recent = (recent + [instr])[-1000:]
                d = i % 126
                rec = {
                    "id": f"p{i:08d}", "field": f"Field {d % 8}", "sub_field": "sub",
                    "discipline": f"Discipline {d}", "subject": f"Subject {d}-{i % 150}",
                    "level": "undergraduate", "difficulty": "basic", "sessions": [1],
                    "concepts": ["c"], "instruction": instr, "response": resp,
                    "finish_reason": fr, "question_model": "m", "question_sampling": {"temperature": 1.0},
                    "answer_model": "m", "answer_sampling": {"temperature": 0.7}, "question_id": f"q{i}",
                }  # fmt: skip
                fh.write(orjson.dumps(rec) + b"\n")
    return planted


def _paraphrase(text: str, rng: random.Random) -> str:
    w = text.split()
    i = rng.randrange(len(w) - 1)
    w[i], w[i + 1] = w[i + 1], w[i]
    w.insert(rng.randrange(len(w)), rng.choice(["really", "please", "briefly"]))
    del w[rng.randrange(len(w))]
    return " ".join(w).rstrip(".?") + "!"


def whole(pairs: Path, out: Path) -> None:
    """Child process: clean + export, prints timings and its own peak RSS."""
    from glan.post.pipeline import clean, export

    cfg = PostConfig()
    t0 = time.perf_counter()
    rep = clean(pairs, out, cfg)
    t1 = time.perf_counter()
    exp = export(out / "clean.jsonl", out, cfg, rep)
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"read": rep["read"], "kept": rep["kept"], "removed": rep["removed"],
                      "clean_s": t1 - t0, "export_s": t2 - t1, "rss": rss,
                      "exported": exp["exported"], "hf": exp["hf_datasets"]}))  # fmt: skip


def _timed(records, step) -> float:
    t0 = time.perf_counter()
    for _ in step.run(records, Removed()):
        pass
    return time.perf_counter() - t0


def per_step(pairs: Path, index: DecontamIndex) -> dict[str, float]:
    t0 = time.perf_counter()
    for _ in read_pairs(pairs):
        pass
    read_s = time.perf_counter() - t0
    steps = {
        "filter": lambda: QualityFilter(FilterConfig()),
        "exact_dedup": lambda: ExactDedup(),
        "decontam": lambda: Decontaminate(DecontamConfig(), index=index),
        "near_dedup": lambda: NearDedup(DedupConfig()),
    }
    out = {"read": read_s}
    for name, make in steps.items():
        out[name] = _timed(read_pairs(pairs), make()) - read_s
        print(f"  {name:<12} {out[name]:8.1f} s", flush=True)
    return out


_WORD = re.compile(r"\w+")


def ref_exact(recs):
    seen, kept = set(), 0
    for r in recs:
        key = " ".join(_WORD.findall(r["instruction"].lower()))
        if key not in seen:
            seen.add(key)
            kept += 1
    return kept


def ref_decontam_index(n: int = 13, m: int = 8):
    grams, short = set(), set()
    for it in load_items(DecontamConfig()):
        for t in it.texts:
            tok = _WORD.findall(t.lower())
            if len(tok) >= n:
                grams.update(tuple(tok[i : i + n]) for i in range(len(tok) - n + 1))
            elif len(tok) >= m:
                short.add(tuple(tok))
    return grams, short


def ref_decontam(recs, grams, short, n: int = 13):
    lens = sorted({len(s) for s in short})
    kept = 0
    for r in recs:
        hit = False
        for text in (r["instruction"], r["response"]):
            tok = _WORD.findall(text.lower())
            if any(tuple(tok[i : i + n]) in grams for i in range(len(tok) - n + 1)) or any(
                tuple(tok[i : i + k]) in short for k in lens for i in range(len(tok) - k + 1)
            ):
                hit = True
                break
        kept += not hit
    return kept


def ref_near(recs, threshold: float = 0.7):
    from datasketch import MinHash, MinHashLSH
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    lsh = MinHashLSH(threshold=0.5)  # datasketch defaults otherwise (num_perm=128)
    texts, kept = {}, 0
    for r in recs:
        mh = MinHash()
        for t in set(_WORD.findall(r["instruction"].lower())):
            mh.update(t.encode())
        cands = lsh.query(mh)
        if any(scorer.score(texts[c], r["instruction"])["rougeL"].fmeasure >= threshold for c in cands):
            continue
        texts[r["id"]] = r["instruction"]
        lsh.insert(r["id"], mh)
        kept += 1
    return kept


def compare(pairs: Path, index: DecontamIndex, n: int) -> list[tuple[str, float, float, int, int]]:
    recs = [r for _, r in zip(range(n), read_pairs(pairs), strict=False)]
    fresh = lambda: [dict(r) for r in recs]  # noqa: E731  (steps cache tokens on records)
    grams, short = ref_decontam_index()
    rows = []
    for name, ours, ref in [
        ("exact_dedup", lambda rs: ExactDedup(), lambda rs: ref_exact(rs)),
        ("decontam", lambda rs: Decontaminate(DecontamConfig(), index=index),
         lambda rs: ref_decontam(rs, grams, short)),
        ("near_dedup", lambda rs: NearDedup(DedupConfig()), lambda rs: ref_near(rs)),
    ]:  # fmt: skip
        rs = fresh()
        t0 = time.perf_counter()
        kept = sum(1 for _ in ours(rs).run(rs, Removed()))
        t1 = time.perf_counter()
        ref_kept = ref(fresh())
        t2 = time.perf_counter()
        rows.append((name, n / (t1 - t0), n / (t2 - t1), kept, ref_kept))
        print(
            f"  {name:<12} ours {n / (t1 - t0):9.0f}/s  ref {n / (t2 - t1):9.0f}/s  "
            f"kept {kept} vs {ref_kept}",
            flush=True,
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--ref-n", type=int, default=20_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/glan-bench"))
    ap.add_argument("--whole", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.whole:
        return whole(*args.whole)
    args.workdir.mkdir(parents=True, exist_ok=True)
    pairs = args.workdir / f"pairs-{args.n}.jsonl"
    t0 = time.perf_counter()
    planted = generate(pairs, args.n)
    print(f"generated {args.n:,} pairs ({pairs.stat().st_size / 2**20:,.0f} MiB) in "
          f"{time.perf_counter() - t0:.0f} s; planted {planted}", flush=True)  # fmt: skip
    out = subprocess.run(
        [sys.executable, __file__, "--whole", str(pairs), str(args.workdir / "out")],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    w = json.loads(out.stdout.strip().splitlines()[-1])
    t0 = time.perf_counter()
    index = DecontamIndex.from_config(DecontamConfig())
    print(f"decontam index: {index.size:,} hashes in {time.perf_counter() - t0:.1f} s")
    print("per step, streaming over all pairs:")
    steps = per_step(pairs, index)
    print(f"reference comparison on the first {args.ref_n:,} pairs:")
    rows = compare(pairs, index, args.ref_n)
    n = args.n
    print(f"\n## Results: {n:,} pairs\n\n| step | pairs/s |\n|---|---|")
    print(f"| read JSONL | {n / steps['read']:,.0f} |")
    for k in ("filter", "exact_dedup", "decontam", "near_dedup"):
        print(f"| {k} | {n / steps[k]:,.0f} |")
    total = w["clean_s"] + w["export_s"]
    print(f"| whole clean (read, 4 steps, write) | {n / w['clean_s']:,.0f} |")
    print(f"| whole clean + export (3 formats x JSONL+Parquet, datasets on disk, card) | {n / total:,.0f} |")
    print(f"\npeak RSS of the whole clean + export: {w['rss'] / 2**30:.2f} GiB; "
          f"removed {w['removed']}; planted {planted}")  # fmt: skip
    print(
        f"\n| step ({args.ref_n:,} pairs) | ours pairs/s | reference pairs/s | speed-up | kept ours / ref |"
    )
    print("|---|---|---|---|---|")
    for name, o, r, ko, kr in rows:
        print(f"| {name} | {o:,.0f} | {r:,.0f} | {o / r:.1f}x | {ko:,} / {kr:,} |")


if __name__ == "__main__":
    main()
