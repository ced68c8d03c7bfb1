"""The taxonomy of human knowledge (fields -> sub-fields -> disciplines) that drives a run."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, model_validator

from glan.errors import ConfigError
from glan.records import Discipline, lineage_id
from glan.yamlio import compose, read_text

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_MAX_ERRORS = 50
REVIEW_HEADER = """\
glan taxonomy: fields -> sub-fields -> disciplines.
How to review: delete a line to remove that node (and everything under it); edit a name to
rename it; add "Field:" at column 0, "  Sub-field:" under it and "    - Discipline" lines.
A discipline's id comes from its name alone: moving it keeps its cached data.
Every discipline must appear exactly once; quote names YAML would read as numbers or null."""


class Taxonomy(BaseModel):
    """Fields -> sub-fields -> discipline names, in file order."""

    fields: dict[str, dict[str, list[str]]]

    @model_validator(mode="after")
    def _unique_disciplines(self) -> Taxonomy:
        seen: set[str] = set()
        for name in (d for subs in self.fields.values() for ds in subs.values() for d in ds):
            if not name.strip() or name.casefold() in seen:
                raise ValueError(f"blank or duplicate discipline {name!r}")
            seen.add(name.casefold())
        return self

    def disciplines(self) -> list[Discipline]:
        """One record per discipline; its id depends on the discipline name only."""
        return [
            Discipline(id=lineage_id("discipline", d), field=f, sub_field=s, discipline=d)
            for f, subs in self.fields.items()
            for s, ds in subs.items()
            for d in ds
        ]

    def select(self, names: Iterable[str]) -> Taxonomy:
        """Keep the fields, sub-fields and disciplines named (case-insensitive), in file order."""
        wanted = {n.strip().casefold(): n for n in ([names] if isinstance(names, str) else names)}
        if not wanted:
            raise ConfigError("no taxonomy names given to select")
        found: set[str] = set()
        out: dict[str, dict[str, list[str]]] = {}
        for f, subs in self.fields.items():
            for s, ds in subs.items():
                hits = [k for k in (f.casefold(), s.casefold()) if k in wanted]
                keep = [d for d in ds if hits or d.casefold() in wanted]
                found.update(hits, (d.casefold() for d in keep if d.casefold() in wanted))
                if keep:
                    out.setdefault(f, {})[s] = keep
        if unknown := [n for k, n in wanted.items() if k not in found]:
            known = {
                x.casefold(): x
                for f, subs in self.fields.items()
                for x in [f, *subs, *(d for ds in subs.values() for d in ds)]
            }
            lines = []
            for n in unknown:
                close = difflib.get_close_matches(n.strip().casefold(), known, n=3, cutoff=0.6)
                hint = f" (did you mean {', '.join(repr(known[c]) for c in close)}?)" if close else ""
                lines.append(f"disciplines: {n!r} is not in the taxonomy{hint}")
            raise ConfigError("\n".join(lines))
        return Taxonomy(fields=out)


def _kind(node: yaml.Node) -> str:
    if _empty(node):
        return "nothing"
    if isinstance(node, yaml.ScalarNode):
        return repr(node.value)
    return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"


def _empty(node: yaml.Node) -> bool:
    return not node.value or node.tag == _NULL


def parse_taxonomy(text: str, source: str) -> Taxonomy:
    """Parse and strictly validate taxonomy YAML; every problem is one `source:line: ...` line."""
    root = compose(text, source)
    errors: list[str] = []

    def err(node: yaml.Node, problem: str) -> None:
        errors.append(f"{source}:{node.start_mark.line + 1}: {problem}")

    def name(node: yaml.Node, what: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            err(node, f"expected a {what} name, got {_kind(node)}")
        elif node.tag not in (_STR, _NULL):
            err(node, f"{what} name must be text, got {node.value!r} (quote it if it is a name)")
        elif node.tag == _NULL or not node.value.strip():
            err(node, f"empty {what} name")
        elif "\n" in node.value.strip():
            err(node, f"{what} name contains a line break")
        else:
            return node.value.strip()
        return None

    def pairs(node: yaml.MappingNode, what: str) -> Iterable[tuple[str, yaml.Node]]:
        seen: dict[str, int] = {}
        for key, value in node.value:
            if (k := name(key, what)) is None:
                continue
            if k.casefold() in seen:
                err(key, f"duplicate {what} {k!r} (first at line {seen[k.casefold()]})")
                continue
            seen[k.casefold()] = key.start_mark.line + 1
            yield k, value

    fields: dict[str, dict[str, list[str]]] = {}
    first: dict[str, str] = {}
    if root is None or _empty(root):
        raise ConfigError(f"{source}:1: empty taxonomy: no fields")
    if not isinstance(root, yaml.MappingNode):
        err(root, "the top level must be a mapping of fields to sub-fields")
    else:
        for f, fnode in pairs(root, "field"):
            if not isinstance(fnode, yaml.MappingNode) or not fnode.value:
                err(fnode, f"field {f!r} must hold 'Sub-field:' lines, got {_kind(fnode)}")
                continue
            for s, snode in pairs(fnode, "sub-field"):
                if not isinstance(snode, yaml.SequenceNode) or not snode.value:
                    err(snode, f"sub-field {s!r} must hold '- Discipline' lines, got {_kind(snode)}")
                    continue
                for item in snode.value:
                    if (d := name(item, "discipline")) is None:
                        continue
                    if prev := first.get(d.casefold()):
                        err(item, f"discipline {d!r} repeated (first at line {prev})")
                        continue
                    first[d.casefold()] = f"{item.start_mark.line + 1}, in {f} / {s}"
                    fields.setdefault(f, {}).setdefault(s, []).append(d)
    if errors:
        more = [f"... and {len(errors) - _MAX_ERRORS} more"] if len(errors) > _MAX_ERRORS else []
        raise ConfigError("\n".join(errors[:_MAX_ERRORS] + more))
    return Taxonomy(fields=fields)


def load_taxonomy(path: Path | None) -> Taxonomy:
    """Load a taxonomy file, or the built-in default when `path` is None."""
    if path is None:
        res = resources.files("glan").joinpath("data/default_taxonomy.yaml")
        return parse_taxonomy(res.read_text(encoding="utf-8"), "default_taxonomy.yaml")
    if not Path(path).exists():
        raise ConfigError(f"taxonomy: no file {path} (give 'builtin', 'generate' or a taxonomy YAML file)")
    return parse_taxonomy(read_text(Path(path), "taxonomy file"), str(path))


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)  # indent lists under their sub-field


def dump_taxonomy(tax: Taxonomy, header: str | None = None) -> str:
    """YAML text in the file format: `header` (if any), the review notes, then the tree."""
    body = yaml.dump(tax.fields, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10**6, indent=2)
    notes = "\n".join(x for x in (header, REVIEW_HEADER) if x)
    lines = [f"# {x}".rstrip() for x in notes.splitlines()]
    for line in body.splitlines():
        if not line.startswith((" ", ":")):
            lines.append("")  # a blank line before each field
        lines.append(line)
    return "\n".join(lines) + "\n"


def _clean(name: object) -> str | None:
    """A usable node name, stripped, or None (not text, blank, or spanning lines)."""
    if isinstance(name, str) and (name := name.strip()) and "\n" not in name:
        return name
    return None


def taxonomy_from_tree(tree: dict[str, Any]) -> Taxonomy:
    """Build a taxonomy from a parsed dict (an LLM's output), dropping blanks and repeats."""
    if not isinstance(tree, dict):
        raise ConfigError(f"taxonomy must be a mapping of fields, got {type(tree).__name__}")
    fields: dict[str, dict[str, list[str]]] = {}
    spelling: dict[tuple[str, ...], str] = {}  # merges names differing only in case
    seen: set[str] = set()
    for f, subs in tree.items():
        if not isinstance(subs, dict):
            raise ConfigError(f"field {f!r}: sub-fields must be a mapping, got {type(subs).__name__}")
        for s, ds in subs.items():
            if not isinstance(ds, list):
                raise ConfigError(f"sub-field {f!r} / {s!r}: disciplines must be a list")
            if (fc := _clean(f)) is None or (sc := _clean(s)) is None:
                continue
            fk = spelling.setdefault((fc.casefold(),), fc)
            sk = spelling.setdefault((fc.casefold(), sc.casefold()), sc)
            for d in map(_clean, ds):
                if d is not None and d.casefold() not in seen:
                    seen.add(d.casefold())
                    fields.setdefault(fk, {}).setdefault(sk, []).append(d)
    if not fields:
        raise ConfigError("empty taxonomy: no disciplines")
    return Taxonomy(fields=fields)
