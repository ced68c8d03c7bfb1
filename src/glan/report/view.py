"""What every section of the HTML report shares: the runs it shows and small HTML builders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from glan.report.svg import esc


class RunView(NamedTuple):
    """One run as the page shows it: a unique label, its colour in every chart, its data."""

    label: str
    colour: str
    data: dict[str, Any]

    def part(self, key: str) -> dict[str, Any] | None:
        """A section of the run's data, or None when it is missing or not an object."""
        value = self.data.get(key)
        return value if isinstance(value, dict) else None

    def items(self, key: str) -> list[dict[str, Any]]:
        """A list section of the run's data, keeping only its objects."""
        value = self.data.get(key)
        return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def table(head: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """A table whose head is plain text (escaped here) and whose cells are HTML built by the caller."""
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    inner = f"<thead><tr>{th}</tr></thead><tbody>{body}</tbody>"
    return f'<div class="scroll"><table class="{cls}">{inner}</table></div>'


def per_run(runs: Sequence[RunView], render: Any, title: str = "", side: bool = True) -> str:
    """One figure per run under its run's name: side by side, or stacked for wide tables."""
    if len(runs) == 1:
        return render(runs[0])
    cells = "".join(
        f'<div class="run-cell"><h4><i class="dot" style="background:{r.colour}"></i>{esc(r.label)}</h4>'
        f"{render(r)}</div>"
        for r in runs
    )
    return f'<div class="{"side" if side else "stack"}" aria-label="{esc(title)}">{cells}</div>'


def figure(title: str, body: str, note: str = "", cls: str = "") -> str:
    """A titled card holding one chart or table."""
    n = f'<p class="note">{esc(note)}</p>' if note else ""
    return f'<figure class="card {cls}"><figcaption>{esc(title)}</figcaption>{n}{body}</figure>'


def missing(runs: Sequence[RunView], key: str, what: str) -> str:
    """Says which runs lack a section, or '' when all have it."""
    lacking = [r.label for r in runs if not r.data.get(key)]
    if not lacking:
        return ""
    who = "this run" if len(runs) == 1 else ", ".join(lacking)
    return f'<p class="missing">No {esc(what)} for {esc(who)}.</p>'
