"""Reading the user's YAML files strictly: every problem is one ConfigError line `file:line: ...`.

Unlike `yaml.safe_load`, a key given twice in one mapping is an error naming both lines (a
second `llm:` block must not silently replace the first), and a file that is not UTF-8 text,
a directory or a missing file gets a readable line instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from glan.errors import ConfigError

_MERGE = "tag:yaml.org,2002:merge"


def read_text(path: Path, what: str = "file") -> str:
    """The text of a UTF-8 file; a missing, unreadable or binary file is a ConfigError."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x}); save it as UTF-8"
        ) from None


def _describe(e: yaml.YAMLError, text: str) -> tuple[int, str]:
    """The line (1-based) and a one-line description of a PyYAML error."""
    last = max(len(text.splitlines()), 1)
    if isinstance(e, yaml.MarkedYAMLError):
        line = min(e.problem_mark.line + 1, last) if e.problem_mark else 1
        ctx = f"{e.context}: " if e.context else ""
        if e.context and e.context_mark and e.context_mark.line + 1 != line:
            ctx = f"{e.context} (line {e.context_mark.line + 1}): "
        kind = "YAML error" if isinstance(e, yaml.constructor.ConstructorError) else "YAML syntax error"
        return line, f"{kind}: {ctx}{e.problem}"
    if isinstance(e, yaml.reader.ReaderError):  # a control character YAML does not allow
        line = min(text[: e.position].count("\n") + 1, last)
        return line, f"character U+{e.character:04X} is not allowed in YAML"
    return 1, f"YAML error: {' '.join(str(e).split())}"


def yaml_error(e: yaml.YAMLError, source: str, text: str) -> ConfigError:
    """A PyYAML error as one `source:line: ...` ConfigError."""
    line, problem = _describe(e, text)
    return ConfigError(f"{source}:{line}: {problem}")


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        check_unique_keys(node, self.name)
        return super().construct_mapping(node, deep=deep)


def check_unique_keys(node: yaml.MappingNode, source: str) -> None:
    """Raise a ConfigError naming both lines when `node` holds a key twice."""
    first: dict[tuple[str, str], int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE:
            continue  # `<<` merges may override on purpose; complex keys are rare enough
        line = key.start_mark.line + 1
        if (k := (key.tag, key.value)) in first:
            raise ConfigError(f"{source}:{line}: duplicate key {key.value!r} (first at line {first[k]})")
        first[k] = line


def compose(text: str, source: str) -> yaml.Node | None:
    """The node tree of YAML text (safe tags only), with line numbers for error messages."""
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise yaml_error(e, source, text) from None


def construct(node: yaml.Node | None, source: str, text: str = "") -> Any:
    """Python data from a composed node tree; repeated keys and unsafe tags are ConfigErrors."""
    if node is None:
        return None
    loader = _Loader(text)
    loader.name = source
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise yaml_error(e, source, text) from None
    finally:
        loader.dispose()


def parse_yaml(text: str, source: str) -> Any:
    """Python data from YAML text; `source` names it in errors (a file name, `--set x=1`)."""
    return construct(compose(text, source), source, text)


def parse_value(raw: str, source: str) -> Any:
    """One YAML value from the command line (`--set key=VALUE`); `source` names it in errors."""
    try:
        return yaml.load(raw, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: {_describe(e, raw)[1]}") from None


def load_yaml(path: Path) -> Any:
    """Python data from a YAML file (None when empty). Every problem, a missing file, invalid
    UTF-8, a syntax error or a repeated key, is one ConfigError line naming the file and line."""
    return parse_yaml(read_text(path, "YAML file"), str(path))


def line_of(node: yaml.Node | None, loc: tuple[str | int, ...]) -> int | None:
    """The line (1-based) of the deepest node on the path `loc` (mapping keys, list indexes)."""
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            hit = next(((k, v) for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if hit is None:
                break
            line, node = hit[0].start_mark.line + 1, hit[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
