"""Train/test split that holds out whole subjects, or a share (or count) per discipline."""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterable
from typing import Any

from glan.post.config import SplitConfig

Record = dict[str, Any]


def unit_hash(seed: int, *parts: object) -> float:
    """A stable number in [0, 1) from the parts (same on every run and machine)."""
    text = "\x1f".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2**64


def held_out_ids(records: Iterable[Record], cfg: SplitConfig) -> set[str]:
    """For `test_per_discipline`: the k pairs of each discipline with the smallest hash.

    One pass; memory is k ids per discipline.
    """
    k = cfg.test_per_discipline or 0
    heaps: dict[str, list[tuple[float, str]]] = {}
    for rec in records:
        h = -unit_hash(cfg.seed, rec["id"])  # max-heap of the k smallest
        heap = heaps.setdefault(str(rec.get("discipline")), [])
        if len(heap) < k:
            heapq.heappush(heap, (h, rec["id"]))
        elif h > heap[0][0]:
            heapq.heapreplace(heap, (h, rec["id"]))
    return {rid for heap in heaps.values() for _, rid in heap}


def splitter(cfg: SplitConfig, test_ids: set[str] | None = None) -> Callable[[Record], str]:
    """A function record -> 'train' | 'test'."""
    if cfg.mode == "none":
        return lambda rec: "train"
    if cfg.mode == "subject":

        def by_subject(rec: Record) -> str:
            key = (rec.get("discipline"), rec.get("subject")) if rec.get("subject") else rec["id"]
            return "test" if unit_hash(cfg.seed, key) < cfg.test_share else "train"

        return by_subject
    if cfg.test_per_discipline:
        ids = test_ids or set()
        return lambda rec: "test" if rec["id"] in ids else "train"
    return lambda rec: "test" if unit_hash(cfg.seed, rec["id"]) < cfg.test_share else "train"


def fallback_note(cfg: SplitConfig, total: int, missing: dict[str, int]) -> str | None:
    """One line when the split groups by a field some pairs lack (pairs of methods other than
    GLAN have no subject or discipline): how those pairs were split instead."""
    if cfg.mode == "subject":
        key, how = "subject", f"held out pair by pair (test share {cfg.test_share:g})"
    elif cfg.mode == "discipline" and cfg.test_per_discipline:
        key, how = "discipline", f"held out as one group ({cfg.test_per_discipline} test pairs in all)"
    else:  # a share per discipline is drawn pair by pair: no field needed
        return None
    n = missing.get(key, 0)
    if not n:
        return None
    who = "no pair has a" if n == total else f"{n:,} of {total:,} pairs have no"
    return f"split by {cfg.mode}: {who} {key}; those were {how}"
