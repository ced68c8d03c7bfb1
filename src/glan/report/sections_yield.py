"""The Yield and cost section: the funnel from planned calls to kept pairs, and what each step cost."""

from __future__ import annotations

from collections.abc import Sequence

from glan.report.svg import esc, fmt_int, fmt_num, fmt_pct, num
from glan.report.view import RunView, figure, missing, per_run, table

KEPT = "#59a14f"
LOSS_COLOURS = ["#e15759", "#f28e2b", "#edc948", "#ff9da7", "#b07aa1", "#9c755f", "#d37295", "#fabfd2"]
UNNAMED = "#bab0ac"


def fmt_duration(seconds: object) -> str:
    s = num(seconds)
    if s is None:
        return "—"
    if s < 120:
        return f"{s:,.1f} s"
    return f"{s / 60:,.1f} min" if s < 7200 else f"{s / 3600:,.1f} h"


def fmt_money(value: object, digits: int = 2) -> str:
    v = num(value)
    if v is None:
        return "—"
    return f"${v:,.{digits}f}" if v >= 0.01 or v == 0 else f"${v:.2g}"


def _bar(segments: list[tuple[str, float, str]], total: float) -> str:
    """One 100%-wide bar: the kept part, then each loss in its colour; hover names each part."""
    x, rects = 0.0, []
    for col, value, tip in segments:
        if value <= 0 or total <= 0:
            continue
        w = min(value / total * 100, 100 - x)
        rects.append(
            f'<rect x="{x:.2f}" y="0" width="{w:.2f}" height="10" fill="{col}">'
            f"<title>{esc(tip)}</title></rect>"
        )
        x += w
    return f'<svg class="fbar" viewBox="0 0 100 10" preserveAspectRatio="none">{"".join(rects)}</svg>'


def _funnel(run: RunView) -> str:
    steps = run.items("funnel")
    if not steps:
        return '<p class="missing">No funnel in the data.</p>'
    rows = []
    for st in steps:
        name = str(st.get("step", "?"))
        n_in, n_out = num(st.get("input")) or 0.0, num(st.get("output")) or 0.0
        losses = (
            [x for x in st.get("losses") or [] if isinstance(x, dict)]
            if isinstance(st.get("losses"), list)
            else []
        )
        named = [(str(x.get("reason", "?")), num(x.get("count")) or 0.0) for x in losses]
        unnamed = max(0.0, n_in - n_out - sum(c for _, c in named))
        total = max(n_in, n_out + sum(c for _, c in named))
        segs = [(KEPT, n_out, f"{name}: {n_out:,.0f} out")]
        segs += [(LOSS_COLOURS[i % len(LOSS_COLOURS)], c, f"{r}: {c:,.0f}") for i, (r, c) in enumerate(named)]
        if unnamed:
            segs.append((UNNAMED, unnamed, f"lost without a named reason: {unnamed:,.0f}"))
        items = [
            f'<li><i style="background:{LOSS_COLOURS[i % len(LOSS_COLOURS)]}"></i>{esc(r)} '
            f"<b>{fmt_int(c)}</b></li>"
            for i, (r, c) in enumerate(named)
        ]
        if unnamed:
            items.append(
                f'<li class="bad"><i style="background:{UNNAMED}"></i>no named reason '
                f"<b>{fmt_int(unnamed)}</b></li>"
            )
        grow = f"×{n_out / n_in:.1f}" if n_in and n_out > n_in else fmt_pct(n_out, n_in)
        rows.append(
            f'<div class="frow"><span class="step" title="{esc(name)}">{esc(name)}</span>'
            f'<span class="io">{fmt_int(st.get("input"))} → <b>{fmt_int(st.get("output"))}</b></span>'
            f'{_bar(segs, total)}<span class="pct">{grow}</span></div>'
            + (f'<ul class="losses">{"".join(items)}</ul>' if items else "")
        )
    return _headline(run) + f'<div class="funnel">{"".join(rows)}</div>'


def _headline(run: RunView) -> str:
    """From planned calls to kept pairs in one line, from the run's totals."""
    t = run.part("totals") or {}
    if num(t.get("kept")) is None:
        return ""
    calls = f"<b>{fmt_int(t.get('calls'))}</b> LLM calls → " if num(t.get("calls")) is not None else ""
    made = f"<b>{fmt_int(t.get('pairs'))}</b> pairs generated → " if num(t.get("pairs")) is not None else ""
    share = (
        f" <span class='muted'>({fmt_pct(t.get('kept'), t.get('pairs'))} of the pairs)</span>" if made else ""
    )
    return f'<p class="headline">{calls}{made}<b>{fmt_int(t.get("kept"))}</b> kept{share}</p>'


def _cost(run: RunView) -> str:
    steps, totals = run.items("cost"), run.part("totals") or {}
    if not steps and not totals:
        return '<p class="missing">No cost data.</p>'
    head = ["Step", "Calls", "Prompt tokens", "Completion tokens", "Model time", "Cost"]
    head += ["Completion tokens / kept pair", "Model time / kept pair", "Cost / kept pair"]
    rows = []
    for st in steps:
        per = st.get("per_kept_pair") if isinstance(st.get("per_kept_pair"), dict) else {}
        rows.append(
            [
                esc(st.get("step", "?")),
                fmt_int(st.get("calls")),
                fmt_int(st.get("prompt_tokens")),
                fmt_int(st.get("completion_tokens")),
                fmt_duration(st.get("model_s")),
                fmt_money(st.get("cost_usd")),
                fmt_num(per.get("completion_tokens"), 1),
                fmt_num(per.get("model_s"), 3) + (" s" if num(per.get("model_s")) is not None else ""),
                fmt_money(per.get("cost_usd"), 4),
            ]
        )
    if totals:
        kept = num(totals.get("kept"))

        def per(key: str) -> float | None:
            v = num(totals.get(key))
            return v / kept if v is not None and kept else None

        ms = per("model_s")
        rows.append(
            [
                "<b>total</b>",
                fmt_int(totals.get("calls")),
                fmt_int(totals.get("prompt_tokens")),
                fmt_int(totals.get("completion_tokens")),
                fmt_duration(totals.get("model_s")),
                fmt_money(totals.get("cost_usd")),
                fmt_num(per("completion_tokens"), 1),
                "—" if ms is None else f"{ms:,.3f} s",
                fmt_money(per("cost_usd"), 4),
            ]
        )
    no_price = all(num(st.get("cost_usd")) is None for st in steps) and num(totals.get("cost_usd")) is None
    note = '<p class="note">No price known for this model (a local model, or none configured).</p>'
    return table(head, rows, "num total-last") + (note if no_price else "")


def section(runs: Sequence[RunView]) -> str:
    parts = [missing(runs, "funnel", "funnel")]
    parts.append(
        figure(
            "Funnel: what each step received, kept and lost (with the reason)",
            per_run(runs, _funnel, "funnel"),
            cls="wide",
        )
    )
    parts.append(figure("Tokens, model time and money", per_run(runs, _cost, "cost", side=False), cls="wide"))
    return "".join(parts)
