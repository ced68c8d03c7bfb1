"""`glan models list | path`: the embedded model packs."""

from __future__ import annotations

import typer

from glan.cli.guard import guard

app = typer.Typer(help="The embedded model packs (GGUF files shipped as pip packages).")


@app.command("list")
def models_list() -> None:
    """The model packs glan knows, and whether each is installed and assembled."""
    from glan.llm.packs import PACKS, cache_dir

    for p in PACKS.values():
        target = cache_dir() / f"{p.name}-{p.sha256[:12]}.gguf"
        state = "assembled" if target.is_file() else "not assembled"
        typer.echo(f"{p.name:22} {p.size / 1e9:5.2f} GB  pip install 'glan[{p.extra}]'  ({state})")


@app.command("path")
def models_path(name: str) -> None:
    """Assemble (once) and print the GGUF path of a model pack."""
    from glan.llm.packs import resolve_model

    typer.echo(str(guard(lambda: resolve_model(name))))
