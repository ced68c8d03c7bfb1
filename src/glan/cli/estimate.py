"""`glan estimate`: what a run still has to spend, as a table or JSON."""

from __future__ import annotations

from typing import Annotated

import typer

from glan.cli.guard import err, guard
from glan.cli.options import ConfigOpt, RunDirOpt, SetOpt, run_config


def estimate(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
    subjects_per_sample: Annotated[
        float, typer.Option(help="Distinct subjects one sample yields (until RUN/subjects/ exists).")
    ] = 12.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Predict the calls, tokens and cost (with `prices:` in the config) a run still has to
    spend, per stage, before spending anything. A small pilot run makes the figures measured."""
    from glan.estimate import estimate as predict

    def go() -> None:
        import json

        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        rows = predict(run_config(config, set_, run_dir), {"subjects_per_sample": subjects_per_sample})
        if as_json:
            typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
            return
        cols = ("stage", "model", "calls", "cached", "prompt tok", "reply tok", "cost $", "max $", "basis")
        table = Table(*cols)
        for r in rows:
            d = r.as_dict()
            table.add_row(
                escape(r.stage), escape(r.model), f"{r.calls:,}" + ("" if r.counted == "exact" else "~"),
                f"{r.cached:,}",
                f"{d['prompt_tokens']:,}", f"{d['completion_tokens']:,}",
                "-" if d["cost_usd"] is None else f"{d['cost_usd']:,.2f}",
                "-" if d["cost_usd_max"] is None else f"{d['cost_usd_max']:,.2f}", escape(r.basis),
            )  # fmt: skip
        costs = [r.cost() for r in rows]
        total = sum(c for c in costs if c is not None)
        table.add_row("total", "", f"{sum(r.to_send for r in rows):,}", "", "", "", f"{total:,.2f}", "", "")
        Console(width=max(Console().width, 140)).print(table)
        if any(c is None for c in costs):
            err.print("no price for some models: add them under `prices:` (USD per million tokens)")

    guard(go)
