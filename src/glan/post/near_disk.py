"""Near dedup on disk: NearDedup's decisions, with its per-pair state in files.

The scan writes, per record that reaches near dedup (its number `s` in that order), its
MinHash signature, its token hashes and its LSH band keys (into key-range partitions).
`resolve_bands` sorts each partition: a key shared by two records or more becomes a group,
written back by record range; the many keys of one record only are dropped there. The replay
decides batch by batch as NearDedup does. NearDedup's index lookup returns, per band key, the
first max_bucket pairs kept in earlier batches; here each group keeps those record numbers
(in memory: max_bucket x 4 bytes a group), and the tokens and signatures are read back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from glan.post.base import Record, Removed
from glan.post.dedup import NearDedup, rank_candidates, stable_hash, text_tokens, verify
from glan.post.spill import Partitions, Ragged, Rows
from glan.store import batched

PARTS = 256  # key-range partitions: one holds ~1/256 of all band keys while it is sorted
RANGE_MIN = 1 << 16  # records per range of the group file read back during the replay
_M32 = 0xFFFFFFFF
_BAND = np.dtype([("key", "<u8"), ("slot", "<i8")])  # slot: s * bands + band
_GROUP = np.dtype([("slot", "<i8"), ("gid", "<i8")])
_TOKEN_CACHE = 1 << 13


def key_part(keys: np.ndarray) -> np.ndarray:
    """The partition of 64-bit keys: their top 8 bits."""
    return (keys.view(np.uint64) >> np.uint64(56)).astype(np.int64)


class NearFeatures:
    """The scan's last step: writes what near dedup needs of each record, yields nothing."""

    name = "near_dedup"

    def __init__(self, near: NearDedup, folder: Path) -> None:
        self.near, self.cfg = near, near.cfg
        self.n_of = Rows(folder / "near-n.bin", np.int64)  # input record number of each s
        self.sigs = Rows(folder / "near-sig.bin", np.uint16, self.cfg.num_perm)
        self.toks = Ragged(folder, "near-tok", np.uint32)
        self.bands = Partitions(folder, "band", _BAND, PARTS)
        self.count = 0

    def run(self, records: Iterable[Record], removed: Removed) -> Iterator[Record]:
        near, bands = self.near, self.cfg.bands
        for batch in batched(records, near.batch_size):
            toks = [text_tokens(r, self.cfg.near_on) for r in batch]
            keys, sigs = near.band_keys([near._shingles(t) for t in toks])
            self.n_of.append(np.fromiter((r["_n"] for r in batch), np.int64, len(batch)))
            self.sigs.append(sigs)
            self.toks.extend([[h & _M32 for h in map(stable_hash, t)] for t in toks])
            flat = keys.ravel()
            nz = np.nonzero(flat)[0]  # docs without words have key 0 and take no part
            rows = np.empty(len(nz), _BAND)
            rows["key"], rows["slot"] = flat[nz], self.count * bands + nz
            self.bands.add(key_part(flat[nz]), rows)
            self.count += len(batch)
        self.bands.close()
        yield from ()


def resolve_bands(feats: NearFeatures, folder: Path) -> tuple[Partitions, int, int]:
    """Groups of records sharing a band key: (their (slot, group) rows by record range, the
    range length, the number of groups)."""
    nb, n = feats.cfg.bands, feats.count
    span = max(RANGE_MIN, -(-n // PARTS))
    out = Partitions(folder, "group", _GROUP, max(1, -(-n // span)))
    groups = 0
    for p in range(PARTS):
        rows = feats.bands.read(p)
        if not len(rows):
            continue
        order = np.lexsort((rows["slot"], rows["key"]))
        key, slot = rows["key"][order], rows["slot"][order]
        new = np.concatenate([[True], key[1:] != key[:-1]])
        which = np.cumsum(new) - 1  # group of each row
        size = np.diff(np.append(np.nonzero(new)[0], len(key)))
        shared = size >= 2
        gid = np.cumsum(shared) - 1 + groups
        keep = shared[which]
        res = np.empty(int(keep.sum()), _GROUP)
        res["slot"], res["gid"] = slot[keep], gid[which[keep]]
        out.add(res["slot"] // nb // span, res)
        groups += int(shared.sum())
    out.close()
    return out, span, groups


class NearReplay:
    """NearDedup over the replayed stream, from what the scan wrote and resolve_bands found."""

    name = "near_dedup"

    def __init__(self, feats: NearFeatures, groups: Partitions, span: int, n_groups: int, ids: Ragged):
        self.feats, self.cfg, self.near = feats, feats.cfg, feats.near
        self.groups, self.span, self.ids = groups, span, ids
        big = feats.count >= 2**31
        self.first = np.full((n_groups, self.cfg.max_bucket), -1, np.int64 if big else np.int32)
        self.filled = np.zeros(n_groups, np.int32)
        self.checks = 0
        self._ranges: dict[int, np.ndarray] = {}
        self._win, self._win_s = np.empty(0, np.int64), 0  # a window of n_of, from s = _win_s
        self._tokens: dict[int, list[int]] = {}

    def run(self, records: Iterable[Record], removed: Removed) -> Iterator[Record]:
        for batch in batched(records, self.near.batch_size):
            yield from self._run_batch(batch, removed)

    def _s_of(self, ns: np.ndarray) -> np.ndarray:
        """Near-dedup numbers of these input records (ascending; each reached near dedup)."""
        need = int(ns[-1])
        while not len(self._win) or self._win[-1] < need:
            at = self._win_s + len(self._win)
            more = self.feats.n_of.span(at, at + 65536)
            if not len(more):
                raise RuntimeError("the replayed stream differs from the scanned one")
            self._win = np.concatenate([self._win, more[:, 0]])
        pos = np.searchsorted(self._win, ns)
        assert (self._win[pos] == ns).all(), "the replayed stream differs from the scanned one"
        s = self._win_s + pos
        self._win, self._win_s = self._win[pos[-1] + 1 :], int(s[-1]) + 1
        return s

    def _group_rows(self, s: np.ndarray) -> np.ndarray:
        """(docs, bands) group numbers, -1 for a band key no other record has."""
        nb, span = self.cfg.bands, self.span
        out = np.full((len(s), nb), -1, np.int64)
        rng = s // span
        for r in np.unique(rng).tolist():
            if r not in self._ranges:
                rows = self.groups.read(r)
                dense = np.full((span, nb), -1, np.int64)
                dense.ravel()[rows["slot"] - r * span * nb] = rows["gid"]
                self._ranges = {k: v for k, v in self._ranges.items() if k >= rng[0]}
                self._ranges[r] = dense
            at = rng == r
            out[at] = self._ranges[r][s[at] - r * span]
        return out

    def _cross(self, grp: np.ndarray, sigs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(doc, s) of the pairs kept in earlier batches that share a band group with a doc
        (the first max_bucket of each group) and pass the Jaccard estimate."""
        flat = grp.ravel()
        sel = np.nonzero(flat >= 0)[0]
        g = flat[sel]
        c = self.filled[g].astype(np.int64)
        total = int(c.sum())
        q1 = np.repeat(sel // self.cfg.bands, c)
        col = np.arange(total) - np.repeat(np.cumsum(c) - c, c)
        prior = self.first[np.repeat(g, c), col].astype(np.int64)
        if not total:
            return q1, prior
        uniq, inv = np.unique(prior, return_inverse=True)
        ok = (sigs[q1] == self.feats.sigs.take(uniq)[inv]).mean(axis=1) >= self.near.min_jaccard
        return q1[ok], prior[ok]

    def _get(self, s: int) -> list[int]:
        toks = self._tokens.get(s)
        if toks is None:
            if len(self._tokens) >= _TOKEN_CACHE:
                self._tokens.clear()
            toks = self._tokens[s] = self.feats.toks.get(s).tolist()
        return toks

    def _id(self, s: int) -> str:
        n = int(self.feats.n_of.span(s, s + 1)[0, 0])
        return self.ids.get(n).decode("utf-8", "surrogatepass")

    def _run_batch(self, batch: list[Record], removed: Removed) -> Iterator[Record]:
        cfg = self.cfg
        s = self._s_of(np.fromiter((r["_n"] for r in batch), np.int64, len(batch)))
        sigs = self.feats.sigs.take(s)
        grp = self._group_rows(s)
        q1, c1 = self._cross(grp, sigs)
        keys = (grp + 1).astype(np.uint64)  # a group as a key, 0 for none
        qdoc, cand = rank_candidates(q1, c1, keys, sigs, cfg, self.near.min_jaccard)
        bounds = np.searchsorted(qdoc, np.arange(len(batch) + 1)).tolist()
        cand_l, s_l = cand.tolist(), s.tolist()
        own = self.feats.toks.span(s_l[0], s_l[-1] + 1)
        kept_s = [-1] * len(batch)
        for d, rec in enumerate(batch):
            found = [c if c >= 0 else kept_s[-1 - c] for c in cand_l[bounds[d] : bounds[d + 1]]]
            th = own[s_l[d] - s_l[0]].tolist()
            match = None
            if found:
                match, checks = verify(th, [c for c in found if c >= 0], self._get, cfg.rouge_l_threshold)
                self.checks += checks
            if match is not None:
                info = {"id": self._id(match[0]), "rouge_l": round(match[1], 4)}
                removed.drop(rec, self.name, "near duplicate", info)
                continue
            kept_s[d] = s_l[d]
            yield rec
        self._remember([d for d, k in enumerate(kept_s) if k >= 0], s, grp)

    def _remember(self, kept: list[int], s: np.ndarray, grp: np.ndarray) -> None:
        """Kept docs join the first max_bucket of their groups, in input order."""
        if not kept:
            return
        g = grp[kept].ravel()
        who = np.repeat(s[kept], self.cfg.bands)[g >= 0]
        g = g[g >= 0]
        order = np.argsort(g, kind="stable")
        g, who = g[order], who[order]
        pos = self.filled[g] + (np.arange(len(g)) - np.searchsorted(g, g, "left"))
        fit = pos < self.cfg.max_bucket
        self.first[g[fit], pos[fit]] = who[fit]
        ug, cnt = np.unique(g, return_counts=True)
        self.filled[ug] = np.minimum(self.filled[ug] + cnt, self.cfg.max_bucket)
