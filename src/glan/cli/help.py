"""Help text as it should read: each paragraph on one line, and no type shown beside a flag."""

from __future__ import annotations

import inspect
from typing import Any

import typer


def _one_line_paragraphs(text: str) -> str:
    """Help text with each paragraph on one line: rich help keeps a docstring's hard line
    breaks, which then show mid-sentence."""
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(text).split("\n\n"))


def tidy_help(group: typer.Typer) -> None:
    """Every command's help, in `group` and the groups added to it."""
    for cmd in group.registered_commands:
        if text := cmd.help or inspect.getdoc(cmd.callback):
            cmd.help = _one_line_paragraphs(text)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            tidy_help(sub.typer_instance)


def flags_take_no_value() -> None:
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
