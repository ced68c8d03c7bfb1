"""Loud warnings for a clean step that removed an unusual share of what it read: near-dedup on
instructions alone removes nearly all pairs that share a template but answer different things."""

from __future__ import annotations

from collections import Counter
from typing import Any

from glan.events import Events
from glan.post.base import Removed
from glan.post.config import PostConfig

WARN_SHARE = 0.2  # a step removing more than this share of what it read gets a warning


def _hint(step: str, cfg: PostConfig) -> str:
    on = cfg.dedup.near_on if step == "near_dedup" else cfg.dedup.exact_on
    if step in ("near_dedup", "exact_dedup") and on == "instruction":
        return (
            "if instructions share a template, deduplicate on instruction and response: "
            "--dedup-on instruction+response (post.dedup.exact_on / near_on)"
        )
    if step == "near_dedup":
        return f"raise --rouge-l (now {cfg.dedup.rouge_l_threshold}) or switch it off with --no-near-dup"
    if step == "exact_dedup":
        return "the removed pairs repeat an earlier pair word for word (see removed.jsonl)"
    if step == "decontam":
        return "see the matched benchmark items in removed.jsonl; a larger --ngram matches less"
    return "see removed.jsonl; switch a filter off with post.filters.enabled or loosen its bounds"


def unusual_removals(seen: Counter[str], removed: Removed, cfg: PostConfig) -> list[dict[str, Any]]:
    """One entry per step that removed more than WARN_SHARE of the records it read."""
    out = []
    for step, read in seen.items():
        reasons = Counter({r: n for (s, r), n in removed.counts.items() if s == step})
        n = sum(reasons.values())
        if n < 2 or n <= WARN_SHARE * read:
            continue
        out.append(
            {
                "step": step,
                "read": read,
                "removed": n,
                "share": round(n / read, 4),
                "top_reasons": dict(reasons.most_common(3)),
                "top_shapes": dict(removed.shapes.get(step, Counter()).most_common(3)),
                "examples": removed.examples.get(step, []),
                "hint": _hint(step, cfg),
            }
        )
    return out


def warn(warnings: list[dict[str, Any]], events: Events) -> None:
    """Each warning as notes to `events` (plain text: user text in them is never markup)."""
    for w in warnings:
        reasons = ", ".join(f"{r} {n:,}" for r, n in w["top_reasons"].items())
        events.note(
            f"warning: {w['step']} removed {w['removed']:,} of the {w['read']:,} pairs it read "
            f"({w['share']:.0%}): {reasons}",
            "bold yellow",
        )
        shapes = "; ".join(f'"{s}" ({n:,})' for s, n in w["top_shapes"].items())
        events.note(f"  most common instruction shapes: {shapes}", "yellow")
        for e in w["examples"]:
            events.note(f"  e.g. {e!r}", "yellow")
        events.note(f"  {w['hint']}", "yellow")
