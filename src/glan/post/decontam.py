"""Decontamination: drop pairs that share an n-gram (or a whole short item) with a test set.

Tokens are normalised words (see normalize.tokens). Every n-gram window of every text is
hashed with one vectorised rolling hash over a whole batch, tested against a bitmap of the
index first, and only bitmap hits are confirmed by binary search in the sorted index.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from glan.post.base import Record, Removed
from glan.post.benchmarks import Item, load_items
from glan.post.config import DecontamConfig
from glan.post.normalize import TokenBatch, _powers, prefix_sums, prompt_text, window_hashes
from glan.store import batched

_BITS = 25  # bitmap of 2**25 bytes (32 MiB) in front of the sorted index
_SHIFT = np.uint64(64 - _BITS)


def _valid(pos: np.ndarray, k: int, starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Text index of each window start, or -1 where the k-token window leaves its text."""
    t = np.searchsorted(starts, pos, "right") - 1
    return np.where(pos + k <= starts[t] + lens[t], t, -1)


def _find(table: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in q of values present in the sorted `table`, and where they sit in it."""
    if not len(table) or not len(q):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    j = np.searchsorted(table, q)
    j[j == len(table)] = 0
    hit = np.nonzero(table[j] == q)[0]
    return hit, j[hit]


class DecontamIndex:
    """n-gram hashes of benchmark texts; texts shorter than n are matched whole.

    Short texts (min_item_tokens <= length < n) are found through their first
    min_item_tokens words, then confirmed on their full length.
    """

    def __init__(self, items: Iterable[Item], ngram: int = 13, min_item_tokens: int = 8) -> None:
        self.n = ngram
        self.m = min(min_item_tokens, ngram)
        self.items: list[tuple[str, str, str]] = []
        texts, owner = [], []
        for it in items:
            owner.extend([len(self.items)] * len(it.texts))
            texts.extend(it.texts)
            self.items.append((it.benchmark, it.item_id, " ".join(it.texts[0].split())[:160]))
        e64, ei = np.empty(0, np.uint64), np.empty(0, np.int64)
        self.long_h, self.long_item = e64, ei
        self.short_anchor, self.short_full, self.short_k, self.short_item = e64, e64, ei, ei
        self.bitmap = np.zeros(1 << _BITS, dtype=bool)
        self.size = 0
        self.skipped_short = 0
        if not texts:  # decontamination with no benchmark (builtin: [] and no files)
            return
        owners = np.asarray(owner, dtype=np.int64)
        parts: list[tuple[np.ndarray, ...]] = []
        for c in range(0, len(texts), 2048):  # chunks keep the byte-level arrays small
            parts.append(self._chunk(texts[c : c + 2048], owners[c : c + 2048], min_item_tokens))
        lw, lo, sa, sf, sk, so = (np.concatenate(x) for x in zip(*parts, strict=True))
        self.long_h, first = np.unique(lw, return_index=True)
        self.long_item = lo[first]
        order = np.argsort(sa, kind="stable")
        self.short_anchor, self.short_full = sa[order], sf[order]
        self.short_k, self.short_item = sk[order], so[order]
        self.bitmap[self.long_h >> _SHIFT] = True
        self.bitmap[self.short_anchor >> _SHIFT] = True
        self.size = len(self.long_h) + len(self.short_full)

    def _chunk(self, texts: list[str], owner: np.ndarray, min_tokens: int) -> tuple[np.ndarray, ...]:
        """(long hashes, their items, short anchors, short full hashes, lengths, items)."""
        tb = TokenBatch(texts)
        keep = tb.lens >= min_tokens
        self.skipped_short += int((~keep).sum())
        starts, lens, owner = tb.starts[keep], tb.lens[keep], owner[keep]
        s = prefix_sums(tb.th)
        w = window_hashes(s, self.n)
        pos = np.nonzero(_valid(np.arange(len(w)), self.n, starts, lens) >= 0)[0]
        who = owner[np.searchsorted(starts, pos, "right") - 1]
        short = np.nonzero(lens < self.n)[0]
        st, k = starts[short], lens[short]
        _, ipw = _powers(len(s))
        anchor = window_hashes(s, self.m)[st] if len(short) else np.empty(0, np.uint64)
        full = (s[st + k] - s[st]) * ipw[st]
        return w[pos], who, anchor, full, k, owner[short]

    @classmethod
    def from_config(cls, cfg: DecontamConfig) -> DecontamIndex:
        return cls(load_items(cfg), cfg.ngram, cfg.min_item_tokens)

    def match(self, tb: TokenBatch) -> dict[int, tuple[int, int, int]]:
        """text index -> (item index, token position, length) of its first match."""
        if not self.size or not len(tb.th):
            return {}
        starts, lens = tb.starts, tb.lens
        s = prefix_sums(tb.th)
        out: dict[int, tuple[int, int, int]] = {}
        w = window_hashes(s, self.n)
        maybe = np.nonzero(self.bitmap[w >> _SHIFT])[0]
        hit, j = _find(self.long_h, w[maybe])
        pos = maybe[hit]
        t = _valid(pos, self.n, starts, lens)
        ok = t >= 0
        t, pos, item = t[ok], pos[ok], self.long_item[j[ok]]
        if len(t):
            # per text, the item with the most shared n-grams (shared template text
            # such as MMLU's "For which of these two scenarios ..." must not decide)
            key = t * len(self.items) + item
            uniq, first, count = np.unique(key, return_index=True, return_counts=True)
            best = np.lexsort((-count, uniq // len(self.items)))
            for b in best.tolist():
                tt = int(uniq[b] // len(self.items))
                if tt not in out:
                    out[tt] = (int(uniq[b] % len(self.items)), int(pos[first[b]]), self.n)
        if len(self.short_anchor):
            self._match_short(s, starts, lens, out)
        return out

    def _match_short(self, s: np.ndarray, starts, lens, out: dict) -> None:
        w = window_hashes(s, self.m)
        maybe = np.nonzero(self.bitmap[w >> _SHIFT])[0]
        hit, _ = _find(self.short_anchor, w[maybe])
        _, ipw = _powers(len(s))
        anchors = self.short_anchor
        for p in maybe[hit].tolist():
            lo = int(np.searchsorted(anchors, w[p], "left"))
            hi = int(np.searchsorted(anchors, w[p], "right"))
            for e in range(lo, hi):
                k = int(self.short_k[e])
                t = int(_valid(np.array([p]), k, starts, lens)[0])
                if t < 0 or t in out:
                    continue
                if ((s[p + k : p + k + 1] - s[p : p + 1]) * ipw[p : p + 1])[0] == self.short_full[e]:
                    out[t] = (int(self.short_item[e]), p, k)


class Decontaminate:
    """Drops pairs whose instruction or response (any turn of a conversation) contains a
    benchmark test item."""

    name = "decontam"

    def __init__(self, cfg: DecontamConfig, batch_size: int = 2048, index: DecontamIndex | None = None):
        self.cfg = cfg
        self.batch_size = batch_size
        self.index = index if index is not None else DecontamIndex.from_config(cfg)

    def _texts(self, rec: Record) -> list[str]:
        turns = rec.get("messages")
        if turns:  # a conversation: every user turn is its instruction, every reply its response
            role = {"instruction": "user", "response": "assistant"}
            return ["\n\n".join(t["content"] for t in turns if t["role"] == role[f]) for f in self.cfg.check]
        return [prompt_text(rec) if f == "instruction" else rec["response"] for f in self.cfg.check]

    def run(self, records: Iterable[Record], removed: Removed) -> Iterator[Record]:
        nf = len(self.cfg.check)
        for batch in batched(records, self.batch_size):
            tb = TokenBatch([t for rec in batch for t in self._texts(rec)])
            hits = self.index.match(tb)
            for d, rec in enumerate(batch):
                found = [f for f in range(nf) if d * nf + f in hits]
                if not found:
                    yield rec
                    continue
                item, pos, k = hits[d * nf + found[0]]
                removed.drop(rec, self.name, "benchmark overlap", self._matched(tb, found[0], item, pos, k))

    def _matched(self, tb: TokenBatch, f: int, item: int, pos: int, k: int) -> dict[str, Any]:
        bench, item_id, preview = self.index.items[item]
        return {
            "benchmark": bench,
            "item": item_id,
            "field": self.cfg.check[f],
            "ngram": tb.words(pos, k),
            "whole_item": k < self.index.n,
            "item_text": preview,
        }
