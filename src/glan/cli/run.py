"""`glan run`, a command per step of every recipe, `glan recipes` and `glan taxonomy`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from glan.cli.guard import err, guard, say
from glan.cli.options import ConfigOpt, QuietOpt, RunDirOpt, SetOpt, run_config

RecipeOpt = Annotated[
    str | None, typer.Option("--recipe", help="The method (overrides `recipe:`); `glan recipes` lists them.")
]


def require_complete(cfg: Any, report: dict[str, Any]) -> None:
    """Exit 1 (Incomplete), with no green "done", when a step left failed jobs or made nothing."""
    from glan.errors import Incomplete
    from glan.recipes import recipe_of
    from glan.steps import incomplete
    from glan.store import RunDir

    summary = incomplete(report, RunDir(cfg.run_dir).stage, recipe_of(cfg))
    if summary is not None:
        raise Incomplete(summary)


def _run_steps(
    config: Path | None,
    sets: list[str] | None,
    run_dir: Path | None,
    names: tuple[str, ...] | None,
    quiet: bool,
    recipe: str | None = None,
    json_events: bool = False,
) -> dict[str, Any]:
    """Run the recipe's steps (all, or those of the commands named) and say how it ended."""
    import sys

    from glan.cli.progress import JsonEvents, RichEvents
    from glan.recipes import recipe_of
    from glan.session import Session

    cfg = run_config(config, sets, run_dir)
    if recipe is not None:
        from glan.recipes import get_recipe

        cfg.recipe = get_recipe(recipe).name

    async def go() -> dict[str, Any]:
        events = JsonEvents(sys.stdout) if json_events else RichEvents(err, show_progress=not quiet)
        async with Session(cfg, events=events) as session:
            return await session.run_steps(names)

    report = asyncio.run(go())
    require_complete(cfg, report)
    made = recipe_of(cfg).final_pairs(cfg)
    pairs = cfg.run_dir / made
    if made in report and pairs.exists():
        say(f"done: {report[made].get('records', 0)} pairs in {pairs}", "green")
    if "kept" in report.get("clean", {}).get("clean", {}):
        say(f"clean: {report['clean']['clean']['kept']} pairs in {cfg.run_dir / 'clean'}", "green")
    return report


def run(
    config: ConfigOpt = None,
    set_: SetOpt = None,
    run_dir: RunDirOpt = None,
    recipe: RecipeOpt = None,
    quiet: QuietOpt = False,
    json_events: Annotated[
        bool, typer.Option("--json-events", help="Progress as JSON lines on stdout, for programs.")
    ] = False,
) -> None:
    """Run every step of the recipe (GLAN: disciplines, subjects, syllabi, questions, answers,
    and clean if the config has a `post:` section). Safe to rerun: finished calls come from
    the cache."""
    guard(lambda: _run_steps(config, set_, run_dir, None, quiet, recipe, json_events))


def _step_command(app: typer.Typer, name: str, doc: str) -> None:
    def command(
        config: ConfigOpt = None,
        set_: SetOpt = None,
        run_dir: RunDirOpt = None,
        quiet: QuietOpt = False,
    ) -> None:
        guard(lambda: _run_steps(config, set_, run_dir, (name,), quiet))

    command.__doc__ = doc
    app.command(name)(command)


def recipes() -> None:
    """The recipes (methods) glan knows, with their steps in run order."""
    from glan.recipes import get_recipe, recipe_names

    for recipe in map(get_recipe, recipe_names()):
        typer.echo(f"{recipe.name}: {recipe.help}")
        for step in recipe.steps:
            source = (
                step.input if isinstance(step.input, str) else "depends on the config" if step.input else ""
            )
            typer.echo(f"  {step.name:<18} {step.kind:<7} {'<- ' + source if source else ''}".rstrip())


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
    from glan.cli.progress import RichEvents
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


def register(app: typer.Typer) -> None:
    """`run`, a command per step command of every recipe (GLAN: disciplines ... answers),
    `recipes` and `taxonomy`."""
    from glan.recipes import get_recipe, recipe_names

    app.command()(run)
    seen: set[str] = set()
    for recipe in map(get_recipe, recipe_names()):
        for name, doc in recipe.commands_help.items():
            if name not in seen:
                seen.add(name)
                _step_command(app, name, doc)
    app.command()(recipes)
    app.command()(taxonomy)
