"""The Lengths and quality section: length histograms, finish reasons, verification verdicts."""

from __future__ import annotations

from collections.abc import Sequence

from glan.report.svg import esc, fmt_int, fmt_pct, hbars, histogram, legend, num
from glan.report.view import RunView, figure, missing, table


def _lengths(runs: Sequence[RunView], key: str, x_label: str) -> str:
    series = []
    for r in runs:
        h = (r.part("lengths") or {}).get(key)
        if isinstance(h, dict):
            series.append((r.label, r.colour, h.get("edges") or [], h.get("counts") or []))
    if not series:
        return '<p class="missing">No length histogram in the data.</p>'
    body = histogram(series, x_label, share=len(runs) > 1)
    return body + (legend([(r.label, r.colour) for r in runs]) if len(runs) > 1 else "")


def _finish(runs: Sequence[RunView]) -> str:
    counts = []
    for r in runs:
        fr = (r.part("lengths") or {}).get("finish_reasons")
        counts.append({str(k): num(v) or 0.0 for k, v in fr.items()} if isinstance(fr, dict) else None)
    if not any(counts):
        return '<p class="missing">No finish reasons in the data.</p>'
    reasons: list[str] = []
    for c in counts:
        reasons += [k for k in c or {} if k not in reasons]
    rows = []
    for reason in reasons:
        bars = []
        for r, c in zip(runs, counts, strict=True):
            if c is None:
                continue
            total = sum(c.values())
            share = 100 * c.get(reason, 0.0) / total if total else 0.0
            bars.append((r.label, r.colour, share, f"{fmt_int(c.get(reason, 0))} ({share:.1f}%)"))
        rows.append((reason, bars))
    note = (
        '<p class="note">"length" means the response hit the token limit: it was cut off.</p>'
        if "length" in reasons
        else ""
    )
    return hbars(rows, 100.0, "finish reasons") + note


def _verification(runs: Sequence[RunView]) -> str:
    ver = [(r, (r.part("lengths") or {}).get("verification")) for r in runs]
    ver = [(r, v) for r, v in ver if isinstance(v, dict)]
    if not ver:
        return (
            '<p class="missing">No verification in this report (the verify recipe, or clean on verdicts).</p>'
        )
    rows = []
    for r, v in ver:
        rows.append(
            [
                esc(r.label),
                fmt_int(v.get("checked")),
                fmt_int(v.get("passed")),
                fmt_pct(v.get("passed"), v.get("checked")),
            ]
        )
    head = table(["Run", "Checked", "Passed", "Acceptance"], rows, "num")
    checks: list[str] = []
    for _, v in ver:
        by = v.get("by_check")
        checks += [str(k) for k in by or {} if str(k) not in checks] if isinstance(by, dict) else []
    bar_rows = []
    for check in checks:
        bars = []
        for r, v in ver:
            by = v.get("by_check") if isinstance(v.get("by_check"), dict) else {}
            pair = by.get(check)
            if isinstance(pair, list | tuple) and len(pair) == 2 and num(pair[0]):
                share = 100 * (num(pair[1]) or 0.0) / (num(pair[0]) or 1.0)
                bars.append(
                    (r.label, r.colour, share, f"{fmt_int(pair[1])}/{fmt_int(pair[0])} passed ({share:.0f}%)")
                )
        bar_rows.append((check, bars))
    chart = hbars(bar_rows, 100.0, "acceptance per check") if bar_rows else ""
    return head + ('<p class="sub">Acceptance per check</p>' + chart if chart else "")


def section(runs: Sequence[RunView]) -> str:
    parts = [missing(runs, "lengths", "length and quality data")]
    parts.append(figure("Instruction length", _lengths(runs, "instruction_words", "words per instruction")))
    parts.append(figure("Response length", _lengths(runs, "response_words", "words per response")))
    parts.append(figure("Finish reasons", _finish(runs)))
    parts.append(figure("Verification verdicts", _verification(runs)))
    return "".join(parts)
