"""`glan report`: one self-contained HTML page (and its JSON twin) on one or more runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glan.cli.guard import guarded, say


@guarded
def report(
    runs: Annotated[list[Path], typer.Argument(help="Run dirs (several: every figure side by side).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="The HTML page to write (and NAME.json).")] = Path(
        "report.html"
    ),
    sample: Annotated[
        int, typer.Option(min=10, help="Instructions per run for the diversity figures.")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
    embeddings: Annotated[
        bool, typer.Option(help="Semantic diversity from the embedding model (glan[report]).")
    ] = True,
) -> None:
    """Coverage of the taxonomy, yield and cost per step with every loss's reason, diversity,
    lengths and verdicts, sample pairs: an HTML page that opens offline, and report.json."""
    from glan.report.collect import collect, write_report

    data = collect(runs, sample=sample, seed=seed, embeddings="minilm" if embeddings else None)
    html_path, json_path = write_report(data, out)
    for note in data["notes"]:
        say(note)
    say(f"report: {html_path} (figures: {json_path})")
