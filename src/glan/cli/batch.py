"""`glan batch export | import | submit`: a step through OpenAI Batch API files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from glan.cli.guard import err, guard, say
from glan.cli.options import ConfigOpt, RunDirOpt, SetOpt, run_config
from glan.cli.run import require_complete

app = typer.Typer(
    help="A step through OpenAI Batch API files (batch prices, or offline with `vllm run-batch`): "
    "export its unanswered calls, import the results, again until none is left; or submit."
)

StepArg = Annotated[str, typer.Argument(help="subjects, syllabi, questions or answers")]


@app.command("export")
def batch_export(
    step: StepArg,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Folder (default RUN_DIR/batches).")] = None,
) -> None:
    """Write the step's calls that have no answer yet as Batch API request files (the
    format `vllm run-batch -i FILE -o RESULTS --model M` reads too)."""
    from glan.batch_step import export_step

    def go() -> None:
        cfg = run_config(config, set_, run_dir)
        files = asyncio.run(export_step(cfg, step, out))
        if not files:
            say(f"{step}: every call is answered; its file is written")
        for f in files:
            typer.echo(str(f))

    guard(go)


@app.command("import")
def batch_import(
    files: Annotated[list[Path], typer.Argument(help="Batch API output (or error) files.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
) -> None:
    """Put the answers of batch result files into the run's cache; then export again (for
    re-asks and the next part of the step) or run the step."""
    from glan.batch_step import import_files

    def go() -> None:
        report = import_files(run_config(config, set_, run_dir), files)
        say(f"imported {report.imported} of {report.lines} results ({report.known} were in already)")
        for error, n in report.errors.most_common(5):
            say(f"  {n} failed: {error}")  # the server's words: markup in them is shown as is

    guard(go)


@app.command("submit")
def batch_submit(
    step: StepArg,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
    poll: Annotated[float, typer.Option(help="Seconds between status checks.")] = 30.0,
    rounds: Annotated[int, typer.Option(help="Most batch rounds (re-asks need more than one).")] = 10,
) -> None:
    """Send the step's calls through the endpoint's Batch API, wait, import, repeat until all
    are answered, then write the step's file. Safe to stop and rerun: it waits for batches
    already submitted instead of submitting them again."""
    from glan.batch_step import submit_step
    from glan.cli.progress import RichEvents

    def go() -> None:
        cfg = run_config(config, set_, run_dir)
        events = RichEvents(err, show_progress=False)
        require_complete(cfg, asyncio.run(submit_step(cfg, step, events, poll_s=poll, max_rounds=rounds)))
        say(f"done: {step}", "green")

    guard(go)
