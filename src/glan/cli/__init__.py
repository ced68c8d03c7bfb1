"""The `glan` command: parses arguments and calls the library. Nothing else lives here; this
package is the only part of glan that imports typer or rich (the core emits glan.events)."""

from __future__ import annotations

import typer

from glan.cli import batch, clean, estimate, eval_task, models, report, review, run, train
from glan.cli.help import flags_take_no_value, tidy_help

app = typer.Typer(
    help="Generate instruction-tuning data almost from scratch (GLAN): taxonomy -> subjects "
    "-> syllabi -> questions -> answers -> clean. Every LLM response is cached in the run "
    "directory, so a rerun or a resumed run repeats no finished call. Exit codes: 0 complete, "
    "1 incomplete (failed jobs recorded in RUN_DIR/failures/: run the same command to ask them "
    "again), 2 usage or configuration error, or a run that could not proceed, 130 interrupted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(models.app, name="models")
app.add_typer(batch.app, name="batch")
run.register(app)  # run, a command per recipe step, recipes, taxonomy
app.command()(estimate.estimate)
clean.register(app)  # clean, export
app.command("eval-task")(eval_task.eval_task)
app.command()(report.report)
app.command()(review.review)
app.command("train-check")(train.train_check)
tidy_help(app)
flags_take_no_value()


def main() -> None:
    app()
