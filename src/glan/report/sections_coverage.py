"""The Coverage section: the taxonomy tree with pairs per node, the difficulty mix, syllabus coverage.

Several runs share one tree (nodes matched by their path of names) with a column per run, so a
subject one run covered and another missed stands out on a single line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from glan.report.svg import color, esc, fmt_int, fmt_pct, legend, num, stacked
from glan.report.view import RunView, figure, missing, table

DIFFICULTY_COLOURS = {"basic": "#a0cbe8", "challenging": "#4e79a7", "evolved": "#b07aa1"}
MAX_DEPTH = 8  # field > sub_field > discipline > subject is 4; deeper input is cut, not recursed into


@dataclass
class Node:
    name: str
    level: str
    pairs: list[float | None]
    sessions: list[Any]
    concepts: list[Any]
    children: dict[str, Node] = field(default_factory=dict)


def _merge(runs: Sequence[RunView]) -> Node:
    n = len(runs)
    root = Node("all", "root", [None] * n, [None] * n, [None] * n)

    def add(parent: Node, src: dict[str, Any], i: int, depth: int) -> None:
        kids = src.get("children")
        if depth >= MAX_DEPTH or not isinstance(kids, list):
            return
        for kid in kids:
            if not isinstance(kid, dict):
                continue
            name = str(kid.get("name", "?"))
            node = parent.children.get(name)
            if node is None:
                level = str(kid.get("level", ""))
                node = parent.children[name] = Node(name, level, [None] * n, [None] * n, [None] * n)
            node.pairs[i] = num(kid.get("pairs")) or 0.0
            node.sessions[i], node.concepts[i] = kid.get("sessions"), kid.get("concepts")
            add(node, kid, i, depth + 1)

    for i, r in enumerate(runs):
        tree = (r.part("coverage") or {}).get("tree")
        if isinstance(tree, dict):
            root.pairs[i] = num(tree.get("pairs"))
            add(root, tree, i, 0)
    return root


def _frac(pair: Any) -> tuple[float, float] | None:
    """[covered, total] as numbers, or None."""
    if isinstance(pair, list | tuple) and len(pair) == 2:
        a, b = num(pair[0]), num(pair[1])
        if a is not None and b is not None:
            return a, b
    return None


def _empty_leaves(node: Node) -> int:
    if not node.children:
        return int(any(p == 0 for p in node.pairs))
    return sum(_empty_leaves(k) for k in node.children.values())


def _cells(node: Node, parent: Node, leaf: bool) -> str:
    out = []
    for i, p in enumerate(node.pairs):
        if p is None:
            out.append('<span class="cell na" title="not in this run">—</span>')
            continue
        extra = ""
        if leaf:
            s, c = _frac(node.sessions[i]), _frac(node.concepts[i])
            bits = [
                f"sessions {s[0]:.0f}/{s[1]:.0f}" if s else "",
                f"concepts {c[0]:.0f}/{c[1]:.0f}" if c else "",
            ]
            extra = f"<small>{' · '.join(b for b in bits if b)}</small>" if any(bits) else ""
        if p == 0:
            out.append(f'<span class="cell zero"><span class="badge">0 pairs</span>{extra}</span>')
            continue
        whole = parent.pairs[i] or 0.0
        width = min(100.0, 100 * p / whole) if whole else 0.0
        out.append(
            f'<span class="cell"><span class="bar"><i style="width:{width:.1f}%"></i></span>'
            f"<b>{fmt_int(p)}</b><em>{fmt_pct(p, whole, 0) if whole else ''}</em>{extra}</span>"
        )
    return "".join(out)


def _row(node: Node, parent: Node) -> str:
    leaf = not node.children
    empties = 0 if leaf else _empty_leaves(node)
    warn = f'<span class="warn">{empties} empty</span>' if empties else ""
    lvl = f'<span class="lvl">{esc(node.level.replace("_", " "))}</span>' if node.level else ""
    cells = _cells(node, parent, leaf)
    return f'<span class="nm">{esc(node.name)}{lvl}{warn}</span><span class="cells">{cells}</span>'


def _tree_html(node: Node, depth: int = 0) -> str:
    out = []
    for kid in node.children.values():
        zero = " has-zero" if any(p == 0 for p in kid.pairs) else ""
        if kid.children:
            opened = " open" if depth == 0 else ""
            out.append(
                f'<details class="node{zero}"{opened}><summary>{_row(kid, node)}</summary>'
                f'<div class="kids">{_tree_html(kid, depth + 1)}</div></details>'
            )
        else:
            out.append(f'<div class="node leaf{zero}">{_row(kid, node)}</div>')
    return "".join(out)


def _walk(node: Node, level: str) -> list[Node]:
    found = [k for k in node.children.values() if k.level == level]
    for k in node.children.values():
        if k.level != level:
            found += _walk(k, level)
    return found


def _leaves(node: Node) -> list[Node]:
    if not node.children:
        return [node]
    return [leaf for k in node.children.values() for leaf in _leaves(k)]


def _syllabus_table(root: Node, runs: Sequence[RunView]) -> str:
    disciplines = _walk(root, "discipline")
    if not any(_frac(s) for leaf in _leaves(root) for s in leaf.sessions):
        return '<p class="missing">No syllabus coverage (sessions, concepts) in the data.</p>'
    whats = ("sessions", "concepts")
    head = ["Discipline"] + [f"{r.label}: {w}" if len(runs) > 1 else w for r in runs for w in whats]
    rows = []
    for d in disciplines + [root]:
        row = ["<b>All disciplines</b>" if d is root else esc(d.name)]
        for i in range(len(runs)):
            for attr in whats:
                pairs = [_frac(getattr(leaf, attr)[i]) for leaf in _leaves(d)]
                cov, tot = sum(p[0] for p in pairs if p), sum(p[1] for p in pairs if p)
                if not tot:
                    row.append('<span class="muted">—</span>')
                    continue
                pct = min(100.0, 100 * cov / tot)
                row.append(
                    f'<span class="mini"><i style="width:{pct:.0f}%"></i></span> '
                    f"{fmt_int(cov)}/{fmt_int(tot)} <em>{pct:.0f}%</em>"
                )
        rows.append(row)
    return table(head, rows, "num")


def _difficulty(runs: Sequence[RunView]) -> str:
    rows, names = [], list(DIFFICULTY_COLOURS)
    for r in runs:
        mix = (r.part("coverage") or {}).get("difficulty")
        if isinstance(mix, dict):
            names += [str(k) for k in mix if str(k) not in names]
            rows.append((r.label, mix))
    if not rows:
        return '<p class="missing">No difficulty mix in the data.</p>'
    cols = {n: DIFFICULTY_COLOURS.get(n, color(i + 4)) for i, n in enumerate(names)}
    bars = [(label, [(n, cols[n], mix.get(n)) for n in names]) for label, mix in rows]
    used = [n for n in names if any(num(mix.get(n)) for _, mix in rows)]
    return stacked(bars, "difficulty mix") + legend([(n, cols[n]) for n in used])


def _stats(root: Node, runs: Sequence[RunView]) -> str:
    leaves = _leaves(root) if root.children else []
    cards = []
    for i, r in enumerate(runs):
        mine = [leaf for leaf in leaves if leaf.pairs[i] is not None]
        if not mine:
            continue
        zero = sum(1 for leaf in mine if leaf.pairs[i] == 0)
        disc = sum(1 for d in _walk(root, "discipline") if d.pairs[i] is not None)
        who = f"<b>{esc(r.label)}</b> " if len(runs) > 1 else ""
        cls = "stat bad" if zero else "stat"
        cards.append(
            f'<div class="{cls}">{who}{disc:,} disciplines · {len(mine):,} subjects · '
            f"<strong>{zero:,}</strong> subjects with no pairs</div>"
        )
    return f'<div class="stats">{"".join(cards)}</div>'


def section(runs: Sequence[RunView]) -> str:
    root = _merge(runs)
    note = missing(runs, "coverage", "taxonomy coverage (a run without a taxonomy, such as Self-Instruct)")
    parts = [note]
    if root.children:
        head = "".join(f'<span class="cell h" title="{esc(r.label)}">{esc(r.label)}</span>' for r in runs)
        tools = (
            '<div class="tools"><button type="button" data-open="details.node">Expand all</button>'
            '<button type="button" data-close="details.node">Collapse all</button></div>'
        )
        tree = (
            f'{tools}<div class="tree"><div class="node head"><span class="nm">Taxonomy · pairs per node '
            f'(bar: share of the parent)</span><span class="cells">{head}</span></div>'
            f"{_tree_html(root)}</div>"
        )
        parts.append(_stats(root, runs))
        parts.append(figure("Field › sub-field › discipline › subject", tree, cls="wide"))
    parts.append(figure("Difficulty mix", _difficulty(runs)))
    if root.children:
        wide = "wide" if len(runs) > 1 else ""
        parts.append(figure("Syllabus coverage per discipline", _syllabus_table(root, runs), cls=wide))
    return "".join(parts)
