"""The Samples section: sample pairs grouped by discipline, long text collapsed behind a preview."""

from __future__ import annotations

from collections.abc import Sequence

from glan.report.svg import esc
from glan.report.view import RunView, figure

PREVIEW = 220  # characters shown before "more"; the full text is one click away


def _text(value: object) -> str:
    s = "" if value is None else str(value)
    if len(s) <= PREVIEW + 40:
        return f'<div class="txt">{esc(s)}</div>'
    cut = s[:PREVIEW].rsplit(" ", 1)[0] if " " in s[:PREVIEW] else s[:PREVIEW]
    return (
        f'<details class="txt"><summary><span class="pre">{esc(cut)}…</span>'
        f'<span class="more">show all {len(s):,} characters</span></summary>{esc(s)}</details>'
    )


OPEN_GROUPS = 3  # disciplines shown open; the rest are one click away, so a 100-discipline run stays short
COLS = '<colgroup><col class="c-subj"><col><col></colgroup>'


def _rows(items: list[dict[str, object]]) -> str:
    rows = []
    for s in items:
        diff = str(s.get("difficulty") or "")
        known = diff if diff in ("basic", "challenging", "evolved") else "other"
        pill = f'<span class="pill {known}">{esc(diff)}</span>' if diff else ""
        subject = f'<div class="subj">{esc(s.get("subject") or "")}</div>{pill}'
        rows.append(
            f"<tr><td>{subject}</td><td>{_text(s.get('instruction'))}</td><td>{_text(s.get('response'))}</td></tr>"
        )
    return "".join(rows)


def _table(run: RunView) -> str:
    samples = run.items("samples")
    if not samples:
        return '<p class="missing">No samples in the data.</p>'
    groups: dict[str, list[dict[str, object]]] = {}
    for s in samples:
        groups.setdefault(str(s.get("discipline") or "(no discipline)"), []).append(s)
    th = "<th>Subject</th><th>Instruction</th><th>Response</th>"
    head = f'<table class="samples">{COLS}<thead><tr>{th}</tr></thead></table>'
    blocks = [
        f'<details class="disc"{" open" if i < OPEN_GROUPS else ""}><summary>{esc(disc)} '
        f'<span class="muted">· {len(items)}</span></summary>'
        f'<table class="samples">{COLS}<tbody>{_rows(items)}</tbody></table></details>'
        for i, (disc, items) in enumerate(groups.items())
    ]
    tools = (
        '<div class="tools"><button type="button" data-open="details.disc">Open all disciplines</button>'
        '<button type="button" data-close="details.disc">Close all</button></div>'
        if len(groups) > OPEN_GROUPS
        else ""
    )
    return f'{tools}<div class="scroll">{head}{"".join(blocks)}</div>'


def section(runs: Sequence[RunView]) -> str:
    if len(runs) == 1:
        return figure(
            f"{len(runs[0].items('samples')):,} sample pairs by discipline", _table(runs[0]), cls="wide"
        )
    return "".join(
        figure(f"{r.label}: {len(r.items('samples')):,} sample pairs by discipline", _table(r), cls="wide")
        for r in runs
    )
