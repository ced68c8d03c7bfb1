"""The options most commands share (config, --set, run dir, quiet) and the run config they make."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Run config YAML (see examples/).")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a setting: key.path=value (repeatable)."),
]
RunDirOpt = Annotated[Path | None, typer.Option("--run-dir", help="Run directory (overrides run_dir).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def run_config(config: Path | None, sets: list[str] | None, run_dir: Path | None) -> Any:
    """The run config from the file, the --set overrides and --run-dir."""
    from glan.config import load_config

    cfg = load_config(config, sets or [])
    if run_dir is not None:
        cfg.run_dir = run_dir
    return cfg
