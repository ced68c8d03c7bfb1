"""Inline SVG charts for the report: histograms, bars, stacked bars and a scatter map.

Every chart is a string of SVG built here, with no library. Text from the data goes through
`esc` and numbers through `num`, so a generated string can never become markup and a string
where a number belongs is treated as missing rather than written into an attribute.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

# Tableau 10: distinct, colour-blind friendlier than the defaults, and calm on a white page.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"]
PALETTE += ["#9c755f", "#bab0ac"]
INK, MUTED, GRID = "#1f2933", "#6b7785", "#e6e9ee"


def esc(value: object) -> str:
    """Text from the data as HTML text or attribute value (quotes escaped too)."""
    return html.escape("" if value is None else str(value), quote=True)


def num(value: object) -> float | None:
    """A finite number, or None for anything else (a bool, a string, NaN, a missing value)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def fmt_int(value: object) -> str:
    v = num(value)
    return "—" if v is None else f"{round(v):,}"


def fmt_num(value: object, digits: int = 2) -> str:
    v = num(value)
    return "—" if v is None else f"{v:,.{digits}f}"


def fmt_pct(part: object, whole: object, digits: int = 1) -> str:
    p, w = num(part), num(whole)
    return "—" if p is None or not w else f"{100 * p / w:.{digits}f}%"


def fmt_compact(value: float) -> str:
    """Axis ticks: 1.5k, 2M, 0.25."""
    a = abs(value)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{value / div:.3g}{suffix}"
    return f"{value:.3g}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _ink_on(col: str) -> str:
    """Dark text on a light colour, white on a dark one (col is one of ours, '#rrggbb')."""
    r, g, b = (int(col[i : i + 2], 16) for i in (1, 3, 5))
    return INK if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#ffffff"


def empty(note: str) -> str:
    return f'<p class="missing">{esc(note)}</p>'


def legend(items: Sequence[tuple[str, str]], toggles: bool = False) -> str:
    """Swatches with labels; with toggles each is a button that shows or hides its points."""
    out = []
    for i, (label, col) in enumerate(items):
        sw = f'<i style="background:{col}"></i>{esc(label)}'
        if toggles:
            out.append(f'<button type="button" class="key" data-field="{i}">{sw}</button>')
        else:
            out.append(f'<span class="key">{sw}</span>')
    return f'<div class="legend">{"".join(out)}</div>'


def _svg(w: int, h: int, body: str, label: str) -> str:
    return f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{esc(label)}">{body}</svg>'


def _text(x: float, y: float, s: str, anchor: str = "start", cls: str = "t") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}">{s}</text>'


Series = tuple[str, str, Sequence[object], Sequence[object]]  # label, colour, edges, counts


def _valid(edges: Sequence[object], counts: Sequence[object]) -> tuple[list[float], list[float]] | None:
    e = [num(x) for x in edges] if isinstance(edges, list | tuple) else []
    c = [num(x) for x in counts] if isinstance(counts, list | tuple) else []
    if len(e) < 2 or len(e) != len(c) + 1 or None in e or None in c:
        return None
    if any(b < a for a, b in zip(e, e[1:], strict=False)):
        return None
    return e, [max(0.0, x) for x in c]  # type: ignore[misc]


def histogram(series: Sequence[Series], x_label: str, share: bool = False) -> str:
    """Bars per bin; several series overlaid with transparency. share: y is % of each series."""
    valid = []
    for label, col, edges, counts in series:
        v = _valid(edges, counts)
        if v is not None:
            e, c = v
            total = sum(c) or 1.0
            valid.append((label, col, e, [x / total * 100 for x in c] if share else c))
    if not valid:
        return empty("No histogram in the data.")
    w, h, ml, mr, mt, mb = 560, 230, 52, 14, 12, 40
    x0, x1 = min(v[2][0] for v in valid), max(v[2][-1] for v in valid)
    x1 = x1 if x1 > x0 else x0 + 1
    ymax = max(max(v[3]) for v in valid) or 1.0
    yt = nice_ticks(0, ymax, 4)
    ymax = max(ymax, yt[-1])

    # Bins that widen (word counts 0, 5, 10, 20, 40 ...) are drawn equally wide, at the place of
    # their edge in the list: on a linear axis most would be thinner than a pixel.
    first = valid[0][2]
    widths = [b - a for a, b in zip(first, first[1:], strict=False)]
    by_index = all(v[2] == first for v in valid) and max(widths) > 1.5 * min(widths) > 0

    def sx(x: float) -> float:
        if by_index:
            i = min(range(len(first)), key=lambda k: abs(first[k] - x))
            return ml + i / (len(first) - 1) * (w - ml - mr)
        return ml + (x - x0) / (x1 - x0) * (w - ml - mr)

    def sy(y: float) -> float:
        return h - mb - y / ymax * (h - mt - mb)

    parts = []
    for t in yt:
        parts.append(f'<line x1="{ml}" x2="{w - mr}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" class="grid"/>')
        parts.append(_text(ml - 6, sy(t) + 4, fmt_compact(t) + ("%" if share else ""), "end"))
    # Several series on the same bins: grouped bars side by side in each bin; on different bins
    # (rare): overlaid with transparency.
    grouped = len(valid) > 1 and all(v[2] == valid[0][2] for v in valid)
    opacity = 0.85 if len(valid) == 1 or grouped else 0.5
    for k, (label, col, e, c) in enumerate(valid):
        for i, cnt in enumerate(c):
            a, b = sx(e[i]), sx(e[i + 1])
            if grouped:
                sub = (b - a - 1) / len(valid)
                a, b = a + k * sub, a + (k + 1) * sub + 1
            tip = f"{label}: {fmt_compact(e[i])}–{fmt_compact(e[i + 1])}: " + (
                f"{cnt:.1f}%" if share else f"{cnt:,.0f}"
            )
            parts.append(
                f'<rect x="{a:.1f}" y="{sy(cnt):.1f}" width="{max(b - a - 1, 0.8):.1f}" '
                f'height="{sy(0) - sy(cnt):.1f}" fill="{col}" fill-opacity="{opacity}">'
                f"<title>{esc(tip)}</title></rect>"
            )
    parts.append(f'<line x1="{ml}" x2="{w - mr}" y1="{sy(0):.1f}" y2="{sy(0):.1f}" class="axis"/>')
    for t in first[:: max(1, len(first) // 7)] if by_index else nice_ticks(x0, x1, 6):
        parts.append(_text(sx(t), h - mb + 16, fmt_compact(t), "middle"))
    parts.append(_text((ml + w - mr) / 2, h - 6, esc(x_label), "middle", "t muted"))
    return _svg(w, h, "".join(parts), x_label)


Bar = tuple[str, str, object, str]  # series label, colour, value, text shown after the bar


def hbars(rows: Sequence[tuple[str, Sequence[Bar]]], vmax: float | None = None, label: str = "") -> str:
    """Horizontal bars, one group per row and one bar per series in the group."""
    rows = [(name, bars) for name, bars in rows if bars]
    if not rows:
        return empty("Nothing to show.")
    values = [num(b[2]) or 0.0 for _, bars in rows for b in bars]
    vmax = vmax or max(values) or 1.0
    bh, gap, lw, w = 14, 10, 190, 560
    y, parts = 6.0, []
    for name, bars in rows:
        short = name if len(name) <= 30 else name[:29] + "…"
        parts.append(
            _text(lw - 8, y + bh * len(bars) / 2 + 4, f"{esc(short)}<title>{esc(name)}</title>", "end")
        )
        for series, col, value, txt in bars:
            v = num(value) or 0.0
            bw = max(v / vmax * (w - lw - 110), 0 if v == 0 else 1.5)
            parts.append(
                f'<rect x="{lw}" y="{y:.1f}" width="{bw:.1f}" height="{bh - 2}" rx="2" fill="{col}">'
                f"<title>{esc(f'{series}: {txt}')}</title></rect>"
            )
            parts.append(_text(lw + bw + 6, y + bh - 4, esc(txt), cls="t small"))
            y += bh
        y += gap
    return _svg(w, int(y), "".join(parts), label)


Part = tuple[str, str, object]  # part label, colour, value


def stacked(rows: Sequence[tuple[str, Sequence[Part]]], label: str = "") -> str:
    """100% stacked horizontal bars, one per row, with the share written in wide segments."""
    w, bh, lw = 560, 26, 110 if len(rows) > 1 else 0
    y, parts = 2.0, []
    for name, segs in rows:
        total = sum(num(v) or 0.0 for _, _, v in segs)
        if lw:
            short = name if len(name) <= 14 else name[:13] + "…"
            parts.append(_text(lw - 8, y + bh / 2 + 4, f"{esc(short)}<title>{esc(name)}</title>", "end"))
        x = float(lw)
        for seg, col, value in segs:
            v = num(value) or 0.0
            if not total or not v:
                continue
            sw = v / total * (w - lw)
            pct = f"{100 * v / total:.0f}%"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{sw:.1f}" height="{bh}" fill="{col}">'
                f"<title>{esc(f'{name}: {seg} {v:,.0f} ({pct})')}</title></rect>"
            )
            words = f"{seg} {pct}" if len(seg) * 7 + 52 < sw else pct
            if len(words) * 7 + 14 < sw:  # only where it fits; the hover title has it anyway
                label_on = _text(x + 8, y + bh / 2 + 4, esc(words), cls="t onbar")
                parts.append(label_on.replace("<text ", f'<text style="fill:{_ink_on(col)}" ', 1))
            x += sw
        if not total:
            parts.append(_text(lw + 4, y + bh / 2 + 4, "no data", cls="t muted"))
        y += bh + 8
    return _svg(w, int(y), "".join(parts), label)


def scatter(points: Sequence[object], colours: Sequence[str], label: str) -> str:
    """The instruction map: one dot per point [x, y, field index, text], hover text in data-tip.

    colours[i] is the colour of field index i (the same field has the same colour in every run)."""
    n_fields = len(colours)
    pts = []
    for p in points if isinstance(points, list | tuple) else []:
        if not isinstance(p, list | tuple) or len(p) < 3:
            continue
        x, y, f = num(p[0]), num(p[1]), num(p[2])
        if x is None or y is None:
            continue
        text = str(p[3]) if len(p) > 3 and p[3] is not None else ""
        pts.append((x, y, int(f) if f is not None and 0 <= f < max(n_fields, 1) else -1, text))
    if not pts:
        return empty("No points in the map.")
    w, h, m = 600, 420, 12
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    xlo, xhi, ylo, yhi = min(xs), max(xs), min(ys), max(ys)
    dx, dy = (xhi - xlo) or 1.0, (yhi - ylo) or 1.0
    dots = []
    for x, y, f, text in pts:
        cx = m + (x - xlo) / dx * (w - 2 * m)
        cy = h - m - (y - ylo) / dy * (h - 2 * m)
        tip = text if len(text) <= 400 else text[:399] + "…"
        col = colours[f] if f >= 0 else MUTED
        dots.append(
            f'<circle class="pt" cx="{cx:.1f}" cy="{cy:.1f}" r="3.2" fill="{col}" data-f="{f}" '
            f'data-tip="{esc(tip)}"/>'
        )
    frame = f'<rect x="0.5" y="0.5" width="{w - 1}" height="{h - 1}" class="frame"/>'
    return _svg(w, h, frame + "".join(dots), label).replace('class="chart"', 'class="chart map"', 1)
