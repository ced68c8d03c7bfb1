"""clean(), export() and clean_and_export(): the steps chained over files, with a report.

Each checks every input (pairs, benchmark files) and the output directory before it writes
anything, then writes all its outputs through one OutputDir: they replace the previous ones
together, or not at all.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from glan.atomic import JsonlWriter, write_atomic
from glan.errors import ConfigError
from glan.events import Events
from glan.post import card
from glan.post.base import Record, Removed, Step, run_steps
from glan.post.config import FieldMap, PostConfig
from glan.post.decontam import Decontaminate, DecontamIndex
from glan.post.dedup import ExactDedup, NearDedup
from glan.post.dedup_disk import DiskDedup, numbered, on_disk
from glan.post.eval_folder import TASK_DIR, EvalTaskWriter, default_task_name
from glan.post.export import FormatWriter, finish_hf, hf_available
from glan.post.filters import QualityFilter
from glan.post.io import check_pairs, read_pairs
from glan.post.outdir import REPORT, OutputDir, check_output
from glan.post.review import unusual_removals, warn
from glan.post.split import fallback_note, held_out_ids, splitter

CLEAN_FILE, REMOVED_FILE, REPORT_FILE, CARD_FILE = "clean.jsonl", "removed.jsonl", REPORT, "README.md"


def build_steps(cfg: PostConfig, index: DecontamIndex | None = None) -> list[Step]:
    """The configured steps in order: filters, exact dedup, decontamination, near dedup."""
    steps: list[Step] = []
    if cfg.filters.enabled:
        steps.append(QualityFilter(cfg.filters))
    if cfg.dedup.exact:
        steps.append(ExactDedup(cfg.dedup.exact_on))
    if cfg.decontam.enabled:
        steps.append(Decontaminate(cfg.decontam, cfg.batch_size, index))
    if cfg.dedup.near:
        steps.append(NearDedup(cfg.dedup, cfg.batch_size))
    return steps


def post_config(section: dict[str, Any] | None) -> PostConfig | None:
    """The `post:` section of a run config, validated and preflighted (None: no section)."""
    if section is None:
        return None
    from pydantic import ValidationError

    from glan.errors import first_error

    try:
        cfg = PostConfig.model_validate(section)
    except ValidationError as e:
        raise ConfigError(f"post.{first_error(e)}") from None
    preflight(cfg)
    return cfg


def preflight(cfg: PostConfig) -> None:
    """Fail early (ConfigError) if a configured benchmark or extra is missing or unreadable:
    call it before a long generation run, not after."""
    from glan.post.benchmarks import builtin_path, file_items

    if cfg.decontam.enabled:
        for name in cfg.decontam.builtin:
            builtin_path(name)
        for spec in cfg.decontam.files:
            items = file_items(spec)  # reads the first row: exists, a file, parses, has the fields
            try:
                if next(items, None) is None:
                    raise ConfigError(f"benchmark file {spec.path} has no items (it is empty)")
            finally:
                items.close()
    if cfg.export.hf_dataset == "yes" and not hf_available():
        raise ConfigError("export.hf_dataset=yes needs the datasets package: pip install 'glan[hf]'")


def _note_stale(od: OutputDir, events: Events) -> None:
    if od.stale:
        events.note(f"removed {', '.join(od.stale)} from {od.out}: earlier outputs this run does not write")


def _inputs(pairs: Path, cfg: PostConfig) -> list[Path]:
    return [pairs, *(s.path for s in cfg.decontam.files if cfg.decontam.enabled)]


def _export_writes(cfg: PostConfig) -> tuple[list[str], bool]:
    """The names an export writes in its directory, and whether it saves a `datasets` dataset."""
    hf = cfg.export.hf_dataset
    want_hf = hf == "yes" or (hf == "auto" and hf_available())
    task = [TASK_DIR] if cfg.split.mode != "none" else []  # the held-out split as an lm-eval task
    return [*cfg.export.formats, CARD_FILE, REPORT_FILE, *(["hf"] if want_hf else []), *task], want_hf


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, orjson.dumps(data, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def _clean_into(stage: Path, pairs: Path, out: Path, cfg: PostConfig, steps: list[Step], t0: float) -> dict:
    index_s = time.perf_counter() - t0
    read = 0

    def counted() -> Iterator[Record]:
        nonlocal read
        for rec in read_pairs(pairs, cfg.fields):
            read += 1
            yield rec

    seen: Counter[str] = Counter()
    disk = on_disk(pairs, cfg)
    # the on-disk dedup's files live in the staging folder: gone on exit, and with it if killed
    with DiskDedup(stage / ".dedup") as dd:
        ran = dd.steps(numbered(read_pairs(pairs, cfg.fields)), steps) if disk else steps
        records = numbered(counted()) if disk else counted()
        with JsonlWriter(stage / CLEAN_FILE) as kept, JsonlWriter(stage / REMOVED_FILE) as gone:
            removed = Removed(gone)
            for rec in run_steps(records, ran, removed, seen):
                kept.write(rec)
    seconds = time.perf_counter() - t0
    report: dict[str, Any] = {
        "input": str(pairs),
        "read": read,
        "kept": kept.count,
        "removed_total": gone.count,
        "removed": removed.by_step(),
        "steps": [s.name for s in steps],
        "dedup": "on disk" if disk else "in memory",
        "seconds": round(seconds, 3),
        "pairs_per_second": round(read / seconds, 1) if seconds else None,
        "files": {"clean": str(out / CLEAN_FILE), "removed": str(out / REMOVED_FILE)},
        "warnings": unusual_removals(seen, removed, cfg),
    }
    for s in ran:
        ix = getattr(s, "index", None)
        if isinstance(ix, DecontamIndex):
            report["decontam_index"] = {
                "items": len(ix.items),
                "hashes": ix.size,
                "texts_too_short": ix.skipped_short,
                "build_seconds": round(index_s, 3),
            }
        if s.name == "near_dedup":
            report["near_dedup_rouge_checks"] = s.checks  # type: ignore[attr-defined]
    return report


def clean(pairs_path: Path, out_dir: Path, cfg: PostConfig, events: Events | None = None) -> dict[str, Any]:
    """Filters, dedups and decontaminates; writes clean.jsonl, removed.jsonl (with reasons) and
    report.json, replacing every output of an earlier clean or export in `out_dir`. Warnings
    and notes go to `events` (plain stderr by default)."""
    events = events or Events()
    pairs_path, out_dir = Path(pairs_path), Path(out_dir)
    inputs = _inputs(pairs_path, cfg)
    check_pairs(pairs_path, cfg.fields)
    preflight(cfg)
    check_output(out_dir, [CLEAN_FILE, REMOVED_FILE, REPORT_FILE], inputs)
    t0 = time.perf_counter()
    steps = build_steps(cfg)
    od = OutputDir(out_dir, inputs)
    with od as stage:
        report = _clean_into(stage, pairs_path, out_dir, cfg, steps, t0)
        full = {"clean": report, "config": cfg.model_dump(mode="json"), "outputs": od.names()}
        _write_json(stage / REPORT_FILE, full)
    _note_stale(od, events)
    warn(report["warnings"], events)
    return report


def _export_into(
    stage: Path,
    src: Path,
    cfg: PostConfig,
    fields: FieldMap,
    want_hf: bool,
    clean_report: dict[str, Any],
    events: Events,
    quality: dict[str, Any] | None = None,
    task_name: str = "glan_test",
) -> dict[str, Any]:
    """Writes the formats, the `datasets` dataset, the held-out split's lm-eval task folder
    (`task_name`) and README.md into `stage`."""
    ecfg = cfg.export
    t0 = time.perf_counter()
    test_ids = None
    if cfg.split.mode == "discipline" and cfg.split.test_per_discipline:
        test_ids = held_out_ids(read_pairs(src, fields), cfg.split)
    which = splitter(cfg.split, test_ids)
    splits = ["train"] if cfg.split.mode == "none" else ["train", "test"]
    writers = {(f, s): FormatWriter(stage, f, s, ecfg, hf=want_hf) for f in ecfg.formats for s in splits}
    task = EvalTaskWriter(stage / TASK_DIR, task_name, ecfg.system_prompt) if "test" in splits else None
    stats = card.Stats()
    ok = False
    try:
        for rec in read_pairs(src, fields):
            split = which(rec)
            stats.add(rec, split)
            for f in ecfg.formats:
                writers[(f, split)].write(rec)
            if task is not None and split == "test":
                task.write(rec)
        ok = True
    finally:
        for w in writers.values():
            w.close(ok)
        if task is not None:  # an empty held-out split makes no task
            task.close(ok and task.count > 0)
    note = fallback_note(cfg.split, sum(stats.splits.values()), stats.missing)
    if note:
        events.note(note)
    files: dict[str, dict[str, dict[str, str]]] = {}
    for (f, s), w in writers.items():
        files.setdefault(f, {})[s] = {k: str(p.relative_to(stage)) for k, p in w.paths.items()}
    hf = {f: str(finish_hf(stage, f, splits).relative_to(stage)) for f in ecfg.formats} if want_hf else {}
    report = {
        "input": str(src),
        "exported": sum(stats.splits.values()),
        "stats": stats.as_dict(),
        "files": files,
        "hf_datasets": hf,
        "lm_eval_task": {"dir": TASK_DIR, **task.summary()} if task is not None and task.count else None,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if clean_report.get("kept") != report["exported"]:
        clean_report.clear()  # the input is not (or no longer) what that clean kept
    full = {
        "clean": clean_report,
        "export": report,
        "config": cfg.model_dump(mode="json"),
        "quality": quality,
    }
    write_atomic(stage / CARD_FILE, card.render(ecfg.dataset_name, stats, full, files).encode())
    return report


def _clean_report_of(path: Path) -> dict[str, Any]:
    """The clean section of the report beside a clean.jsonl (so the card can say what was
    removed), or {} when there is none."""
    if path.name != CLEAN_FILE:
        return {}
    try:
        rep = orjson.loads((path.parent / REPORT_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    clean_rep = rep.get("clean") if isinstance(rep, dict) else None
    return dict(clean_rep) if isinstance(clean_rep, dict) else {}


def export(
    clean_path: Path,
    out_dir: Path,
    cfg: PostConfig,
    clean_report: dict[str, Any] | None = None,
    fields: FieldMap | None = None,
    events: Events | None = None,
) -> dict[str, Any]:
    """Writes the trainer formats, the optional split, a `datasets` dataset, README.md and
    report.json, replacing every output of an earlier export in `out_dir`. Exporting a
    directory's own clean.jsonl keeps it and its removed.jsonl.

    `fields` names the input's fields (cfg.fields by default; clean.jsonl uses glan's names);
    notes go to `events` (plain stderr by default).
    """
    events = events or Events()
    fields = fields or cfg.fields
    clean_path, out_dir = Path(clean_path), Path(out_dir)
    check_pairs(clean_path, fields)
    if cfg.export.hf_dataset == "yes" and not hf_available():
        raise ConfigError("export.hf_dataset=yes needs the datasets package: pip install 'glan[hf]'")
    writes, want_hf = _export_writes(cfg)
    check_output(out_dir, writes, [clean_path])
    own = clean_path.resolve() == (out_dir / CLEAN_FILE).resolve()
    clean_rep = dict(clean_report) if clean_report is not None else _clean_report_of(clean_path)
    od = OutputDir(out_dir, [clean_path], keep=(CLEAN_FILE, REMOVED_FILE) if own else ())
    with od as stage:
        name = default_task_name(out_dir)
        report = _export_into(stage, clean_path, cfg, fields, want_hf, clean_rep, events, task_name=name)
        full = {"clean": clean_rep, "export": report, "config": cfg.model_dump(mode="json")}
        _write_json(stage / REPORT_FILE, {**full, "outputs": od.names()})
    _note_stale(od, events)
    return report


def clean_and_export(
    pairs_path: Path,
    out_dir: Path,
    cfg: PostConfig,
    events: Events | None = None,
    quality: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Clean then export; returns the counts report, also written to out_dir/report.json.
    `quality`: what the run's quality steps accepted (glan.verify.acceptance), for the card."""
    events = events or Events()
    pairs_path, out_dir = Path(pairs_path), Path(out_dir)
    inputs = _inputs(pairs_path, cfg)
    check_pairs(pairs_path, cfg.fields)
    preflight(cfg)
    writes, want_hf = _export_writes(cfg)
    check_output(out_dir, [CLEAN_FILE, REMOVED_FILE, *writes], inputs)
    t0 = time.perf_counter()
    steps = build_steps(cfg)
    od = OutputDir(out_dir, inputs)
    with od as stage:
        cleaned = _clean_into(stage, pairs_path, out_dir, cfg, steps, t0)
        name = default_task_name(out_dir)
        exported = _export_into(
            stage, stage / CLEAN_FILE, cfg, FieldMap(), want_hf, dict(cleaned), events, quality, name
        )
        exported["input"] = str(out_dir / CLEAN_FILE)
        report = {"clean": cleaned, "export": exported, "config": cfg.model_dump(mode="json")}
        if quality:
            report["quality"] = quality
        _write_json(stage / REPORT_FILE, {**report, "outputs": od.names()})
    _note_stale(od, events)
    warn(cleaned["warnings"], events)
    return report
