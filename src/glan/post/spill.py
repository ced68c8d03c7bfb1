"""Files the on-disk dedup spills to: partitioned row files, append-only arrays read back by
position, and logs of pickled entries. Reads use pread (not mmap), so what they bring in sits
in the page cache, not in the process's resident memory."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

_FLUSH_ROWS = 1 << 20  # rows buffered before they are split into their partitions


class Partitions:
    """Rows of one numpy dtype spread over `parts` files by a partition number, each file read
    back whole (so a partition must fit in memory: callers choose the partition count)."""

    def __init__(self, folder: Path, name: str, dtype: np.dtype, parts: int) -> None:
        self.folder, self.name, self.dtype, self.parts = folder, name, np.dtype(dtype), parts
        self._files: dict[int, IO[bytes]] = {}
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._rows = 0

    def _path(self, part: int) -> Path:
        return self.folder / f"{self.name}-{part:05d}.bin"

    def add(self, part: np.ndarray, rows: np.ndarray) -> None:
        if len(rows):
            self._pending.append((part, rows))
            self._rows += len(rows)
            if self._rows >= _FLUSH_ROWS:
                self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        part = np.concatenate([p for p, _ in self._pending])
        rows = np.concatenate([r for _, r in self._pending])
        self._pending, self._rows = [], 0
        order = np.argsort(part, kind="stable")  # stable: rows keep their order in a partition
        part, rows = part[order], rows[order]
        bounds = np.searchsorted(part, np.arange(self.parts + 1))
        for p in np.nonzero(np.diff(bounds))[0].tolist():
            fh = self._files.get(p)
            if fh is None:
                fh = self._files[p] = self._path(p).open("ab")
            fh.write(rows[bounds[p] : bounds[p + 1]].tobytes())

    def close(self) -> None:
        self.flush()
        for fh in self._files.values():
            fh.close()
        self._files.clear()

    def read(self, part: int) -> np.ndarray:
        """The rows of one partition in the order they were added; the file is then deleted."""
        path = self._path(part)
        if not path.exists():
            return np.empty(0, self.dtype)
        rows = np.fromfile(path, dtype=self.dtype)
        path.unlink()
        return rows


class Rows:
    """An append-only file of fixed-width rows (`width` values of `dtype` each), read by row."""

    def __init__(self, path: Path, dtype: np.dtype, width: int = 1) -> None:
        self.path, self.dtype, self.width = path, np.dtype(dtype), width
        self.row_bytes = self.dtype.itemsize * width
        self._out: IO[bytes] | None = path.open("wb")
        self._fd = -1
        self.count = 0

    def append(self, rows: np.ndarray) -> None:
        self.write_bytes(np.ascontiguousarray(rows, dtype=self.dtype).tobytes())

    def write_bytes(self, data: bytes) -> None:
        assert self._out is not None, "appended after the first read"
        self._out.write(data)
        self.count += len(data) // self.row_bytes

    def _reader(self) -> int:
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def span(self, start: int, stop: int) -> np.ndarray:
        """Rows start .. stop-1 in one read (fewer where the file ends)."""
        fd, n = self._reader(), max(0, stop - start)
        data = os.pread(fd, n * self.row_bytes, start * self.row_bytes)
        return np.frombuffer(data, dtype=self.dtype).reshape(-1, self.width)

    def take(self, idx: np.ndarray) -> np.ndarray:
        """The rows at the given positions: one read for a dense range, else one per row."""
        if not len(idx):
            return np.empty((0, self.width), self.dtype)
        lo, hi = int(idx.min()), int(idx.max()) + 1
        if hi - lo <= 4 * len(idx) + 64:
            return self.span(lo, hi)[idx - lo]
        fd, rb = self._reader(), self.row_bytes
        data = b"".join(os.pread(fd, rb, i * rb) for i in idx.tolist())
        return np.frombuffer(data, dtype=self.dtype).reshape(len(idx), self.width)

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class Ragged:
    """An append-only list of variable-length items (bytes, or 1-d arrays of `dtype`)."""

    def __init__(self, folder: Path, name: str, dtype: np.dtype | None = None) -> None:
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.data = Rows(folder / f"{name}.data", np.uint8)
        self.ends = Rows(folder / f"{name}.ends", np.uint64)
        self._end = 0
        self.count = 0

    def extend(self, items: list[bytes] | list[np.ndarray]) -> None:
        blobs = items if self.dtype is None else [np.asarray(x, self.dtype).tobytes() for x in items]
        lens = np.fromiter(map(len, blobs), np.uint64, len(blobs))
        self.ends.append(self._end + np.cumsum(lens))
        self._end += int(lens.sum())
        self.data.write_bytes(b"".join(blobs))
        self.count += len(blobs)

    def _bounds(self, i: int) -> tuple[int, int]:
        if i == 0:
            return 0, int(self.ends.span(0, 1)[0, 0])
        a, b = self.ends.span(i - 1, i + 1)[:, 0].tolist()
        return a, b

    def get(self, i: int) -> Any:
        start, end = self._bounds(i)
        blob = os.pread(self.data._reader(), end - start, start)
        return blob if self.dtype is None else np.frombuffer(blob, self.dtype)

    def span(self, start: int, stop: int) -> list[Any]:
        """Items start .. stop-1, read in one go."""
        if stop <= start:
            return []
        ends = self.ends.span(max(0, start - 1), stop)[:, 0].astype(np.int64)
        if start == 0:
            ends = np.concatenate([[0], ends])
        blob = os.pread(self.data._reader(), int(ends[-1] - ends[0]), int(ends[0]))
        cut = (ends - ends[0]).tolist()
        if self.dtype is None:
            return [blob[a:b] for a, b in zip(cut, cut[1:], strict=False)]
        arr = np.frombuffer(blob, self.dtype)
        w = self.dtype.itemsize
        return [arr[a // w : b // w] for a, b in zip(cut, cut[1:], strict=False)]

    def close(self) -> None:
        self.data.close()
        self.ends.close()


class Log:
    """A stream of pickled entries, written in order and read back in the same order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out: IO[bytes] | None = path.open("wb")

    def write(self, entry: Any) -> None:
        assert self._out is not None
        pickle.dump(entry, self._out, protocol=pickle.HIGHEST_PROTOCOL)

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def __iter__(self) -> Iterator[Any]:
        self.close()
        with self.path.open("rb") as fh:
            while True:
                try:
                    yield pickle.load(fh)
                except EOFError:
                    return
