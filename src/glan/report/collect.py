"""`glan report`: the figures of one or more runs (report.json), from streaming passes over
their files and bounded samples, whatever the runs' sizes; html.render draws them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from glan.atomic import write_atomic
from glan.config import RunConfig
from glan.errors import ConfigError
from glan.recipes import recipe_of
from glan.report.coverage import coverage
from glan.report.diversity import Embed, diversity, load_embed
from glan.report.pairs import PairStats
from glan.report.yields import cost, funnel
from glan.shards import StepFolder
from glan.store import RunDir, read_dicts
from glan.verify.acceptance import acceptance

SAMPLE = 2000  # instructions per run for the diversity figures (the same for every run)


def _config(run: RunDir) -> RunConfig:
    manifest = run.read_manifest()
    if not manifest.get("config"):
        raise ConfigError(f"{run.root}: not a glan run dir (no manifest.json with its config)")
    try:
        return RunConfig.model_validate(manifest["config"])
    except ValidationError as e:
        raise ConfigError(f"{run.manifest}: its config does not validate ({e.errors()[0]['msg']})") from None


def _pairs(run: RunDir, cfg: RunConfig) -> tuple[Iterator[dict[str, Any]], str]:
    """The run's kept pairs (clean/clean.jsonl when clean ran, else its final pairs step)."""
    clean = run.stage("clean") / "clean.jsonl"
    if clean.is_file():
        return read_dicts(clean), str(clean)
    step = recipe_of(cfg).final_pairs(cfg)
    folder = StepFolder(run.stage(step))
    if folder.index() is None:
        raise ConfigError(f"{run.root}: no pairs yet ({folder.root} is not a finished step)")
    return read_dicts(*(folder.records_path(s.name) for s in folder.shards())), str(folder.root)


def _verification(run: RunDir) -> dict[str, Any] | None:
    accepted = acceptance(run)
    by = accepted.get("verified") or accepted.get("executed")
    if not by or not by.get("check"):
        return None
    checks = by["check"]
    return {
        "checked": sum(c for c, _ in checks.values()),
        "passed": sum(p for _, p in checks.values()),
        "by_check": checks,
        "by_discipline": by.get("discipline"),
        "critique": (accepted.get("critiqued_questions") or {}).get("check"),
    }


def collect_run(
    root: Path, sample: int, seed: int, embed: Embed | None, model: str | None, cfg: RunConfig | None = None
) -> dict[str, Any]:
    """One run's figures; `cfg` is its config (read from its manifest when not given)."""
    run = RunDir(root)
    cfg = cfg or _config(run)
    records, source = _pairs(run, cfg)
    stats = PairStats(sample, seed).add_all(records)
    steps = funnel(run, recipe_of(cfg), cfg)
    per_step, totals = cost(run, stats.n)
    order = {r["step"]: i for i, r in enumerate(steps)}
    per_step.sort(key=lambda r: order.get(r["step"], len(order)))
    made = next((r["output"] for r in reversed(steps) if r["step"] != "clean"), stats.n)
    lengths = stats.lengths()
    lengths["verification"] = _verification(run) or lengths["verification"]
    return {
        "name": root.name,
        "path": str(root),
        "pairs_file": source,
        "recipe": cfg.recipe,
        "model": cfg.llm.model,
        "totals": {"pairs": made, "kept": stats.n, **totals},
        "coverage": coverage(run, stats),
        "funnel": steps,
        "cost": per_step,
        "diversity": diversity(stats.reservoir, embed, model),
        "lengths": lengths,
        "samples": stats.samples,
    }


def collect(
    runs: list[Path],
    sample: int = SAMPLE,
    seed: int = 0,
    embeddings: str | None = "minilm",
    config: RunConfig | None = None,
) -> dict[str, Any]:
    """The report of `runs`: every run read (and checked) before anything is written; `config`:
    the config of a single run (the report step of a run in progress)."""
    missing = [r for r in runs if not Path(r).is_dir()]
    if missing:
        raise ConfigError(f"{missing[0]}: no such run dir")
    embed, model, why = load_embed(embeddings)
    names = [Path(r).name for r in runs]
    out = [collect_run(Path(r), sample, seed, embed, model, config) for r in runs]
    for run, name in zip(out, names, strict=True):  # two runs of one name: their paths tell them apart
        if names.count(name) > 1:
            run["name"] = run["path"]
    notes = [f"no embeddings: {why}"] if why else []
    return {"version": 1, "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": out,
            "notes": notes}  # fmt: skip


def write_report(report: dict[str, Any], html_path: Path) -> tuple[Path, Path]:
    """report.html and its JSON twin beside it (NAME.json), each written to a temporary name and
    renamed into place."""
    from glan.report.html import render

    json_path = html_path.with_suffix(".json")
    page = render(report).encode()
    write_atomic(json_path, orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    write_atomic(html_path, page)
    return html_path, json_path
