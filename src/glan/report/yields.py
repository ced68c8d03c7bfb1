"""Yield and cost: every step from its input to its records, each loss with its named reason
(failed jobs, drops, what clean removed), and the tokens, model time and money per step and
per kept pair. Read from the step folders, clean's report.json and the manifest's usage (the
cache's own tally), plus one SQL pass over the cache for model time."""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from typing import Any

import orjson

from glan.llm.cache import usage_of
from glan.recipes import Recipe
from glan.shards import StepFolder
from glan.store import RunDir, read_dicts

MAX_REASONS = 8  # per step; the rest are summed as "other"


def _reasons(folder: StepFolder, kind: str) -> Counter[str]:
    """The drop reasons (kind 'removed') or failure errors ('failures') of a step's shards."""
    out: Counter[str] = Counter()
    for shard in folder.shards():
        path = folder.removed_path(shard.name) if kind == "removed" else folder.failures_path(shard.name)
        for rec in read_dicts(path):
            why = rec.get("reason") if kind == "removed" else "failed: " + str(rec.get("error", ""))[:60]
            out[str(why)] += 1
    return out


def _top(reasons: Counter[str]) -> list[dict[str, Any]]:
    top = reasons.most_common(MAX_REASONS)
    rest = sum(reasons.values()) - sum(n for _, n in top)
    return [{"reason": r, "count": n} for r, n in top] + (
        [{"reason": "other", "count": rest}] if rest else []
    )


def funnel(run: RunDir, recipe: Recipe, cfg: Any) -> list[dict[str, Any]]:
    """Per step that ran, in order: its input records, its output records and its losses."""
    rows: list[dict[str, Any]] = []
    made: dict[str, int] = {}
    for step in recipe.select(cfg):
        if step.kind == "post":
            continue
        folder = StepFolder(run.stage(step.name))
        index = folder.index()
        if index is None:
            continue
        made[step.name] = int(index["records"])
        source = step.input_of(cfg)
        reasons = _reasons(folder, "removed") + _reasons(folder, "failures")
        merged = (made.get(source or "") or 0) - made[step.name] - sum(reasons.values())
        if step.kind == "reduce" and merged > 0:  # e.g. the same subject in several samples
            reasons["merged into one (same name) or over the step's cap"] += merged
        rows.append({"step": step.name, "input": made.get(source or ""), "output": made[step.name],
                     "losses": _top(reasons)})  # fmt: skip
    clean = _clean_report(run)
    if clean:
        removed = Counter(
            {f"{s}: {r}": n for s, by in clean.get("removed", {}).items() for r, n in by.items()}
        )
        rows.append({"step": "clean", "input": clean.get("read"), "output": clean.get("kept"),
                     "losses": _top(removed)})  # fmt: skip
    return rows


def _clean_report(run: RunDir) -> dict[str, Any]:
    path = run.stage("clean") / "report.json"
    with contextlib.suppress(OSError, orjson.JSONDecodeError):
        return dict(orjson.loads(path.read_bytes()).get("clean") or {})
    return {}


def model_seconds(run: RunDir) -> dict[str, float]:
    """stage -> the model time of its cached responses (what the servers report; 0 when not)."""
    if not run.cache.is_file():
        return {}
    con = sqlite3.connect(f"file:{run.cache}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT stage, SUM(json_extract(body, '$.model_ms')) FROM responses"
            " WHERE stage IS NOT NULL GROUP BY stage"
        ).fetchall()
    except sqlite3.Error:
        return {}
    finally:
        con.close()
    return {stage: (ms or 0.0) / 1000 for stage, ms in rows}


def cost(run: RunDir, kept: int) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Per stage: calls, tokens, model time and money (null when no price is configured), also
    per kept pair; and the totals."""
    _, usage = usage_of(run.cache)  # what the manifest records, counted now (a run in progress)
    seconds = model_seconds(run)
    rows, totals = [], Counter[str]()
    priced = False
    for stage, by_model in usage.items():
        row: dict[str, Any] = {"step": stage}
        for key in ("calls", "prompt_tokens", "completion_tokens", "cost_usd"):
            row[key] = sum(m.get(key, 0) for m in by_model.values())
        priced = priced or row["cost_usd"] > 0
        row["model_s"] = round(seconds.get(stage, 0.0), 3)
        for key in ("calls", "prompt_tokens", "completion_tokens", "cost_usd", "model_s"):
            totals[key] += row[key]
        rows.append(row)
    for row in rows:
        if not priced:
            row["cost_usd"] = None
        row["per_kept_pair"] = {
            k: (round(row[k] / kept, 6) if kept and row[k] is not None else None)
            for k in ("completion_tokens", "model_s", "cost_usd")
        }
    out = dict(totals)
    if not priced:
        out["cost_usd"] = None
    return rows, out
