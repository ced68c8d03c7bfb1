"""`glan eval-task`: the held-out split of an export as an lm-evaluation-harness task folder
(GLAN-Test style; glan.post.eval_folder says what the folder holds). `glan export` writes the
same folder as EXPORT/lm_eval whenever it writes a held-out split; this builds one from an export
made before, or with another name, place or answer length."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from glan.errors import ConfigError
from glan.post.eval_folder import (
    MAX_GEN_TOKS,
    TASK_DIR,
    YAML_FILE,
    EvalTaskWriter,
    check_task_name,
    default_task_name,
)
from glan.post.normalize import prompt_text

_FORMATS = ("messages", "alpaca", "sharegpt")  # the first one the export wrote is read
_SHAREGPT_ROLE = {"human": "user", "gpt": "assistant", "system": "system"}


def find_export(path: Path) -> Path:
    """The export directory of a run dir (RUN/clean) or an export's output directory."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(
            f"{path}: not a directory; name a run directory or a `glan export` output directory"
        )
    for folder in (path / "clean", path):
        if (folder / "report.json").is_file():
            return folder
    raise ConfigError(f"{path}: no glan export here (no report.json in it or in {path / 'clean'})")


def held_out_file(export_dir: Path) -> tuple[Path, str]:
    """(the held-out split's file, its format) from the export's report.json."""
    try:
        rep = json.loads((export_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{export_dir / 'report.json'}: not readable ({exc})") from None
    files = ((rep.get("export") or {}).get("files") or {}) if isinstance(rep, dict) else {}
    for fmt in _FORMATS:
        test = (files.get(fmt) or {}).get("test") or {}
        for kind in ("jsonl", "parquet"):
            if test.get(kind) and (export_dir / test[kind]).is_file():
                return export_dir / test[kind], fmt
    raise ConfigError(
        f"{export_dir} has no held-out split: export with one (post.split, e.g. "
        "`glan export clean.jsonl -o DIR --split subject` or `--test-per-discipline 50`), then rerun"
    )


def _records(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    """The held-out pairs of an exported file, as clean.jsonl records (messages or instruction)."""
    from glan.post.config import FieldMap
    from glan.post.io import iter_rows, read_pairs

    if fmt == "messages":
        yield from read_pairs(path)
    elif fmt == "alpaca":
        for rec in read_pairs(path, FieldMap(response="output")):
            history, system = rec.pop("history", None), rec.pop("system", None)
            if history or system:
                turns = [{"role": "system", "content": system}] if system else []
                for user, answer in history or []:
                    turns += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
                turns += [{"role": "user", "content": prompt_text(rec)}]
                rec["messages"] = [*turns, {"role": "assistant", "content": rec["response"]}]
            yield rec
    else:
        for n, row in iter_rows(path):
            conv = row.pop("conversations", None) or []
            try:
                turns = [{"role": _SHAREGPT_ROLE[t["from"]], "content": t["value"]} for t in conv]
            except (KeyError, TypeError):
                raise ConfigError(f"{path}:{n}: not a ShareGPT conversation") from None
            if not turns or turns[-1]["role"] != "assistant":
                raise ConfigError(f"{path}:{n}: a conversation must end with an assistant turn")
            yield {**row, "messages": turns}


def _methods(export_dir: Path, ids: set[str]) -> dict[str, str]:
    """The generating method of the held-out pairs, from the clean.jsonl beside the export (the
    trainer formats do not carry it); {} when there is none."""
    from glan.post.io import read_pairs

    clean = export_dir / "clean.jsonl"
    if not clean.is_file():
        return {}
    return {r["id"]: str(r["method"]) for r in read_pairs(clean) if r["id"] in ids and r.get("method")}


def build_task(
    path: Path, out: Path | None = None, name: str | None = None, max_gen_toks: int = MAX_GEN_TOKS
) -> dict[str, Any]:
    """Writes the task folder of the held-out split of the export in `path` (a run dir or an
    export's directory) to `out` (default: EXPORT/lm_eval), replacing an earlier task folder
    there as a whole. Every input is checked before anything is written."""
    export_dir = find_export(path)
    src, fmt = held_out_file(export_dir)
    name = check_task_name(name) if name is not None else default_task_name(export_dir)
    target = Path(out) if out is not None else export_dir / TASK_DIR
    if (
        target.exists()
        and not (target / YAML_FILE).is_file()
        and (not target.is_dir() or any(target.iterdir()))
    ):
        raise ConfigError(f"{target} exists and is not a glan task folder; name another with -o")
    ids = {r["id"] for r in _records(src, fmt)}
    if not ids:
        raise ConfigError(f"the held-out split {src} is empty: hold out more (post.split.test_share)")
    methods = _methods(export_dir, ids)
    rep = json.loads((export_dir / "report.json").read_text(encoding="utf-8"))
    system = ((rep.get("config") or {}).get("export") or {}).get("system_prompt")
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = target.parent / f".{target.name}.partial-{os.getpid()}"
    trash = target.parent / f".{target.name}.old-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    writer = EvalTaskWriter(stage, name, system, max_gen_toks)
    try:
        ok = False
        try:
            for rec in _records(src, fmt):
                writer.write({"method": methods.get(rec["id"]), **rec})
            ok = True
        finally:
            writer.close(ok)
        if target.exists():
            os.replace(target, trash)
        os.replace(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(trash, ignore_errors=True)
    return {**writer.summary(), "folder": str(target), "source": str(src)}
