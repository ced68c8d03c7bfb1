"""What the quality steps accepted, per discipline, per method and per check: counted from a
run's step folders in one streaming pass (the dataset card shows it; memory stays bounded by
the number of disciplines and methods)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from glan.shards import StepFolder
from glan.store import RunDir, read_dicts

# the quality steps, in run order, and what they judge
STEPS = {"critiqued_questions": "critique", "executed": "verify", "verified": "verify"}


def acceptance(run: RunDir) -> dict[str, Any]:
    """{step: {"by": {"discipline" | "method" | "check": {name: [checked, passed]}}}} for the
    quality steps the run made; a dropped record counts against its input's discipline and
    method (looked up by id in the step's input, shard by shard: the same shard names)."""
    out: dict[str, Any] = {}
    for step, kind in STEPS.items():
        folder = StepFolder(run.stage(step))
        if folder.index() is None:
            continue
        tallies: dict[str, Counter[tuple[str, bool]]] = {
            k: Counter() for k in ("discipline", "method", "check")
        }
        groups: dict[str, str] = {}  # shard -> its discipline (GLAN shards by discipline)
        for shard in folder.shards():
            for rec in _shard(folder, shard.name):
                passed, check, group, method = _verdict(rec, kind)
                if check is None:
                    continue  # no verdict: not checked (no method applied)
                if group:
                    groups[shard.name] = group
                group = group or groups.get(shard.name, "(all)")
                for by, name in (("discipline", group), ("method", method), ("check", check)):
                    tallies[by][(name, passed)] += 1
        out[step] = {
            by: {name: [t[(name, True)] + t[(name, False)], t[(name, True)]] for name, _ in sorted(t)}
            for by, t in tallies.items()
        }
    return out


def _shard(folder: StepFolder, name: str) -> Iterator[dict[str, Any]]:
    return read_dicts(folder.records_path(name), folder.removed_path(name))


def _verdict(rec: dict[str, Any], kind: str) -> tuple[bool, str | None, str | None, str]:
    """(passed, the check that judged it, its discipline, its generation method)."""
    group, method = rec.get("discipline"), str(rec.get("method") or "(unknown)")
    if "reason" in rec and "stage" in rec:  # a Dropped record: its verdict is its detail
        detail = rec.get("detail") or {}
        check = "critique" if kind == "critique" else str(detail.get("method", "code"))
        return False, check, detail.get("discipline"), str(detail.get("generated_by") or "(unknown)")
    if kind == "critique":
        critique = rec.get("critique")
        return True, "critique" if critique else None, group, "glan"
    verdict = (rec.get("meta") or {}).get("verify")
    if not isinstance(verdict, dict):
        return True, None, group, method
    return bool(verdict.get("passed")), str(verdict.get("method")), group, method
