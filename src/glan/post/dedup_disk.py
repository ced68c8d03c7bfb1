"""Exact and near dedup with bounded memory: the decisions of ExactDedup and NearDedup, and the
same clean.jsonl and removed.jsonl byte for byte, from three passes over files on disk.

1. scan: the pairs once through the filters and decontamination (their drops are logged, with
   reasons, by record number), writing each exact-dedup key into key-range partitions, and
   what near dedup needs of each record that reaches it (near_disk.NearFeatures);
2. resolve: per key-range partition, sorted keys give the exact duplicates and the record each
   repeats, and the band keys shared by two records or more;
3. replay: the pairs again through the same chain of steps, batched the same way, so every
   drop is written in the same order; each step replays what was logged or resolved.

Used when the in-memory steps would keep more than `post.dedup.max_memory_mb` (from the
input's estimated row count), in a temporary folder inside the output's staging folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from glan.post.base import Record, Removed, Step
from glan.post.config import PostConfig
from glan.post.decontam import Decontaminate
from glan.post.dedup import ExactDedup, NearDedup, text_tokens
from glan.post.filters import QualityFilter
from glan.post.io import estimate_rows
from glan.post.near_disk import PARTS, NearFeatures, NearReplay, key_part, resolve_bands
from glan.post.spill import Log, Partitions, Ragged, Rows
from glan.store import batched

# what the in-memory steps keep per pair (measured: ~0.7 KB with near dedup; the exact step's
# dict entry and id string alone ~0.15 KB)
_BYTES_NEAR, _BYTES_EXACT = 720, 160
_KEY = np.dtype([("key", "<i8"), ("n", "<i8")])
_DUP = np.dtype([("n", "<i8"), ("first", "<i8")])
_CHUNK = 1 << 16


def on_disk(pairs: Path, cfg: PostConfig) -> bool:
    """Whether the dedup state of the in-memory steps would pass post.dedup.max_memory_mb."""
    d = cfg.dedup
    if not (d.exact or d.near):
        return False
    per_pair = _BYTES_NEAR if d.near else _BYTES_EXACT
    return estimate_rows(pairs) * per_pair > d.max_memory_mb * 2**20


def numbered(records: Iterable[Record]) -> Iterator[Record]:
    """Records with their input position under the private key `_n` (never written out)."""
    for n, rec in enumerate(records):
        rec["_n"] = n
        yield rec


class _Logged(Removed):
    """The scan's sink: a drop is logged per step as (record number, reason, matched)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.logs: dict[str, Log] = {}

    def log(self, step: str) -> Log:
        if step not in self.logs:
            self.logs[step] = Log(self.folder / f"{step}.log")
        return self.logs[step]

    def drop(self, rec: Record, step: str, reason: str, matched: Any = None) -> None:
        self.log(step).write((rec["_n"], reason, matched))


class _LogReplay:
    """A stateless step (filters, decontamination) replayed from the scan's log, pulling its
    input in batches of `batch` as the step itself does (so drops interleave the same way)."""

    def __init__(self, name: str, log: Log, batch: int = 1, source: Step | None = None) -> None:
        self.name, self.log, self.batch = name, log, batch
        if source is not None:
            self.index = getattr(source, "index", None)  # for the report

    def run(self, records: Iterable[Record], removed: Removed) -> Iterator[Record]:
        entries = iter(self.log)
        nxt = next(entries, None)
        for batch in batched(records, self.batch):
            for rec in batch:
                n = rec["_n"]
                while nxt is not None and nxt[0] < n:  # logged for a record an earlier step dropped
                    nxt = next(entries, None)
                if nxt is not None and nxt[0] == n:
                    removed.drop(rec, self.name, nxt[1], nxt[2])
                else:
                    yield rec


class _ExactKeys:
    """The scan's exact dedup: passes every record on, writing its key."""

    name = "exact_dedup"

    def __init__(self, on: str, parts: Partitions) -> None:
        self.on, self.parts = on, parts

    def run(self, records: Iterable[Record], removed: Removed) -> Iterator[Record]:
        keys: list[int] = []
        ns: list[int] = []
        for rec in records:
            keys.append(hash(" ".join(text_tokens(rec, self.on))))  # ExactDedup's key
            ns.append(rec["_n"])
            if len(keys) >= _CHUNK:
                self._flush(keys, ns)
            yield rec
        self._flush(keys, ns)
        self.parts.close()

    def _flush(self, keys: list[int], ns: list[int]) -> None:
        rows = np.empty(len(keys), _KEY)
        rows["key"], rows["n"] = keys, ns
        self.parts.add(key_part(rows["key"]), rows)
        keys.clear()
        ns.clear()


def _resolve_exact(parts: Partitions, folder: Path, total: int) -> tuple[Partitions, int]:
    """Each repeated key's later records with the first one, by input-number range."""
    span = max(_CHUNK, -(-total // PARTS))
    out = Partitions(folder, "dup", _DUP, max(1, -(-total // span)))
    for p in range(PARTS):
        rows = parts.read(p)
        order = np.lexsort((rows["n"], rows["key"]))
        key, n = rows["key"][order], rows["n"][order]
        first = np.searchsorted(key, key, "left")
        again = np.nonzero(first != np.arange(len(key)))[0]
        dup = np.empty(len(again), _DUP)
        dup["n"], dup["first"] = n[again], n[first[again]]
        out.add(dup["n"] // span, dup)
    out.close()
    return out, span


class _ExactReplay:
    name = "exact_dedup"

    def __init__(self, dups: Partitions, span: int, ids: Ragged) -> None:
        self.dups, self.span, self.ids = dups, span, ids

    def run(self, records: Iterable[Record], removed: Removed) -> Iterator[Record]:
        at, first_of = -1, {}
        for rec in records:
            n = rec["_n"]
            if n // self.span != at:
                at = n // self.span
                rows = self.dups.read(at)
                first_of = dict(zip(rows["n"].tolist(), rows["first"].tolist(), strict=True))
            first = first_of.get(n)
            if first is None:
                yield rec
            else:
                rid = self.ids.get(first).decode("utf-8", "surrogatepass")
                removed.drop(rec, self.name, "exact duplicate", {"id": rid})


class DiskDedup:
    """`with DiskDedup(folder) as dd: replay = dd.steps(numbered(records), steps)`, then run
    `replay` over the same records numbered again; the folder is removed on exit."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._open: list[Rows | Ragged] = []

    def __enter__(self) -> DiskDedup:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self._open:
            f.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def steps(self, records: Iterable[Record], steps: list[Step]) -> list[Step]:
        """Scans `records` with `steps`; returns the steps that replay them."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return _plan(records, steps, self.folder, self._open)


def _plan(records: Iterable[Record], steps: list[Step], folder: Path, opened: list) -> list[Step]:
    logged = _Logged(folder)
    ids = Ragged(folder, "ids")
    opened.append(ids)
    near = any(isinstance(s, NearDedup) for s in steps)
    scan: list[Step] = []
    plan: list[tuple[str, Any]] = []
    for st in steps:
        if isinstance(st, QualityFilter) or (isinstance(st, Decontaminate) and near):
            scan.append(st)  # stateless: run once, replayed from its log
            plan.append(("log", st))
        elif isinstance(st, ExactDedup):
            exact = _ExactKeys(st.on, Partitions(folder, "exact", _KEY, PARTS))
            scan.append(exact)
            plan.append(("exact", exact))
        elif isinstance(st, NearDedup):
            feats = NearFeatures(st, folder)
            opened += [feats.n_of, feats.sigs, feats.toks]
            scan.append(feats)
            plan.append(("near", feats))
        elif isinstance(st, Decontaminate):
            plan.append(("self", st))  # after the last stateful step: runs live in the replay
        else:
            raise TypeError(f"no on-disk plan for the clean step {st.name!r}")

    def with_ids(stream: Iterable[Record]) -> Iterator[Record]:
        for batch in batched(stream, 1024):
            ids.extend([str(r["id"]).encode("utf-8", "surrogatepass") for r in batch])
            yield from batch

    stream: Iterable[Record] = with_ids(records)
    for st in scan:
        stream = st.run(stream, logged)
    for _ in stream:
        pass
    for log in logged.logs.values():
        log.close()
    out: list[Step] = []
    for kind, st in plan:
        if kind == "log":
            batch = st.batch_size if isinstance(st, Decontaminate) else 1
            out.append(_LogReplay(st.name, logged.log(st.name), batch, st))
        elif kind == "exact":
            out.append(_ExactReplay(*_resolve_exact(st.parts, folder, ids.count), ids))
        elif kind == "near":
            out.append(NearReplay(st, *resolve_bands(st, folder), ids))
        else:
            out.append(st)
    return out
