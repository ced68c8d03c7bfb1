"""A step's output: a folder of shards, each with a completion marker, and an index.

    RUN/STEP/_step.json           the shards in order (name, digest, records, failures), the
                                  step's config fingerprint and the digest of its input's index
    RUN/STEP/NAME.jsonl           the records of one shard (made from shard NAME of its input)
    RUN/STEP/NAME.failures.jsonl  its failed jobs, with their raw replies
    RUN/STEP/NAME.removed.jsonl   what the step made and dropped, each with its reason
    RUN/STEP/NAME.done.json       its marker: fingerprint (step config + input shard digest)
    RUN/STEP/_excluded/           the files of shards no longer in the index (kept, not used)

A shard is finished when its marker matches what it would be made from now: a rerun skips it
without reading it, and a step whose index matches its input's skips the step without
reading anything. Shards with failures run again (a rerun asks those jobs anew); every call
comes from the cache, which stays the source of truth.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from glan.errors import ConfigError
from glan.records import Dropped
from glan.store import JsonlWriter, RunDir, read_jsonl, write_json_atomic

M = TypeVar("M", bound=BaseModel)
INDEX = "_step.json"
EXCLUDED = "_excluded"  # shards of nodes no longer selected: kept, out of the index


def fingerprint(*parts: Any) -> str:
    """sha256 of the canonical JSON of `parts`."""
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


@dataclass
class Shard:
    name: str
    digest: str  # sha256 of its records file
    records: int
    failures: int = 0
    fingerprint: str = ""  # what it was made from (config + input shard digest)
    removed: int = 0  # records the step made and dropped (glan.records.Dropped)


class StepFolder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.excluded = root / EXCLUDED

    def records_path(self, name: str) -> Path:
        return self.root / f"{name}.jsonl"

    def failures_path(self, name: str) -> Path:
        return self.root / f"{name}.failures.jsonl"

    def removed_path(self, name: str) -> Path:
        return self.root / f"{name}.removed.jsonl"

    def _marker_path(self, name: str) -> Path:
        return self.root / f"{name}.done.json"

    def index(self) -> dict[str, Any] | None:
        """The step's index, or None when the step never finished here."""
        path = self.root / INDEX
        if not path.is_file():
            return None
        try:
            return orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            return None  # a torn index: the step runs again (its finished shards are skipped)

    def require(self) -> dict[str, Any]:
        index = self.index()
        if index is None:
            raise ConfigError(f"{self.root}: not found (run the step that writes it first)")
        return index

    def shards(self) -> list[Shard]:
        return [Shard(**s) for s in self.require()["shards"]]

    def records(self, model: type[M]) -> Iterator[M]:
        """Every record of the step, shard by shard in order."""
        for shard in self.shards():
            yield from read_jsonl(self.records_path(shard.name), model)

    def count(self) -> int:
        return sum(s.records for s in self.shards())

    def finished(self, name: str, fp: str) -> Shard | None:
        """The shard's marker, when it was made from `fp` with nothing failed."""
        path = self._marker_path(name)
        if not (path.is_file() and self.records_path(name).is_file()):
            return None
        try:
            shard = Shard(**orjson.loads(path.read_bytes()))
        except (orjson.JSONDecodeError, TypeError):
            return None
        return shard if shard.fingerprint == fp and not shard.failures else None

    def mark(self, shard: Shard) -> None:
        write_json_atomic(self._marker_path(shard.name), asdict(shard))

    def unfinish(self) -> None:
        """The step is being made again: drop its index (its shards' markers stay)."""
        (self.root / INDEX).unlink(missing_ok=True)

    def write_index(self, shards: list[Shard], config: str, input_digest: str) -> dict[str, Any]:
        """Record the step as finished with `shards` in order. The files of other shards (an
        earlier run's, for disciplines no longer selected or removed in review) move to
        `STEP/_excluded/`: kept on disk, out of the index, so out of every later step and export."""
        keep = {s.name for s in shards}
        for path in self.root.iterdir():
            name = path.name.split(".", 1)[0]
            if path.name != INDEX and name not in keep and path.suffix in (".jsonl", ".json"):
                self.excluded.mkdir(exist_ok=True)
                path.replace(self.excluded / path.name)
        index = {
            "config": config,
            "input": input_digest,
            "digest": fingerprint([s.digest for s in shards]),
            "records": sum(s.records for s in shards),
            "failures": sum(s.failures for s in shards),
            "removed": sum(s.removed for s in shards),
            "shards": [asdict(s) for s in shards],
        }
        write_json_atomic(self.root / INDEX, index)
        return index


class PostMarker:
    """RUN/.NAME.json: what the folder of a post step (RUN/NAME, e.g. clean/) was made from, so
    a rerun skips it when nothing changed and drops it when its input changed under it."""

    def __init__(self, run: RunDir, name: str) -> None:
        self.path = run.root / f".{name}.json"
        self.folder = run.stage(name)

    def _read(self) -> dict[str, Any] | None:
        try:
            return orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None

    def matches(self, fp: str) -> bool:
        made = self._read()
        return made is not None and made.get("fingerprint") == fp and self.folder.is_dir()

    def stale(self, input_digest: str, changed: bool) -> bool:
        """Whether the folder exists but was not made from the input now in the run dir (one
        without a marker, made by hand or by an older glan: when the input just `changed`)."""
        made = self._read()
        if not self.folder.is_dir():
            return False
        return changed if made is None else made.get("input") != input_digest

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def write(self, fp: str, input_digest: str) -> None:
        write_json_atomic(self.path, {"fingerprint": fp, "input": input_digest})


class ShardWriter:
    """Routes the records and failures of a stream of input records to the output shard of
    the input shard they came from, committing each shard (and its marker) when its last input
    record is done, in input order. A shard with jobs waiting for a batch is not committed."""

    def __init__(self, out: StepFolder, todo: list[tuple[Shard, str]], done: dict[str, Shard]) -> None:
        self.out, self.todo, self.done = out, todo, done
        self.at = -1
        self.left = self.deferred = 0
        self.records: JsonlWriter | None = None
        self.failures: JsonlWriter | None = None
        self.removed: JsonlWriter | None = None
        self._next()

    def _next(self) -> None:
        """Open the next shard that has input records (empty ones are committed at once)."""
        while True:
            self.at += 1
            if self.at >= len(self.todo):
                self.records = self.failures = self.removed = None
                return
            shard, _ = self.todo[self.at]
            self.records = JsonlWriter(self.out.records_path(shard.name))
            self.failures = JsonlWriter(self.out.failures_path(shard.name))
            self.removed = JsonlWriter(self.out.removed_path(shard.name))
            self.left, self.deferred = shard.records, 0
            if self.left:
                return
            self._commit()

    def _commit(self) -> None:
        shard, fp = self.todo[self.at]
        assert self.records is not None and self.failures is not None and self.removed is not None
        if self.deferred:  # its records would be incomplete: the next round makes it
            self.abort()
            return
        self.records.commit()
        self.failures.commit()
        self.removed.commit()
        made = Shard(
            shard.name, self.records.digest, self.records.count, self.failures.count, fp, self.removed.count
        )
        self.out.mark(made)
        self.done[shard.name] = made

    def emit(self, record: Any) -> None:
        assert self.records is not None and self.removed is not None
        (self.removed if isinstance(record, Dropped) else self.records).write(record)

    def fail(self, failure: Any) -> None:
        assert self.failures is not None
        self.failures.write(failure)

    def item_done(self, deferred: int = 0) -> None:
        """The records of one more input record are all written (`deferred`: jobs waiting)."""
        self.deferred += deferred
        self.left -= 1
        if self.left == 0:
            self._commit()
            self._next()

    def abort(self) -> None:
        for writer in (self.records, self.failures, self.removed):
            if writer is not None:
                writer.abort()
        self.records = self.failures = self.removed = None
