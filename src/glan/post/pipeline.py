"""clean(), export() and clean_and_export(): the steps chained over files, with a report."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from glan.errors import ConfigError
from glan.post import card
from glan.post.base import Record, Removed, Step, run_steps
from glan.post.config import FieldMap, PostConfig
from glan.post.decontam import Decontaminate, DecontamIndex
from glan.post.dedup import ExactDedup, NearDedup
from glan.post.export import FormatWriter, finish_hf, hf_available
from glan.post.filters import QualityFilter
from glan.post.io import JsonlWriter, read_pairs
from glan.post.split import held_out_ids, splitter

CLEAN_FILE, REMOVED_FILE, REPORT_FILE = "clean.jsonl", "removed.jsonl", "report.json"


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


def preflight(cfg: PostConfig) -> None:
    """Fail early (ConfigError) if a configured benchmark or extra is missing: call it before
    a long generation run, not after."""
    from glan.post.benchmarks import builtin_path

    if cfg.decontam.enabled:
        for name in cfg.decontam.builtin:
            builtin_path(name)
        for spec in cfg.decontam.files:
            if not spec.path.is_file():
                raise ConfigError(f"benchmark file not found: {spec.path}")
    if cfg.export.hf_dataset == "yes" and not hf_available():
        raise ConfigError("export.hf_dataset=yes needs the datasets package: pip install 'glan[hf]'")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def clean(pairs_path: Path, out_dir: Path, cfg: PostConfig) -> dict[str, Any]:
    """Filters, dedups and decontaminates; writes clean.jsonl and removed.jsonl (with reasons)."""
    pairs_path, out_dir = Path(pairs_path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    steps = build_steps(cfg)
    index_s = time.perf_counter() - t0
    read = 0

    def counted() -> Iterator[Record]:
        nonlocal read
        for rec in read_pairs(pairs_path, cfg.fields):
            read += 1
            yield rec

    with (
        JsonlWriter(out_dir / CLEAN_FILE) as kept,
        JsonlWriter(out_dir / REMOVED_FILE) as gone,
    ):
        removed = Removed(gone)
        for rec in run_steps(counted(), steps, removed):
            kept.write(rec)
    seconds = time.perf_counter() - t0
    report: dict[str, Any] = {
        "input": str(pairs_path),
        "read": read,
        "kept": kept.count,
        "removed_total": gone.count,
        "removed": removed.by_step(),
        "steps": [s.name for s in steps],
        "seconds": round(seconds, 3),
        "pairs_per_second": round(read / seconds, 1) if seconds else None,
        "files": {"clean": str(out_dir / CLEAN_FILE), "removed": str(out_dir / REMOVED_FILE)},
    }
    for s in steps:
        if isinstance(s, Decontaminate):
            ix = s.index
            report["decontam_index"] = {
                "items": len(ix.items),
                "hashes": ix.size,
                "texts_too_short": ix.skipped_short,
                "build_seconds": round(index_s, 3),
            }
        if isinstance(s, NearDedup):
            report["near_dedup_rouge_checks"] = s.checks
    _write_json(out_dir / REPORT_FILE, {"clean": report, "config": cfg.model_dump(mode="json")})
    return report


def export(
    clean_path: Path,
    out_dir: Path,
    cfg: PostConfig,
    clean_report: dict[str, Any] | None = None,
    fields: FieldMap | None = None,
) -> dict[str, Any]:
    """Writes the trainer formats, the optional split, a `datasets` dataset and README.md.

    `fields` names the input's fields (cfg.fields by default; clean.jsonl uses glan's names).
    """
    fields = fields or cfg.fields
    clean_path, out_dir = Path(clean_path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ecfg = cfg.export
    if ecfg.hf_dataset == "yes" and not hf_available():
        raise ConfigError("export.hf_dataset=yes needs the datasets package: pip install 'glan[hf]'")
    t0 = time.perf_counter()
    test_ids = None
    if cfg.split.mode == "discipline" and cfg.split.test_per_discipline:
        test_ids = held_out_ids(read_pairs(clean_path, fields), cfg.split)
    which = splitter(cfg.split, test_ids)
    splits = ["train"] if cfg.split.mode == "none" else ["train", "test"]
    want_hf = ecfg.hf_dataset == "yes" or (ecfg.hf_dataset == "auto" and hf_available())
    writers = {(f, s): FormatWriter(out_dir, f, s, ecfg, hf=want_hf) for f in ecfg.formats for s in splits}
    stats = card.Stats()
    try:
        for rec in read_pairs(clean_path, fields):
            split = which(rec)
            stats.add(rec, split)
            for f in ecfg.formats:
                writers[(f, split)].write(rec)
    finally:
        for w in writers.values():
            w.close()
    files: dict[str, dict[str, dict[str, str]]] = {}
    for (f, s), w in writers.items():
        files.setdefault(f, {})[s] = {k: str(p.relative_to(out_dir)) for k, p in w.paths.items()}
    hf: dict[str, str] = {}
    if want_hf:
        for f in ecfg.formats:
            hf[f] = str(finish_hf(out_dir, f, splits).relative_to(out_dir))
    report = {
        "input": str(clean_path),
        "exported": sum(stats.splits.values()),
        "stats": stats.as_dict(),
        "files": files,
        "hf_datasets": hf,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    full = {"clean": clean_report or {}, "export": report, "config": cfg.model_dump(mode="json")}
    (out_dir / "README.md").write_text(card.render(ecfg.dataset_name, stats, full, files))
    return report


def clean_and_export(pairs_path: Path, out_dir: Path, cfg: PostConfig) -> dict[str, Any]:
    """Clean then export; returns the counts report, also written to out_dir/report.json."""
    out_dir = Path(out_dir)
    cleaned = clean(pairs_path, out_dir, cfg)
    exported = export(out_dir / CLEAN_FILE, out_dir, cfg, cleaned, FieldMap())
    report = {"clean": cleaned, "export": exported, "config": cfg.model_dump(mode="json")}
    _write_json(out_dir / REPORT_FILE, report)
    return report
