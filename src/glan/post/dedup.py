"""Exact dedup on normalised text, and near-dup removal: MinHash LSH, then ROUGE-L among candidates.

Memory: the exact step keeps one int per distinct text; the near step keeps, per kept pair,
its LSH band keys (12 bytes a band) and its tokens as 32-bit hashes (4 bytes a word), in
numpy arrays rather than Python objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from hashlib import blake2b

import numpy as np

from glan.post.base import Record, Removed
from glan.post.config import DedupConfig
from glan.post.normalize import lcs_masks, lcs_with_masks, prompt_tokens, response_tokens
from glan.store import batched

_M32 = 0xFFFFFFFF
_STABLE: dict[str, int] = {}
_STABLE_MAX = 4_000_000  # memo entries at most (distinct words / shingles), then compute each time


def stable_hash(text: str) -> int:
    """A signed 64-bit hash that is the same in every process (Python's hash() of a str is
    salted per process, which would make MinHash candidates, and so the output, vary)."""
    h = _STABLE.get(text)
    if h is None:
        h = int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "little", signed=True)
        if len(_STABLE) < _STABLE_MAX:
            _STABLE[text] = h
    return h


def text_tokens(rec: Record, on: str) -> list[str]:
    """The tokens a dedup step compares: the prompt's, or the prompt's and the response's."""
    tok = prompt_tokens(rec)
    return tok + ["\x1f"] + response_tokens(rec) if on == "instruction+response" else tok


class ExactDedup:
    """Drops a pair whose normalised instruction (or instruction + response) was seen before."""

    name = "exact_dedup"

    def __init__(self, on: str = "instruction") -> None:
        self.on = on
        self.seen: dict[int, str] = {}

    def run(self, records: Iterable[Record], removed: Removed) -> Iterator[Record]:
        seen = self.seen
        for rec in records:
            key = hash(" ".join(text_tokens(rec, self.on)))
            first = seen.get(key)
            if first is None:
                seen[key] = rec["id"]
                yield rec
            else:
                removed.drop(rec, self.name, "exact duplicate", {"id": first})


class _Runs:
    """Sorted (key, value) runs, merged like a binary counter: append O(1) amortised log."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, keys: np.ndarray, vals: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.runs.append((keys[order], vals[order]))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            (k2, v2), (k1, v1) = self.runs.pop(), self.runs.pop()
            k, v = np.concatenate([k1, k2]), np.concatenate([v1, v2])
            order = np.argsort(k, kind="stable")
            self.runs.append((k[order], v[order]))

    def lookup(self, q: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
        """(query position, value) with keys[...] == q[position], at most `cap` per key.

        The cap bounds the work for hot buckets (text every pair shares, e.g. a question stem).
        """
        qs, vs = [], []
        left = np.full(len(q), cap, dtype=np.int64)  # the cap holds across runs, oldest first
        back = np.argsort(q)
        q = q[back]  # sorted needles: binary searches walk the big runs in order (cache)
        for keys, vals in self.runs:
            lo = np.searchsorted(keys, q, "left")
            hi = np.searchsorted(keys, q, "right")
            cnt = np.minimum(hi - lo, left)
            left -= cnt
            hit = np.nonzero(cnt)[0]
            if not len(hit):
                continue
            c = cnt[hit]
            qpos = np.repeat(back[hit], c)
            starts = np.repeat(lo[hit] - np.cumsum(c) + c, c)
            idx = starts + np.arange(len(qpos))
            qs.append(qpos)
            vs.append(vals[idx])
        if not qs:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(qs), np.concatenate(vs)


class _TokenStore:
    """Token hashes of kept pairs, concatenated in one growing uint32 array."""

    def __init__(self, num_perm: int) -> None:
        self.data = np.empty(1 << 16, dtype=np.uint32)
        self.sigs = np.empty((1 << 10, num_perm), dtype=np.uint16)
        self.offsets = [0]
        self.ids: list[str] = []

    def add(self, rid: str, toks: list[int], sig: np.ndarray) -> int:
        start, end = self.offsets[-1], self.offsets[-1] + len(toks)
        if end > len(self.data):
            self.data = np.resize(self.data, max(end, 2 * len(self.data)))
        self.data[start:end] = toks
        self.offsets.append(end)
        i = len(self.ids)
        if i >= len(self.sigs):
            self.sigs = np.concatenate([self.sigs, np.empty_like(self.sigs)])
        self.sigs[i] = sig
        self.ids.append(rid)
        return i

    def get(self, i: int) -> list[int]:
        return self.data[self.offsets[i] : self.offsets[i + 1]].tolist()


class NearDedup:
    """Keeps the first of each group of pairs with ROUGE-L F >= threshold (Self-Instruct).

    Candidates come from MinHash LSH over word shingles; each candidate is then checked with
    an exact ROUGE-L (bit-parallel LCS), most-shared-bands first, at most `max_candidates`.
    """

    name = "near_dedup"

    def __init__(self, cfg: DedupConfig, batch_size: int = 2048) -> None:
        self.cfg = cfg
        self.batch_size = batch_size
        rng = np.random.default_rng(cfg.seed)
        self.a = rng.integers(1, 2**63, cfg.num_perm, dtype=np.uint64) | np.uint64(1)
        self.b = rng.integers(0, 2**63, cfg.num_perm, dtype=np.uint64)
        self.rows = cfg.rows
        self.band_salt = rng.integers(1, 2**63, cfg.bands, dtype=np.uint64)
        self.index = _Runs()
        self.store = _TokenStore(cfg.num_perm)
        # ROUGE-L F >= t implies a word-set Jaccard of about t / (2 - t) or more
        self.min_jaccard = cfg.rouge_l_threshold / (2 - cfg.rouge_l_threshold) - cfg.jaccard_margin
        self.checks = 0

    def _shingles(self, toks: list[str]) -> set[int]:
        k = self.cfg.shingle
        if k == 1:
            memo = _STABLE
            return {memo[t] if t in memo else stable_hash(t) for t in toks}
        if len(toks) < k:
            return {stable_hash(" ".join(toks))}
        return {stable_hash(" ".join(toks[i : i + k])) for i in range(len(toks) - k + 1)}

    def band_keys(self, shingle_sets: list[set[int]]) -> tuple[np.ndarray, np.ndarray]:
        """(docs, bands) uint64 LSH keys, and (docs, num_perm) 16-bit MinHash signatures.

        Docs without words get key 0 and take no part."""
        lens = np.fromiter((len(s) for s in shingle_sets), np.int64, len(shingle_sets))
        flat = np.fromiter((x for s in shingle_sets for x in s), np.int64, int(lens.sum())).view(np.uint64)
        keys = np.zeros((len(shingle_sets), self.cfg.bands), dtype=np.uint64)
        sig16 = np.zeros((len(shingle_sets), self.cfg.num_perm), dtype=np.uint16)
        nz = np.nonzero(lens)[0]
        if not len(flat):
            return keys, sig16
        hv = (flat[:, None] * self.a[None, :] + self.b[None, :]) >> np.uint64(32)
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])[nz]
        sig = np.minimum.reduceat(hv, starts, axis=0)  # (docs with words, num_perm)
        sig16[nz] = sig.astype(np.uint16)
        sig = sig[:, : self.cfg.bands * self.rows].reshape(len(nz), self.cfg.bands, self.rows)
        acc = np.zeros((len(nz), self.cfg.bands), dtype=np.uint64)
        for r in range(self.rows):
            acc = acc * np.uint64(0x100000001B3) + sig[:, :, r]
        keys[nz] = (acc ^ self.band_salt[None, :]) | np.uint64(1)
        return keys, sig16

    def run(self, records: Iterable[Record], removed: Removed) -> Iterator[Record]:
        for batch in batched(records, self.batch_size):
            yield from self._run_batch(batch, removed)

    def _run_batch(self, batch: list[Record], removed: Removed) -> Iterator[Record]:
        cfg, store = self.cfg, self.store
        toks = [text_tokens(r, cfg.near_on) for r in batch]
        keys, sigs = self.band_keys([self._shingles(t) for t in toks])
        qdoc, cand = self._candidates(keys, sigs)
        bounds = np.searchsorted(qdoc, np.arange(len(batch) + 1)).tolist()
        cand_l = cand.tolist()
        sid_of = [-1] * len(batch)  # store id of each pair of this batch that was kept
        kept = []
        for d, rec in enumerate(batch):
            found = [c if c >= 0 else sid_of[-1 - c] for c in cand_l[bounds[d] : bounds[d + 1]]]
            th = [h & _M32 for h in map(stable_hash, toks[d])]
            match = self._verify(th, [c for c in found if c >= 0]) if found else None
            if match is not None:
                sid, score = match
                info = {"id": store.ids[sid], "rouge_l": round(score, 4)}
                removed.drop(rec, self.name, "near duplicate", info)
                continue
            sid_of[d] = store.add(rec["id"], th, sigs[d])
            if keys[d, 0]:
                kept.append(d)
            yield rec
        if kept:
            ids = np.asarray([sid_of[d] for d in kept], dtype=np.uint32)
            self.index.add(keys[kept].ravel(), np.repeat(ids, cfg.bands))

    def _candidates(self, keys: np.ndarray, sigs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per doc of the batch, the pairs before it that share an LSH band and whose
        estimated Jaccard passes min_jaccard: store ids (>= 0) of earlier batches, and
        -1 - d for doc d of this batch. Sorted by doc, most shared bands first."""
        qpos, prior = self.index.lookup(keys.ravel(), self.cfg.max_bucket)
        q1, c1 = qpos // self.cfg.bands, prior.astype(np.int64)
        ok1 = (sigs[q1] == self.store.sigs[prior]).mean(axis=1) >= self.min_jaccard
        return rank_candidates(q1[ok1], c1[ok1], keys, sigs, self.cfg, self.min_jaccard)

    def _verify(self, th: list[int], found: list[int]) -> tuple[int, float] | None:
        match, checks = verify(th, found, self.store.get, self.cfg.rouge_l_threshold)
        self.checks += checks
        return match


def rank_candidates(
    q1: np.ndarray, c1: np.ndarray, keys: np.ndarray, sigs: np.ndarray, cfg: DedupConfig, min_jaccard: float
) -> tuple[np.ndarray, np.ndarray]:
    """The candidates of a batch: (q1, c1) from earlier batches (doc, id >= 0, already past
    the Jaccard estimate), joined with the pairs within the batch (each doc against the first
    max_bucket docs of each bucket before it; -1 - d for doc d) and ranked per doc, most
    shared bands first, at most max_candidates. Shared by the in-memory and on-disk paths."""
    n = len(keys)
    flat = keys.ravel()
    doc = np.repeat(np.arange(n), cfg.bands)[flat != 0]
    flat = flat[flat != 0]
    order = np.lexsort((doc, flat))
    fk, fd = flat[order], doc[order]
    gstart = np.searchsorted(fk, fk, "left")
    cnt = np.minimum(np.arange(len(fk)) - gstart, cfg.max_bucket)
    total = int(cnt.sum())
    q2 = np.repeat(fd, cnt)
    a = fd[np.repeat(gstart - np.cumsum(cnt) + cnt, cnt) + np.arange(total)]
    ok2 = (sigs[q2] == sigs[a]).mean(axis=1) >= min_jaccard if total else q2 > 0
    qd = np.concatenate([q1, q2[ok2]])
    cand = np.concatenate([c1, -1 - a[ok2]])
    if not len(qd):
        return qd, cand
    pair, count = np.unique((qd << 33) | (cand + (1 << 32)), return_counts=True)
    qd, cand = pair >> 33, (pair & ((1 << 33) - 1)) - (1 << 32)
    order = np.lexsort((-count, qd))
    qd, cand = qd[order], cand[order]
    keep = np.arange(len(qd)) - np.searchsorted(qd, qd, "left") < cfg.max_candidates
    return qd[keep], cand[keep]


def verify(
    th: list[int], found: list[int], get: Callable[[int], list[int]], thr: float
) -> tuple[tuple[int, float] | None, int]:
    """The first of `found` (ids whose tokens `get` returns) with ROUGE-L F >= thr against
    `th`, with its score, or None; and how many were checked."""
    masks, m = lcs_masks(th), len(th)
    checks = 0
    for sid in found:  # each source already capped at max_candidates
        other = get(sid)
        checks += 1
        total = m + len(other)
        if not total or 2.0 * min(m, len(other)) / total < thr:
            continue  # length alone rules it out
        score = 2.0 * lcs_with_masks(masks, m, other) / total
        if score >= thr:
            return (sid, score), checks
    return None, checks
