"""Exact dedup on normalised text, and near-dup removal: MinHash LSH, then ROUGE-L among candidates.

Memory: the exact step keeps one int per distinct text; the near step keeps, per kept pair,
its LSH band keys (12 bytes a band) and its tokens as 32-bit hashes (4 bytes a word), in
numpy arrays rather than Python objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from glan.post.base import Record, Removed, batched
from glan.post.config import DedupConfig
from glan.post.normalize import prompt_tokens, response_tokens

_M32 = 0xFFFFFFFF


def _text_tokens(rec: Record, on: str) -> list[str]:
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
            key = hash(" ".join(_text_tokens(rec, self.on)))
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

    def lookup(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All (query position, value) with keys[...] == q[position]."""
        qs, vs = [], []
        for keys, vals in self.runs:
            lo = np.searchsorted(keys, q, "left")
            hi = np.searchsorted(keys, q, "right")
            cnt = hi - lo
            hit = np.nonzero(cnt)[0]
            if not len(hit):
                continue
            c = cnt[hit]
            qpos = np.repeat(hit, c)
            starts = np.repeat(lo[hit] - np.cumsum(c) + c, c)
            idx = starts + np.arange(len(qpos))
            qs.append(qpos)
            vs.append(vals[idx])
        if not qs:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(qs), np.concatenate(vs)


class _TokenStore:
    """Token hashes of kept pairs, concatenated in one growing uint32 array."""

    def __init__(self) -> None:
        self.data = np.empty(1 << 16, dtype=np.uint32)
        self.offsets = [0]
        self.ids: list[str] = []

    def add(self, rid: str, toks: list[int]) -> int:
        start, end = self.offsets[-1], self.offsets[-1] + len(toks)
        if end > len(self.data):
            self.data = np.resize(self.data, max(end, 2 * len(self.data)))
        self.data[start:end] = toks
        self.offsets.append(end)
        self.ids.append(rid)
        return len(self.ids) - 1

    def get(self, i: int) -> list[int]:
        return self.data[self.offsets[i] : self.offsets[i + 1]].tolist()


def _lcs_masks(a: list[int]) -> dict[int, int]:
    masks: dict[int, int] = {}
    for i, t in enumerate(a):
        masks[t] = masks.get(t, 0) | (1 << i)
    return masks


def _lcs(masks: dict[int, int], m: int, b: list[int]) -> int:
    full = (1 << m) - 1
    v = full
    get = masks.get
    for t in b:
        u = get(t)
        if u:
            u &= v
            v = ((v + u) | (v - u)) & full
    return m - v.bit_count()


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
        self.rows = cfg.num_perm // cfg.bands
        self.band_salt = rng.integers(1, 2**63, cfg.bands, dtype=np.uint64)
        self.index = _Runs()
        self.store = _TokenStore()
        self.checks = 0

    def _shingles(self, toks: list[str]) -> set[int]:
        k = self.cfg.shingle
        if k == 1 or len(toks) < k:
            return {hash(t) for t in toks} if k == 1 else {hash(tuple(toks))}
        return {hash(tuple(toks[i : i + k])) for i in range(len(toks) - k + 1)}

    def band_keys(self, shingle_sets: list[set[int]]) -> np.ndarray:
        """(docs, bands) uint64 LSH keys from MinHash signatures; docs without words get 0."""
        lens = np.fromiter((len(s) for s in shingle_sets), np.int64, len(shingle_sets))
        flat = np.fromiter((x for s in shingle_sets for x in s), np.int64, int(lens.sum())).view(np.uint64)
        keys = np.zeros((len(shingle_sets), self.cfg.bands), dtype=np.uint64)
        nz = np.nonzero(lens)[0]
        if not len(flat):
            return keys
        hv = (flat[:, None] * self.a[None, :] + self.b[None, :]) >> np.uint64(32)
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])[nz]
        sig = np.minimum.reduceat(hv, starts, axis=0)  # (docs with words, num_perm)
        sig = sig.reshape(len(nz), self.cfg.bands, self.rows)
        acc = np.zeros((len(nz), self.cfg.bands), dtype=np.uint64)
        for r in range(self.rows):
            acc = acc * np.uint64(0x100000001B3) + sig[:, :, r]
        keys[nz] = (acc ^ self.band_salt[None, :]) | np.uint64(1)
        return keys

    def run(self, records: Iterable[Record], removed: Removed) -> Iterator[Record]:
        for batch in batched(records, self.batch_size):
            yield from self._run_batch(batch, removed)

    def _run_batch(self, batch: list[Record], removed: Removed) -> Iterator[Record]:
        cfg, store = self.cfg, self.store
        toks = [_text_tokens(r, cfg.near_on) for r in batch]
        keys = self.band_keys([self._shingles(t) for t in toks])
        qpos, cand = self.index.lookup(keys.ravel())
        qdoc = qpos // cfg.bands
        order = np.argsort(qdoc, kind="stable")
        qdoc, cand = qdoc[order], cand[order]
        bounds = np.searchsorted(qdoc, np.arange(len(batch) + 1))
        local: dict[int, list[int]] = {}  # band key -> kept store ids from this batch
        kept_keys, kept_ids = [], []
        for d, rec in enumerate(batch):
            row = keys[d]
            found = cand[bounds[d] : bounds[d + 1]].tolist()
            if row[0]:
                for k in row.tolist():
                    found.extend(local.get(k, ()))
            th = [h & _M32 for h in map(hash, toks[d])]
            match = self._verify(th, found) if found else None
            if match is not None:
                sid, score = match
                removed.drop(
                    rec,
                    self.name,
                    "near duplicate",
                    {"id": store.ids[sid], "rouge_l": round(score, 4)},
                )
                continue
            sid = store.add(rec["id"], th)
            if row[0]:
                for k in row.tolist():
                    local.setdefault(k, []).append(sid)
                kept_keys.append(row)
                kept_ids.append(sid)
            yield rec
        if kept_keys:
            ks = np.stack(kept_keys)
            vs = np.repeat(np.asarray(kept_ids, dtype=np.uint32), cfg.bands)
            self.index.add(ks.ravel(), vs)

    def _verify(self, th: list[int], found: list[int]) -> tuple[int, float] | None:
        if len(found) > 1:
            counts: dict[int, int] = {}
            for c in found:
                counts[c] = counts.get(c, 0) + 1
            found = sorted(counts, key=counts.__getitem__, reverse=True)
        masks, m = _lcs_masks(th), len(th)
        thr = self.cfg.rouge_l_threshold
        for sid in found[: self.cfg.max_candidates]:
            other = self.store.get(sid)
            self.checks += 1
            total = m + len(other)
            if not total or 2.0 * min(m, len(other)) / total < thr:
                continue  # length alone rules it out
            score = 2.0 * _lcs(masks, m, other) / total
            if score >= thr:
                return sid, score
        return None
