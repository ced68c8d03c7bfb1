"""The one error guard every command runs through, and the exit codes it documents.

A GlanError (a user mistake, a failed run) or an operating-system error (a path that cannot be
read or written, a full disk) becomes one line on stderr and a non-zero exit code, never a
traceback. Rich markup in the message is escaped: it quotes user text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from glan.errors import GlanError, Incomplete

EXIT_OK = 0  # every step finished, nothing failed
EXIT_INCOMPLETE = 1  # the run ended but some jobs failed or produced nothing (recorded; rerun)
EXIT_USAGE = 2  # bad input or configuration, or a run stopped before it could finish
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM: finished calls are cached, rerun to resume

T = TypeVar("T")
P = ParamSpec("P")
err = Console(stderr=True)


def say(message: str, style: str | None = None) -> None:
    """One line on stderr; `message` is plain text (markup in it is shown, not interpreted)."""
    text = escape(message)
    err.print(f"[{style}]{text}[/]" if style else text, highlight=False, soft_wrap=True)


def guard(fn: Callable[[], T]) -> T:
    """Run fn; a GlanError or OSError becomes one line on stderr and its exit code."""
    try:
        return fn()
    except Incomplete as e:  # the run ended; its message starts with "incomplete:"
        say(str(e), "yellow")
        raise typer.Exit(e.exit_code) from None
    except GlanError as e:
        err.print(f"[red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(e.exit_code) from None
    except OSError as e:  # a path the user gave that cannot be read or written, a full disk
        where = f"{e.filename}: " if e.filename else ""
        err.print(f"[red]error:[/] {escape(where + (e.strerror or str(e)))}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_USAGE) from None
    except KeyboardInterrupt:
        say("interrupted: finished calls are cached; run the same command to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def guarded(fn: Callable[P, T]) -> Callable[P, T]:
    """A typer command whose body runs inside guard()."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return guard(lambda: fn(*args, **kwargs))

    return wrapper
