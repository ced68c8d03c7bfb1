"""The core draws nothing: only glan.cli imports typer or rich; every other module reports
through glan.events, so a library user (or a Ray worker) gets glan without a terminal UI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import glan

UI = ("rich", "typer")


def core_modules() -> list[str]:
    """Every module of glan outside the CLI, found on disk (walking packages would import them)."""
    root = Path(glan.__file__).parent
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = ["glan", *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        if parts[1:2] != ["cli"] and parts[1:] != ["__main__"]:
            names.append(".".join(parts))
    return names


def test_no_core_module_imports_rich_or_typer() -> None:
    modules = core_modules()
    assert {"glan.session", "glan.steps", "glan.post.pipeline", "glan.recipes.glan"} <= set(modules)
    for package in ("glan.exec.", "glan.llm.", "glan.stages."):
        assert any(m.startswith(package) for m in modules)
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted({{k.split('.')[0] for k in sys.modules}} & {set(UI)!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_cli_is_where_they_are_imported() -> None:
    """The check above can fail: the CLI does pull them in."""
    code = "import sys, glan.cli; print(all(m in sys.modules for m in ('rich', 'typer')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
