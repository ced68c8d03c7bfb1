"""Diversity of a sample of instructions (the same sample size for every run compared):
lexical figures (distinct-n, gzip compression ratio as in Shaib et al. 2024, mean pairwise
ROUGE-L with glan's LCS, the share glan's near-dedup removes) and, when the embedding model is
installed (`glan[report]`), semantic ones: the Vendi score (vendi-score, the authors' package),
a nearest-neighbour cosine distance histogram (scikit-learn) and a 2-D PCA map coloured by
field (scikit-learn)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

import numpy as np

from glan.errors import ConfigError
from glan.post.base import Removed
from glan.post.config import DedupConfig
from glan.post.dedup import NearDedup
from glan.post.normalize import lcs_masks, lcs_with_masks, tokens

ROUGE_SAMPLE = 300  # pairwise ROUGE-L is quadratic: on the first 300 of the sample
MAP_POINTS = 1000
TIP_CHARS = 200
NN_EDGES = [round(0.05 * i, 2) for i in range(21)]

Embed = Callable[[list[str]], np.ndarray]


def distinct_n(toks: list[list[str]], n: int) -> float:
    grams = [tuple(t[i : i + n]) for t in toks for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def compression_ratio(texts: list[str]) -> float:
    """Bytes of the texts over bytes of their gzip: higher is more repetitive."""
    raw = "\n".join(texts).encode()
    return len(raw) / len(gzip.compress(raw, compresslevel=9)) if raw else 0.0


def mean_pairwise_rouge_l(toks: list[list[str]]) -> float:
    total, n = 0.0, 0
    for i, a in enumerate(toks):
        if not a:
            continue
        masks = lcs_masks(a)
        for b in toks[i + 1 :]:
            if b:
                total += 2.0 * lcs_with_masks(masks, len(a), b) / (len(a) + len(b))
                n += 1
    return total / n if n else 0.0


def near_dup_rate(texts: list[str]) -> float:
    recs = [{"id": str(i), "instruction": t, "response": ""} for i, t in enumerate(texts)]
    kept = sum(1 for _ in NearDedup(DedupConfig()).run(iter(recs), Removed()))
    return 1 - kept / len(texts) if texts else 0.0


def lexical(texts: list[str]) -> dict[str, Any]:
    toks = [tokens(t) for t in texts]
    return {
        "sample": len(texts),
        "distinct_1": distinct_n(toks, 1),
        "distinct_2": distinct_n(toks, 2),
        "distinct_3": distinct_n(toks, 3),
        "compression_ratio": compression_ratio(texts),
        "mean_pairwise_rouge_l": mean_pairwise_rouge_l(toks[:ROUGE_SAMPLE]),
        "near_dup_rate": near_dup_rate(texts),
    }


def semantic(texts: list[str], fields: list[str], vectors: np.ndarray) -> dict[str, Any]:
    """Vendi score, nearest-neighbour distances and a 2-D map of L2-normalised `vectors`."""
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NearestNeighbors
    from vendi_score import vendi

    n = len(texts)
    out: dict[str, Any] = {"vendi": float(vendi.score_dual(vectors)) if n else None}
    if n >= 2:
        dist, _ = NearestNeighbors(n_neighbors=2, metric="cosine").fit(vectors).kneighbors(vectors)
        counts, _ = np.histogram(np.clip(dist[:, 1], 0, 1), bins=NN_EDGES)
        out["nn_distance"] = {"edges": NN_EDGES, "counts": [int(c) for c in counts],
                              "median": float(np.median(dist[:, 1]))}  # fmt: skip
        xy = PCA(n_components=2, random_state=0).fit_transform(vectors[:MAP_POINTS])
        names = sorted(set(fields))
        idx = {f: i for i, f in enumerate(names)}
        out["map"] = {
            "fields": names,
            "points": [[round(float(x), 4), round(float(y), 4), idx[f], t[:TIP_CHARS]]
                       for (x, y), f, t in zip(xy, fields, texts, strict=False)],
        }  # fmt: skip
    return out


def load_embed(kind: str | None) -> tuple[Embed | None, str | None, str | None]:
    """(embed, model name, why not): the report's embedding model, or why it is not there."""
    if kind is None:
        return None, None, "embeddings off"
    try:
        from glan.report.embed import load_embedder

        embedder = load_embedder(kind)
    except (ImportError, ConfigError) as e:
        return None, None, str(e) or "pip install 'glan[report]'"
    return embedder.embed, embedder.name, None


def diversity(sample: list[tuple[str, str]], embed: Embed | None, model: str | None) -> dict[str, Any]:
    texts, fields = [t for t, _ in sample], [f for _, f in sample]
    out = lexical(texts)
    out.update(embedding_model=model, vendi=None, nn_distance=None, map=None)
    if embed is not None and texts:
        out.update(semantic(texts, fields, embed(texts)))
    return out
