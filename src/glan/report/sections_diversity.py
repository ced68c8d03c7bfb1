"""The Diversity section: lexical and embedding metrics, nearest-neighbour distances, the instruction map."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from glan.report.svg import color, esc, fmt_int, histogram, legend, num, scatter
from glan.report.view import RunView, figure, missing, per_run, table

# key, name, how to read it, format ("frac" draws a 0..1 bar, "pct" a percentage)
METRICS = [
    ("distinct_1", "Distinct-1", "unique words / words: higher is more varied", "frac"),
    ("distinct_2", "Distinct-2", "unique word pairs / pairs: higher is more varied", "frac"),
    ("distinct_3", "Distinct-3", "unique word triples / triples: higher is more varied", "frac"),
    ("compression_ratio", "Compression ratio", "raw size / compressed size: lower is less repetitive", "num"),
    (
        "mean_pairwise_rouge_l",
        "Mean pairwise ROUGE-L",
        "word overlap between instructions: lower is better",
        "frac",
    ),
    (
        "near_dup_rate",
        "Near-duplicate rate",
        "share of instructions with a near twin: lower is better",
        "pct",
    ),
    (
        "vendi",
        "Vendi score",
        "effective number of distinct instructions in the sample: higher is better",
        "num",
    ),
    ("sample", "Sample", "instructions these metrics were computed on", "int"),
]


def _cell(value: Any, kind: str) -> str:
    v = num(value)
    if v is None:
        return '<span class="muted">—</span>'
    if kind == "int":
        return fmt_int(v)
    if kind == "pct":
        return f"{100 * v:.2f}%"
    if kind == "frac":
        w = max(0.0, min(1.0, v)) * 100
        return f'<span class="mini"><i style="width:{w:.0f}%"></i></span> {v:.3f}'
    return f"{v:,.2f}"


def _metrics(runs: Sequence[RunView]) -> str:
    divs = [r.part("diversity") or {} for r in runs]
    rows = []
    for key, name, how, kind in METRICS:
        rows.append(
            [f"<b>{esc(name)}</b>"]
            + [_cell(d.get(key), kind) for d in divs]
            + [f'<span class="muted">{esc(how)}</span>']
        )
    rows.append(
        ["<b>Embedding model</b>"]
        + [
            esc(d.get("embedding_model")) if d.get("embedding_model") else '<span class="muted">none</span>'
            for d in divs
        ]
        + ['<span class="muted">for Vendi, the distances and the map</span>']
    )
    return table(["Metric"] + [r.label for r in runs] + ["How to read it"], rows, "num metrics")


def _nn(runs: Sequence[RunView]) -> str:
    series = []
    for r in runs:
        nn = (r.part("diversity") or {}).get("nn_distance")
        if isinstance(nn, dict):
            series.append((r.label, r.colour, nn.get("edges") or [], nn.get("counts") or []))
    if not series:
        return '<p class="missing">No nearest-neighbour distances (no embeddings for this report).</p>'
    body = histogram(series, "cosine distance to the nearest other instruction", share=len(runs) > 1)
    if len(runs) > 1:
        body += legend([(r.label, r.colour) for r in runs])
    return body


def _field_colours(runs: Sequence[RunView]) -> dict[str, str]:
    """One colour per field across all runs, in order of first appearance."""
    names: list[str] = []
    for r in runs:
        m = (r.part("diversity") or {}).get("map")
        fields = m.get("fields") if isinstance(m, dict) else None
        for f in fields if isinstance(fields, list) else []:
            if str(f) not in names:
                names.append(str(f))
    return {n: color(i) for i, n in enumerate(names)}


def _map(run: RunView, colours: dict[str, str]) -> str:
    m = (run.part("diversity") or {}).get("map")
    if not isinstance(m, dict) or not m.get("points"):
        return '<p class="missing">No instruction map (no embeddings for this run).</p>'
    fields = [str(f) for f in m.get("fields") or []] if isinstance(m.get("fields"), list) else []
    cols = [colours.get(f, color(i)) for i, f in enumerate(fields)]
    pts = m.get("points")
    n = len(pts) if isinstance(pts, list) else 0
    svg = scatter(pts if isinstance(pts, list) else [], cols, f"instruction map of {run.label}")
    keys = legend(list(zip(fields, cols, strict=True)), toggles=True)
    note = f'<p class="note">{n:,} instructions; hover a dot to read it, click a field to hide it.</p>'
    return f'<div class="mapbox">{svg}{keys}{note}</div>'


def section(runs: Sequence[RunView]) -> str:
    parts = [missing(runs, "diversity", "diversity metrics")]
    parts.append(figure("Diversity metrics", _metrics(runs), cls="wide"))
    parts.append(
        figure(
            "Nearest-neighbour distance",
            _nn(runs),
            note="Mass near 0 means near-duplicates; shifted right means spread-out instructions.",
        )
    )
    colours = _field_colours(runs)
    parts.append(
        figure(
            "Instruction map (2-D projection of the embeddings, coloured by field)",
            per_run(runs, lambda r: _map(r, colours), "maps"),
            cls="wide" if len(runs) > 1 else "",
        )
    )
    return "".join(parts)
