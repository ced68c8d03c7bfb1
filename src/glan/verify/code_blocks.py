"""The Python programs an answer shows, run in the sandbox, and the output it shows for them.

Blocks are fenced (``` or ~~~, as CommonMark: up to 3 spaces of indent, a closing fence of the
same character at least as long, an unclosed block runs to the end). A block is Python when its
info string says so (python, py, python3, py3) or, without one, when it parses and does more
than state a value. A block is shown output when it directly follows a Python block (at most 2
lines and 200 characters of prose between, such as "Output:") and its info string is an output
one (output, text, console, ...) or none; an untagged block that looks like code is Python,
unless its lead-in speaks of output. Interactive sessions (`>>>` prompts) are neither run nor
checked: their output sits beside each statement and would need doctest's rules.

The Python blocks run as one program, in order (answers define, then call), in one sandbox
run. A marker written after each block splits its stdout, so each shown block is compared
with what the blocks since the previous shown block printed.
"""

from __future__ import annotations

import ast
import itertools
import math
import re
import signal
from dataclasses import dataclass
from typing import Literal

from glan.quality_config import CodeCheckConfig
from glan.verify.sandbox import run_python

PYTHON_INFO = {"python", "py", "python3", "py3"}
OUTPUT_INFO = {"output", "out", "text", "txt", "console", "stdout", "plaintext", "plain", "result"}
OUTPUT_WORDS = re.compile(
    r"\b(output|outputs|prints?|printed|display(s|ed)?|results?|console|terminal)\b", re.I
)
FENCE = re.compile(r"( {0,3})(`{3,}|~{3,})(.*)")
MARK = "\x1e\x1dglan-block\x1d\x1e"  # written between blocks; nothing prints it by chance
MARK_CODE = f"__import__('sys').stdout.write({MARK!r})\n"
NUMBER = re.compile(r"([-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)")
ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")  # `<object at 0x7f...>` differs on every run
MAX_LEAD_IN, MAX_LEAD_IN_LINES = 200, 2  # prose between a program and its output ("Output:")
REL_TOL = 1e-6  # numbers this close count as equal: float formatting, not a made-up value

Status = Literal["none", "passed", "failed", "mismatch"]


@dataclass(frozen=True)
class Block:
    info: str  # the info string's first word, lowercased ('' for none)
    body: str
    start: int  # offsets in the answer: the opening fence line, the body, after the closing line
    body_start: int
    body_end: int
    end: int
    indent: str
    fence: str
    rest: str  # the opening line after the fence (the info string as written)


@dataclass(frozen=True)
class CodeCheck:
    status: Status
    detail: str  # the short reason: exit code and last stderr line, timeout, first differing line
    stdout: str = ""
    shown: str | None = None  # the answer's output blocks, as shown
    repaired: str | None = None  # mismatch: the answer with the real output in its output blocks
    stderr: str = ""  # its last lines


def fenced_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a markdown text, in order."""
    lines = text.splitlines(keepends=True)
    at = list(itertools.accumulate(map(len, lines), initial=0))
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.fullmatch(lines[i].rstrip("\r\n"))
        if not m or (m[2][0] == "`" and "`" in m[3]):  # inline code, not a fence
            i += 1
            continue
        indent, fence, rest = m[1], m[2], m[3]
        close = re.compile(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*")
        j = i + 1
        while j < len(lines) and not close.fullmatch(lines[j].rstrip("\r\n")):
            j += 1
        body = "".join(_unindent(line, len(indent)) for line in lines[i + 1 : j])
        info = (rest.split() or [""])[0].strip("{}.").lower()
        end = at[min(j + 1, len(lines))]
        blocks.append(Block(info, body, at[i], at[i + 1], at[j], end, indent, fence, rest))
        i = j + 1
    return blocks


def _unindent(line: str, n: int) -> str:
    strip = len(line) - len(line.lstrip(" "))
    return line[min(n, strip) :]


def looks_like_code(body: str) -> bool:
    """Parses as Python and does something (a bare value such as `42` or `[1, 2]` is output)."""
    try:
        tree = ast.parse(body)
    except (SyntaxError, ValueError):
        return False
    return any(not isinstance(s, ast.Expr) or isinstance(s.value, ast.Call) for s in tree.body)


def _is_session(body: str) -> bool:
    return body.lstrip().startswith(">>>")


def program_blocks(text: str, blocks: list[Block]) -> tuple[list[int], list[tuple[int, int]]]:
    """The blocks that run, and the shown output blocks, each with the position (in the
    blocks that run) of the Python block it follows."""
    run: list[int] = []
    shown: list[tuple[int, int]] = []
    after: int | None = None  # the previous block ran: its position in `run`
    for k, b in enumerate(blocks):
        lead_in = text[blocks[k - 1].end if k else 0 : b.start].strip()
        prose = [line for line in lead_in.splitlines() if line.strip()]
        follows = after is not None and len(lead_in) <= MAX_LEAD_IN and len(prose) <= MAX_LEAD_IN_LINES
        says_output = follows and bool(OUTPUT_WORDS.search(lead_in))
        code = b.info in PYTHON_INFO or (not b.info and looks_like_code(b.body) and not says_output)
        if code and not _is_session(b.body):
            run.append(k)
            after = len(run) - 1
            continue
        if follows and not code and (b.info in OUTPUT_INFO or not b.info) and after is not None:
            shown.append((k, after))
        after = None
    return run, shown


def check_code(response: str, cfg: CodeCheckConfig) -> CodeCheck:
    """Run the answer's Python blocks as one program and compare the output it shows."""
    blocks = fenced_blocks(response)
    run, shown = program_blocks(response, blocks)
    if not run:
        return CodeCheck("none", "no Python block")
    program = "".join(_ended(blocks[k].body) + MARK_CODE for k in run)
    result = run_python(program, cfg)
    pieces = result.stdout.split(MARK)
    stdout = "".join(pieces)
    stderr = "\n".join(result.stderr.rstrip().splitlines()[-20:])[-2000:]
    shown_text = "\n".join(blocks[k].body for k, _ in shown) or None
    failed = _failure(result.exit_code, stderr, cfg, result.timed_out, result.truncated)
    if failed is not None:
        status, why = failed
        return CodeCheck(status, why, stdout, shown_text, None, stderr)
    # the output of block i is pieces[i]; what follows the last marker (at exit) is the last block's
    per_block = [*pieces[: len(run) - 1], "".join(pieces[len(run) - 1 :])]
    per_block += [""] * (len(run) - len(per_block))  # an early sys.exit(0) wrote no further marker
    diffs = []
    for n, (k, upto) in enumerate(shown):
        real = "".join(per_block[shown[n - 1][1] + 1 if n else 0 : upto + 1])
        why = compare(_shown_output(blocks[k]), real)
        if why is not None:
            diffs.append((n, blocks[k], real, why))
    if not diffs:
        detail = f"ran; {len(shown)} output block(s) match" if shown else "ran; no output shown"
        return CodeCheck("passed", detail, stdout, shown_text, None, stderr)
    repaired = response
    for _, block, real, _ in reversed(diffs):  # from the end, so the earlier offsets hold
        repaired = _replace_body(repaired, block, real)
    n, _, _, why = diffs[0]
    detail = f"output block {n + 1} of {len(shown)}: {why}"
    return CodeCheck("mismatch", detail, stdout, shown_text, repaired, stderr)


def _ended(body: str) -> str:
    return body if body.endswith("\n") else body + "\n"


def _failure(
    exit_code: int | None, stderr: str, cfg: CodeCheckConfig, timed_out: bool, truncated: bool
) -> tuple[Status, str] | None:
    if timed_out:
        return "failed", f"timed out after {cfg.timeout_s:g} s"
    if truncated:
        return "failed", f"output over {cfg.max_output_kb} KB"
    if exit_code == 0:
        return None
    last = (stderr.strip().splitlines() or [""])[-1].strip()
    missing = re.match(r"ModuleNotFoundError: No module named '([^']+)'", last)
    if missing:  # the sandbox's environment, not the answer, lacks it: nothing to verify here
        return "none", f"needs module {missing[1]}, which the sandbox's Python lacks"
    if last.startswith("EOFError"):
        return "failed", "reads input() but the answer gives it none (EOFError)"
    if exit_code is not None and exit_code > 128 and exit_code - 128 in signal.valid_signals():
        name = signal.Signals(exit_code - 128).name
        limit = f" (cpu_s={cfg.cpu_s})" if name in ("SIGXCPU", "SIGKILL") else ""
        return "failed", f"killed by {name}{limit}"
    return "failed", f"exit code {exit_code}: {last[:200]}"


def _shown_output(block: Block) -> str:
    """A shown block's output: a console block without its `$ command` lines."""
    if block.info != "console":
        return block.body
    return "".join(line for line in block.body.splitlines(keepends=True) if not line.startswith("$ "))


def _lines(text: str) -> list[str]:
    """Lines with whitespace runs as one space, blank lines left out, addresses masked."""
    return [" ".join(ADDRESS.sub("0x?", line).split()) for line in text.splitlines() if line.strip()]


def same_line(shown: str, real: str) -> bool:
    """Equal, or equal but for numbers within REL_TOL of each other ('2.0' and '2')."""
    if shown == real:
        return True
    a, b = NUMBER.split(shown), NUMBER.split(real)
    if len(a) != len(b) or a[::2] != b[::2]:
        return False
    return all(
        math.isclose(float(x), float(y), rel_tol=REL_TOL) for x, y in zip(a[1::2], b[1::2], strict=True)
    )


def compare(shown: str, real: str) -> str | None:
    """None when the shown output is what the program printed, else the first difference."""
    a, b = _lines(shown), _lines(real)
    for n, (x, y) in enumerate(zip(a, b, strict=False), 1):  # then the counts
        if not same_line(x, y):
            return f"line {n}: shown {x[:80]!r}, printed {y[:80]!r}"
    if len(a) != len(b):
        return f"shown {len(a)} lines, printed {len(b)}"
    return None


def _replace_body(text: str, block: Block, body: str) -> str:
    """`text` with `block`'s body replaced (its fences made longer if the body holds one)."""
    fence = block.fence
    while any(line.lstrip().startswith(fence) for line in body.splitlines()):
        fence += fence[0]
    lines = [block.indent + line for line in _ended(body).splitlines(keepends=True)] if body else []
    if block.info == "console":  # its `$ command` lines stay
        kept = [line for line in block.body.splitlines(keepends=True) if line.startswith("$ ")]
        lines = [block.indent + _ended(line) for line in kept] + lines
    newline = "\n" if text[: block.end].endswith("\n") else ""
    new = f"{block.indent}{fence}{block.rest}\n{''.join(lines)}{block.indent}{fence}{newline}"
    return text[: block.start] + new + text[block.end :]
