"""One output directory, replaced as a whole: every file of a clean/export invocation is written
into a hidden staging folder inside it and moved into place only when the step succeeded.

A failure (a bad line 500, a full disk) removes the staging folder and leaves the previous
outputs untouched; a success also removes the outputs a previous invocation recorded that this
one no longer writes (a dropped format), so the files of one directory describe one input.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from types import TracebackType

import orjson

from glan.atomic import fsync_file
from glan.errors import ConfigError

REPORT = "report.json"
_STAGING = ".glan-staging-"
# what glan wrote into an output directory before reports listed their outputs
_KNOWN = ("clean.jsonl", "removed.jsonl", REPORT, "README.md", "messages", "sharegpt", "alpaca", "hf")


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def recorded_outputs(out: Path) -> list[str]:
    """Names the glan report in `out` says were written there ([] when there is none)."""
    try:
        rep = orjson.loads((out / REPORT).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return []
    if not isinstance(rep, dict) or not ({"clean", "export"} & rep.keys()):
        return []  # not a report glan wrote: touch nothing of it
    names = rep.get("outputs")
    if isinstance(names, list):
        return [n for n in names if isinstance(n, str) and n and "/" not in n and n not in (".", "..")]
    return [n for n in _KNOWN if (out / n).exists()]


def check_output(out: Path, writes: list[str], inputs: list[Path]) -> None:
    """Refuse an output directory that is a file, or one where an output would replace an input."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output directory {out} is a file; name a directory with -o")
    root = out.resolve()
    for inp in inputs:
        src = Path(inp).resolve()
        for name in writes:
            if _inside(src, root / name):
                raise ConfigError(
                    f"{inp} is an input of this command and would be replaced by its output "
                    f"{out / name}; write to another directory with -o"
                )


class OutputDir:
    """`with OutputDir(out, inputs) as stage:` write every output into `stage`; on success
    they replace the old ones in `out` together. `keep` names old outputs that stay valid."""

    def __init__(self, out: Path, inputs: list[Path], keep: tuple[str, ...] = ()) -> None:
        self.out = Path(out)
        self.inputs = [Path(p).resolve() for p in inputs]
        self.keep = keep
        self.created: list[Path] = []
        self.stale: list[str] = []  # old outputs removed on commit (they described another input)
        self.stage = self.out / f"{_STAGING}{os.getpid()}-{secrets.token_hex(4)}"

    def __enter__(self) -> Path:
        missing = [p for p in [self.out, *self.out.parents] if not p.exists()]
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self.created = missing
            _remove_abandoned(self.out)
            self.stage.mkdir()
        except (FileExistsError, NotADirectoryError) as exc:
            raise ConfigError(f"cannot create output directory {self.out}: {exc.strerror}") from None
        return self.stage

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if et is None:
                self._commit()
        finally:
            shutil.rmtree(self.stage, ignore_errors=True)
            if et is not None:
                for d in self.created:  # folders this invocation made, innermost first
                    try:
                        d.rmdir()
                    except OSError:
                        break

    def names(self) -> list[str]:
        """The outputs of this invocation: what is staged, and the old outputs it keeps."""
        staged = {p.name for p in self.stage.iterdir() if not p.name.endswith(".partial")}
        kept = {n for n in self.keep if (self.out / n).exists()}
        return sorted(staged | kept | {REPORT})

    def _commit(self) -> None:
        staged = sorted(p.name for p in self.stage.iterdir())
        for p in self.stage.rglob("*"):  # durable before anything old is replaced
            if p.is_file():
                fsync_file(p)
        keep = set(staged) | set(self.keep)
        stale = [n for n in recorded_outputs(self.out) if n not in keep and not self._holds_input(n)]
        self.stale = [n for n in stale if (self.out / n).exists()]
        trash = self.stage / f"{_STAGING}old"
        trash.mkdir()
        # the report goes first and comes back last: a crash between the renames leaves a
        # directory without a report, never a report describing other files
        order = [REPORT] if REPORT in staged else []
        for name in [*order, *stale, *(n for n in staged if n != REPORT)]:
            if (self.out / name).exists() or (self.out / name).is_symlink():
                os.replace(self.out / name, trash / name)
        for name in (n for n in staged if n != REPORT):
            os.replace(self.stage / name, self.out / name)
        if REPORT in staged:
            os.replace(self.stage / REPORT, self.out / REPORT)

    def _holds_input(self, name: str) -> bool:
        target = (self.out / name).resolve()
        return any(_inside(src, target) for src in self.inputs)


def _remove_abandoned(out: Path) -> None:
    """Staging folders of processes that died (kill -9) before they could clean up."""
    for p in out.glob(f"{_STAGING}*"):
        pid = p.name[len(_STAGING) :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
