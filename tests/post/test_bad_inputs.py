"""A corpus of user mistakes against `glan clean` / `glan export`: each gets one error line that
names the file, field or value, a non-zero exit, no traceback, and an earlier good output
directory stays byte for byte as it was (no temporary files left beside it)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import typer
from conftest import make_pairs, snapshot, write_jsonl
from typer.testing import CliRunner

from glan.cli.clean import register

NO_HF = ["--hf", "no"]


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture(scope="module")
def good_dir(app: typer.Typer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An output directory from a successful `glan clean --export`."""
    root = tmp_path_factory.mktemp("good")
    src = write_jsonl(root / "pairs.jsonl", make_pairs(40))
    cfg = root / "post.yaml"
    cfg.write_text("post:\n  decontam:\n    enabled: false\n  export:\n    hf_dataset: 'no'\n")
    r = CliRunner().invoke(app, ["clean", str(src), "-o", str(root / "out"), "-c", str(cfg), "--export"])
    assert r.exit_code == 0, r.output
    return root / "out"


def _w(name: str, data: bytes | str) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        p = d / name
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return p

    return make


GOOD = orjson.dumps(
    {"instruction": "Explain how tides work in detail.", "response": "The moon pulls."}
).decode()
NO_BENCH = "post:\n  decontam:\n    builtin: []\n"


def _bench(name: str, data: bytes | str) -> Callable[[Path], Path]:
    """A good pairs file (returned) and a benchmark file `name` beside it."""

    def make(d: Path) -> Path:
        _w(name, data)(d)
        return _w("g.jsonl", GOOD)(d)

    return make


def _bad_line_500(d: Path) -> Path:
    rows = make_pairs(499)
    p = write_jsonl(d / "long.jsonl", rows)
    with p.open("ab") as fh:
        fh.write(b'{"instruction": "cut off here", "resp\n')
    return p


def _parquet(d: Path) -> Path:
    p = d / "p.parquet"
    p.write_bytes(b"PAR1" + b"\x00" * 40 + b"PAR1")
    return p


def _dir(d: Path) -> Path:
    (d / "folder.jsonl").mkdir()
    return d / "folder.jsonl"


# (id, input file maker, extra arguments, command, text the one error line must contain)
# `{d}` in an argument is the case's scratch folder, `{out}` the earlier good output directory.
CASES: list[tuple[str, Callable[[Path], Path] | None, list[str], str, str]] = [
    ("missing file", None, [], "clean", "not found: {d}/missing.jsonl"),
    ("a directory", _dir, [], "clean", "is a directory"),
    ("truncated last line", _w("t.jsonl", GOOD + '\n{"instruction": "x", "resp'), [], "clean", "t.jsonl:2:"),
    (
        "invalid UTF-8",
        _w("u.jsonl", GOOD.encode() + b'\n{"instruction": "\xff"}\n'),
        [],
        "clean",
        "u.jsonl:2:",
    ),
    (
        "line is an array",
        _w("a.jsonl", GOOD + "\n[1, 2]\n"),
        [],
        "clean",
        "a.jsonl:2: expected a JSON object",
    ),
    ("line is a string", _w("s.jsonl", '"just text"\n'), [], "clean", "s.jsonl:1: expected a JSON object"),
    ("NaN literal", _w("n.jsonl", '{"instruction": NaN}\n'), [], "clean", "n.jsonl:1: malformed JSON"),
    ("lone surrogate", _w("ls.jsonl", '{"instruction": "\\ud800"}\n'), [], "clean", "ls.jsonl:1:"),
    (
        "no instruction field",
        _w("m.jsonl", '{"prompt": "a", "response": "b"}\n'),
        [],
        "clean",
        "no field 'instruction'",
    ),
    (
        "instruction is a number",
        _w("i.jsonl", '{"instruction": 3, "response": "b"}\n'),
        [],
        "clean",
        "'instruction' is int",
    ),
    (
        "instruction is an object",
        _w("o.jsonl", '{"instruction": {"a": 1}, "response": "b"}\n'),
        [],
        "clean",
        "'instruction' is dict",
    ),
    (
        "response is a list",
        _w("r.jsonl", '{"instruction": "a b c", "response": ["b"]}\n'),
        [],
        "clean",
        "'response' is list",
    ),
    (
        "mapped field missing",
        _w("f.jsonl", GOOD + "\n"),
        ["--instruction-field", "prompt"],
        "clean",
        "no field 'prompt'",
    ),
    ("corrupt Parquet", _parquet, [], "clean", "p.parquet: not a readable Parquet file"),
    ("empty Parquet", _w("e.parquet", b""), [], "clean", "e.parquet: not a readable Parquet file"),
    ("fake .gz", _w("fake.jsonl.gz", "not gzip\n"), [], "clean", "fake.jsonl.gz: not a readable gzip file"),
    (
        "truncated .gz",
        _w("cut.jsonl.gz", gzip.compress((GOOD + "\n").encode() * 50)[:-12]),
        [],
        "clean",
        "cut.jsonl.gz: not a readable gzip",
    ),
    ("CSV not UTF-8", _w("c.csv", b"instruction,response\n\xff\xfe,abc\n"), [], "clean", "c.csv: not UTF-8"),
    (
        "CSV without the column",
        _w("c2.csv", "question,answer\na,b\n"),
        [],
        "clean",
        "c2.csv:1: no field 'instruction'",
    ),
    (
        "CSV field too large",
        _w("c3.csv", "instruction,response\n" + "a" * 200_000 + ",b\n"),
        [],
        "clean",
        "c3.csv: not a readable CSV",
    ),
    ("empty file", _w("empty.jsonl", ""), [], "clean", "empty.jsonl: no pairs"),
    ("blank lines only", _w("blank.jsonl", "\n\n  \n"), [], "clean", "blank.jsonl: no pairs"),
    ("bad line 500", _bad_line_500, [], "clean", "long.jsonl:500:"),
    ("--rouge-l 5", _w("g.jsonl", GOOD), ["--rouge-l", "5"], "clean", "--rouge-l: dedup.rouge_l_threshold"),
    ("--rouge-l 0", _w("g.jsonl", GOOD), ["--rouge-l", "0"], "clean", "(got 0.0)"),
    ("--ngram 2", _w("g.jsonl", GOOD), ["--ngram", "2"], "clean", "--ngram: decontam.ngram"),
    ("--dedup-on typo", _w("g.jsonl", GOOD), ["--dedup-on", "response"], "clean", "(got 'response')"),
    ("--benchmark unknown", _w("g.jsonl", GOOD), ["--benchmark", "gsm9k"], "clean", "(got 'gsm9k')"),
    (
        "--benchmark-file no field",
        _w("g.jsonl", GOOD),
        ["--benchmark-file", "x.jsonl"],
        "clean",
        "PATH:FIELD",
    ),
    (
        "benchmark file missing",
        _w("g.jsonl", GOOD),
        ["--benchmark-file", "{d}/b.jsonl:q", "-c", "{d}/nb.yaml"],
        "clean",
        "b.jsonl",
    ),
    (
        "benchmark field missing",
        _bench("b.jsonl", GOOD),
        ["--benchmark-file", "{d}/b.jsonl:q", "-c", "{d}/nb.yaml"],
        "clean",
        "benchmark field 'q' missing",
    ),
    (
        "benchmark bad JSON",
        _bench("b.jsonl", "{oops\n"),
        ["--benchmark-file", "{d}/b.jsonl:q", "-c", "{d}/nb.yaml"],
        "clean",
        "b.jsonl:1: malformed",
    ),
    (
        "benchmark empty",
        _bench("b.jsonl", ""),
        ["--benchmark-file", "{d}/b.jsonl:q", "-c", "{d}/nb.yaml"],
        "clean",
        "b.jsonl has no items",
    ),
    (
        "benchmark CSV not UTF-8",
        _bench("b.csv", b"q\n\xff\n"),
        ["--benchmark-file", "{d}/b.csv:q", "-c", "{d}/nb.yaml"],
        "clean",
        "b.csv: not UTF-8",
    ),
    (
        "config typo under post",
        _w("g.jsonl", GOOD),
        ["-c", "{d}/typo.yaml"],
        "clean",
        "typo.yaml:2: post.dedupp: unknown setting (did you mean 'dedup'?)",
    ),
    (
        "config typo in a bare post file",
        _w("g.jsonl", GOOD),
        ["-c", "{d}/bare.yaml"],
        "clean",
        "bare.yaml:3: dedup.nera: unknown setting (did you mean 'near'?)",
    ),
    (
        "config bad value in a bare post file",
        _w("g.jsonl", GOOD),
        ["-c", "{d}/bare2.yaml"],
        "clean",
        "bare2.yaml:2: split.mode: Input should be 'none', 'subject' or 'discipline' (got 'random')",
    ),
    ("config not UTF-8", _w("g.jsonl", GOOD), ["-c", "{d}/u.yaml"], "clean", "u.yaml:2: not UTF-8"),
    ("config bad YAML", _w("g.jsonl", GOOD), ["-c", "{d}/y.yaml"], "clean", "y.yaml:"),
    ("config missing", _w("g.jsonl", GOOD), ["-c", "{d}/none.yaml"], "clean", "none.yaml"),
    (
        "config is a folder",
        _w("g.jsonl", GOOD),
        ["-c", "{d}"],
        "clean",
        "cannot read config {d}: Is a directory",
    ),
    ("config duplicate key", _w("g.jsonl", GOOD), ["-c", "{d}/dup.yaml"], "clean", "duplicate key 'dedup'"),
    (
        "config post not a mapping",
        _w("g.jsonl", GOOD),
        ["-c", "{d}/p5.yaml"],
        "clean",
        "`post:` must be a mapping",
    ),
    (
        "config section is a value",
        _w("g.jsonl", GOOD),
        ["-c", "{d}/d5.yaml", "--rouge-l", "0.5"],
        "clean",
        "--rouge-l: 'post.dedup' is not a section",
    ),
    ("config bad regex", _w("g.jsonl", GOOD), ["-c", "{d}/re.yaml"], "clean", "bad refusal pattern"),
    ("-o is a file", _w("g.jsonl", GOOD), ["-o", "{d}/g.jsonl"], "clean", "is a file"),
    (
        "-o below a file",
        _w("g.jsonl", GOOD),
        ["-o", "{d}/g.jsonl/sub"],
        "clean",
        "cannot create output directory",
    ),
    ("input is the output", None, ["{out}/clean.jsonl"], "clean", "would be replaced by its output"),
    (
        "benchmark is an output",
        _w("g.jsonl", GOOD),
        ["--benchmark-file", "{out}/clean.jsonl:instruction"],
        "clean",
        "clean.jsonl is an input",
    ),
    ("export unknown format", _w("g.jsonl", GOOD), ["-f", "csv"], "export", "--format: export.formats.0"),
    ("export unknown split", _w("g.jsonl", GOOD), ["--split", "random"], "export", "--split: split.mode"),
    ("export unknown file type", _w("g.jsonl", GOOD), ["--file-type", "xlsx"], "export", "(got 'xlsx')"),
    ("export --hf maybe", _w("g.jsonl", GOOD), ["--hf", "maybe"], "export", "--hf: export.hf_dataset"),
    ("export --test-share 1.5", _w("g.jsonl", GOOD), ["--test-share", "1.5"], "export", "--test-share"),
    (
        "export --test-per-discipline 0",
        _w("g.jsonl", GOOD),
        ["--test-per-discipline", "0"],
        "export",
        "--test-per-discipline",
    ),
    ("export missing file", None, [], "export", "not found"),
    ("export truncated file", _w("t.jsonl", GOOD + '\n{"instr'), [], "export", "t.jsonl:2:"),
    ("export empty file", _w("empty.jsonl", ""), [], "export", "no pairs"),
    (
        "export input in a format dir",
        None,
        ["{out}/alpaca/train.jsonl", "--response-field", "output"],
        "export",
        "would be replaced by its output",
    ),
    ("export -o is a file", _w("g.jsonl", GOOD), ["-o", "{d}/g.jsonl"], "export", "is a file"),
]

CONFIGS = {
    "nb.yaml": NO_BENCH,
    "typo.yaml": "post:\n  dedupp:\n    near: false\n",
    "bare.yaml": "dedup:\n  exact: true\n  nera: false\n",
    "bare2.yaml": "split:\n  mode: random\n",
    "u.yaml": b"post:\n  dedup: \xff\n",
    "y.yaml": "post:\n  dedup: [unclosed\n",
    "dup.yaml": "post:\n  dedup:\n    near: false\n  dedup:\n    exact: false\n",
    "p5.yaml": "post: 5\n",
    "d5.yaml": "post:\n  dedup: 5\n",
    "re.yaml": "post:\n  filters:\n    refusal_patterns: ['(unclosed']\n",
}


@pytest.mark.parametrize(
    ("make", "extra", "cmd", "expect"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_gives_one_line_and_keeps_outputs(
    app: typer.Typer, good_dir: Path, tmp_path: Path, make, extra: list[str], cmd: str, expect: str
):
    out = tmp_path / "out"
    shutil.copytree(good_dir, out)
    before = snapshot(out)
    d = tmp_path / "case"
    d.mkdir()
    for name, text in CONFIGS.items():
        (d / name).write_bytes(text.encode() if isinstance(text, str) else text)
    args = [a.format(d=d, out=out) for a in extra]
    src = make(d) if make else d / "missing.jsonl"
    if args and args[0].startswith(str(out)):
        src, args = Path(args[0]), args[1:]  # the input lies in the output directory
    if "-o" not in args:
        args += ["-o", str(out)]
    if cmd == "export" and "--hf" not in args:
        args += NO_HF
    r = CliRunner().invoke(app, [cmd, str(src), *args])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2, r.output
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    assert expect.format(d=d) in lines[0], lines[0]
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case", "out"]


def test_real_process_prints_one_line_without_traceback(good_dir: Path, tmp_path: Path):
    """The same in a real process: stderr has one line, stdout nothing."""
    out = tmp_path / "out"
    shutil.copytree(good_dir, out)
    before = snapshot(out)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(GOOD.encode() + b"\n[1]\n")
    for args in (["clean", str(bad)], ["export", str(bad)], ["clean", str(out / "clean.jsonl")]):
        p = subprocess.run(
            [sys.executable, "-m", "glan", *args, "-o", str(out)], capture_output=True, text=True, timeout=120
        )
        assert p.returncode == 2 and p.stdout == "", (p.stdout, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
    assert snapshot(out) == before
