"""A corpus of user mistakes on the config / taxonomy / CLI side, run through the CLI: each ends
with exit code 2 and exactly one `error:` line naming the file, line, key or value, no traceback,
and nothing written."""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glan.cli import app
from glan.errors import ConfigError
from glan.yamlio import load_yaml
from tests.helpers import step_bytes

runner = CliRunner()
TAX = "A:\n  S:\n    - x\n"
RUN = ["run", "-c", "{d}/c.yaml"]
STEP = ["disciplines", "-c", "{d}/c.yaml"]

# id: (files to write under {d}, argv, needles that the one error line must contain)
CASES: dict[str, tuple[dict[str, str | bytes], list[str], list[str]]] = {
    # the config file
    "config missing": (
        {},
        ["run", "-c", "{d}/nope.yaml"],
        ["cannot read config", "nope.yaml", "No such file"],
    ),
    "config is a folder": ({"c.yaml/x": ""}, RUN, ["cannot read config", "c.yaml"]),
    "config not UTF-8": ({"c.yaml": b"seed: 1\nrun_dir: \xff\xfe\n"}, RUN, ["c.yaml:2: not UTF-8", "0xff"]),
    "config NUL byte": (
        {"c.yaml": "seed: 1\nrun_dir: a\x00b\n"},
        RUN,
        ["c.yaml:2: character U+0000 is not allowed"],
    ),
    "executor unknown": ({"c.yaml": "executor: spark\n"}, RUN, ["executor", "'local' or 'ray'"]),
    "ray actors 0": ({"c.yaml": "executor: ray\nray: {actors: 0}\n"}, RUN, ["ray.actors"]),
    "ray address unreachable": (
        {"c.yaml": "executor: ray\nray: {address: '127.0.0.1:9'}\n"},
        RUN,
        ["ray.address: '127.0.0.1:9'"] if find_spec("ray") else ["executor: ray needs Ray", "glan[ray]"],
    ),
    "config YAML syntax": ({"c.yaml": "seed: 1\nllm: {model: x\n"}, RUN, ["c.yaml:2: YAML syntax error"]),
    "config bad indent": (
        {"c.yaml": "subjects:\n  samples: 2\n mode: json\n"},
        RUN,
        ["c.yaml:3: YAML syntax error"],
    ),
    "config python tag": (
        {"c.yaml": "seed: !!python/object/apply:os.system [ls]\n"},
        RUN,
        ["c.yaml:1: YAML error: could not determine a constructor", "python/object"],
    ),
    "config duplicate top key": (
        {"c.yaml": "llm: {backend: local}\nseed: 1\nllm: {backend: openai, base_url: 'http://h/v1'}\n"},
        RUN,
        ["c.yaml:3: duplicate key 'llm' (first at line 1)"],
    ),
    "config duplicate nested key": (
        {"c.yaml": "subjects:\n  samples: 2\n  samples: 3\n"},
        RUN,
        ["c.yaml:3: duplicate key 'samples' (first at line 2)"],
    ),
    "config is a list": ({"c.yaml": "- seed: 1\n"}, RUN, ["c.yaml:1: ", "mapping"]),
    "config is a scalar": ({"c.yaml": "hello\n"}, RUN, ["c.yaml:1: ", "mapping"]),
    "config unknown key": (
        {"c.yaml": "seed: 1\nsubjects:\n  samles: 3\n"},
        RUN,
        ["c.yaml:3: subjects.samles: unknown setting", "'samples'"],
    ),
    "config unknown top key": (
        {"c.yaml": "seed: 1\nllms: {}\n"},
        RUN,
        ["c.yaml:2: llms: unknown setting", "'llm'"],
    ),
    "config wrong type": ({"c.yaml": "seed: abc\n"}, RUN, ["c.yaml:1: seed:", "'abc'"]),
    "config out of range": (
        {"c.yaml": "seed: 0\nquestions:\n  per_syllabus: 0\n"},
        RUN,
        ["c.yaml:3: questions.per_syllabus", "(got 0)"],
    ),
    "config unknown backend": ({"c.yaml": "llm:\n  backend: gpt\n"}, RUN, ["c.yaml:2: llm.backend", "'gpt'"]),
    "config openai without url": (
        {"c.yaml": "llm:\n  backend: openai\n"},
        RUN,
        ["c.yaml:1: llm:", "base_url"],
    ),
    "config section is a value": ({"c.yaml": "subjects: 3\n"}, RUN, ["c.yaml:1: subjects:", "(got 3)"]),
    "config disciplines empty": (
        {"c.yaml": "seed: 1\ndisciplines: []\n"},
        STEP,
        ["c.yaml:2: disciplines: empty list; omit it to use the whole taxonomy"],
    ),
    "config disciplines not text": ({"c.yaml": "disciplines: [[1]]\n"}, STEP, ["c.yaml:1: disciplines.0"]),
    "config syllabus bounds": (
        {"c.yaml": "syllabi: {min_sessions: 9, max_sessions: 3}\n"},
        RUN,
        ["c.yaml:1: syllabi:", "min_sessions 9 > max_sessions 3"],
    ),
    "config bad price": ({"c.yaml": "prices:\n  m: {input: 1}\n"}, RUN, ["c.yaml:2: prices.m.output"]),
    # --set overrides
    "set invalid YAML value": (
        {},
        ["run", "-s", "disciplines=["],
        ["--set 'disciplines=['", "YAML syntax error"],
    ),
    "set unknown key bad YAML": ({}, ["run", "-s", "x=["], ["--set 'x=['", "x: unknown setting"]),
    "set unknown key": (
        {},
        ["run", "-s", "llm.modle=m"],
        ["--set 'llm.modle=m'", "unknown setting", "'model'"],
    ),
    "set into a value": (
        {},
        ["run", "-s", "seed.x=1"],
        ["--set 'seed.x=1'", "'seed' is a setting, not a section"],
    ),
    "set below a value": ({}, ["run", "-s", "llm.model.name=1"], ["--set 'llm.model.name=1'", "'llm.model'"]),
    "set into a value in file": (
        {"c.yaml": "answers:\n  llm: 5\n"},
        ["run", "-c", "{d}/c.yaml", "-s", "answers.llm.model=m"],
        ["--set 'answers.llm.model=m'", "not a section"],
    ),
    "set without =": ({}, ["run", "-s", "seed"], ["--set 'seed'", "key.path=value"]),
    "set empty key": ({}, ["run", "-s", "=1"], ["--set '=1'", "key.path=value"]),
    "set empty part": ({}, ["run", "-s", "llm..model=1"], ["--set 'llm..model=1'", "key.path=value"]),
    "set wrong type": ({}, ["run", "-s", "seed=abc"], ["--set 'seed=abc'", "seed:", "'abc'"]),
    "set disciplines empty": (
        {},
        ["disciplines", "-s", "disciplines=[]"],
        ["--set 'disciplines=[]'", "empty list"],
    ),
    "set beats the file": (
        {"c.yaml": "subjects:\n  samples: 3\n"},
        ["run", "-c", "{d}/c.yaml", "-s", "subjects.samples=0"],
        ["--set 'subjects.samples=0'", "(got 0)"],
    ),
    "set unknown price field": (
        {},
        ["run", "-s", "prices.m={{input: 1, output: 2, inptu: 3}}"],
        ["prices.m.inptu: unknown setting"],
    ),
    # the taxonomy
    "taxonomy missing": (
        {"c.yaml": "taxonomy: buitin\n"},
        STEP,
        ["taxonomy: no file {d}/buitin (give 'builtin', 'generate' or a taxonomy YAML file)"],
    ),
    "taxonomy empty name": ({"c.yaml": "seed: 1\ntaxonomy: ''\n"}, STEP, ["c.yaml:2: taxonomy: empty"]),
    "run_dir empty": ({"c.yaml": "run_dir:\n"}, STEP, ["c.yaml:1: run_dir: empty"]),
    "post typo": (
        {"c.yaml": "seed: 1\npost:\n  dedup:\n    nera: true\n"},
        RUN,
        ["c.yaml:4: post.dedup.nera: unknown setting (did you mean 'near'?)"],
    ),
    "post bad value": (
        {"c.yaml": "post:\n  dedup:\n    rouge_l_threshold: 5\n"},
        RUN,
        ["c.yaml:3: post.dedup.rouge_l_threshold", "(got 5)"],
    ),
    "set post typo": (
        {},
        ["run", "-s", "post.dedup.nera=1"],
        ["--set 'post.dedup.nera=1'", "unknown setting"],
    ),
    "taxonomy is a folder": (
        {"c.yaml": "taxonomy: t\n", "t/x": ""},
        STEP,
        ["cannot read taxonomy file", "/t:"],
    ),
    "taxonomy empty": ({"c.yaml": "taxonomy: t.yaml\n", "t.yaml": ""}, STEP, ["t.yaml:1: empty taxonomy"]),
    "taxonomy not UTF-8": (
        {"c.yaml": "taxonomy: t.yaml\n", "t.yaml": b"A:\n  S:\n    - \xe9\n"},
        STEP,
        ["t.yaml:3: not UTF-8"],
    ),
    "taxonomy YAML syntax": (
        {"c.yaml": "taxonomy: t.yaml\n", "t.yaml": "A:\n  S: [x\n"},
        STEP,
        ["t.yaml:2: YAML syntax error"],
    ),
    "taxonomy duplicate field": (
        {"c.yaml": "taxonomy: t.yaml\n", "t.yaml": TAX + "A:\n  T:\n    - y\n"},
        STEP,
        ["t.yaml:4: duplicate field 'A' (first at line 1)"],
    ),
    "taxonomy duplicate sub-field": (
        {"c.yaml": "taxonomy: t.yaml\n", "t.yaml": TAX + "  S:\n    - y\n"},
        STEP,
        ["t.yaml:4: duplicate sub-field 'S' (first at line 2)"],
    ),
    "taxonomy markup name": (
        {"c.yaml": "taxonomy: t.yaml\n", "t.yaml": "A:\n  S:\n    - '[bold]x'\n    - '[bold]X'\n"},
        STEP,
        ["t.yaml:4: discipline '[bold]X' repeated"],
    ),
    "unknown discipline": (
        {},
        ["disciplines", "-s", "disciplines=[Phyiscs]"],
        ["disciplines: 'Phyiscs' is not in the taxonomy (did you mean 'Physics'?)"],
    ),
    "discipline [/]": (
        {"c.yaml": 'disciplines: ["[/]"]\n'},
        STEP,
        ["disciplines: '[/]' is not in the taxonomy"],
    ),
    "discipline [bold]x": (
        {"c.yaml": 'disciplines: ["[bold]x"]\n'},
        STEP,
        ["disciplines: '[bold]x' is not in the taxonomy"],
    ),
    # glan taxonomy -o
    "taxonomy -o missing folder": (
        {},
        ["taxonomy", "--builtin", "-o", "{d}/missing/t.yaml"],
        ["folder {d}/missing does not exist"],
    ),
    "taxonomy -o a folder": (
        {"out/x": ""},
        ["taxonomy", "--builtin", "-o", "{d}/out"],
        ["-o {d}/out: is a folder"],
    ),
    "taxonomy -o below a file": (
        {"f": "keep"},
        ["taxonomy", "--builtin", "-o", "{d}/f/t.yaml"],
        ["folder {d}/f is not a folder"],
    ),
    "taxonomy -o exists": (
        {"t.yaml": "keep"},
        ["taxonomy", "--builtin", "-o", "{d}/t.yaml"],
        ["t.yaml exists", "--force"],
    ),
    "taxonomy -o bad config": (
        {"c.yaml": "seed: [\n"},
        ["taxonomy", "-c", "{d}/c.yaml", "-o", "{d}/t.yaml"],
        ["c.yaml:1: YAML syntax error"],
    ),
}


def _files(root: Path) -> dict[Path, bytes]:
    """Every file under root but the run dir's lock (held by the failed command, harmless)."""
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and p.name != ".lock"}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    files, argv, needles = CASES[case]
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = _files(tmp_path)
    args = [a.format(d=tmp_path) for a in argv]
    if args[0] != "taxonomy":
        args += ["--run-dir", str(tmp_path / "run"), "-q"]
    r = runner.invoke(app, args)
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    for needle in needles:
        assert needle.format(d=tmp_path) in lines[0], r.output
    assert _files(tmp_path) == before  # nothing written


def test_corpus_size() -> None:
    assert len(CASES) >= 50


def test_taxonomy_out_is_written_whole_and_markup_is_shown_verbatim(tmp_path: Path) -> None:
    out = tmp_path / "[red]" / "[bold]x.yaml"
    out.parent.mkdir()
    r = runner.invoke(app, ["taxonomy", "--builtin", "-o", str(out)])
    assert r.exit_code == 0 and f"to {out}" in r.output, r.output
    assert "Physics" in out.read_text() and [p.name for p in out.parent.iterdir()] == [out.name]


def test_selected_markup_names_run(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text("A:\n  S:\n    - '[/]'\n    - '[bold]x'\n    - y\n")
    (tmp_path / "c.yaml").write_text("taxonomy: t.yaml\ndisciplines: ['[/]', '[bold]x']\n")
    r = runner.invoke(
        app, ["disciplines", "-c", str(tmp_path / "c.yaml"), "--run-dir", str(tmp_path / "r"), "-q"]
    )
    assert r.exit_code == 0, r.output
    assert "[bold]x" in step_bytes(tmp_path / "r", "disciplines").decode()


def test_disciplines_may_be_one_name(tmp_path: Path) -> None:
    r = runner.invoke(app, ["disciplines", "-s", "disciplines=Physics", "--run-dir", str(tmp_path), "-q"])
    assert r.exit_code == 0, r.output
    assert step_bytes(tmp_path, "disciplines").decode().count("\n") == 1


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"a: 1\nb: 2\na: 3\n", "y.yaml:3: duplicate key 'a' (first at line 1)"),
        (b"x:\n  - {k: 1, k: 2}\n", "y.yaml:2: duplicate key 'k' (first at line 2)"),
        (b"a: 1\n\xff\n", "y.yaml:2: not UTF-8 text"),
        (b"a: [1\n", "y.yaml:1: YAML syntax error"),
        (b"a: !!python/name:os.system\n", "y.yaml:1: YAML error: could not determine a constructor"),
    ],
)
def test_load_yaml_errors_name_file_and_line(tmp_path: Path, content: bytes, needle: str) -> None:
    (tmp_path / "y.yaml").write_bytes(content)
    with pytest.raises(ConfigError) as e:
        load_yaml(tmp_path / "y.yaml")
    assert str(e.value).startswith(f"{tmp_path}/{needle}")
    assert "\n" not in str(e.value)


def test_load_yaml_reads_files(tmp_path: Path) -> None:
    f = tmp_path / "y.yaml"
    f.write_bytes(b"\xef\xbb\xbfbase: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n")  # BOM, a merge
    assert load_yaml(f) == {"base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 3}}
    f.write_text("")
    assert load_yaml(f) is None
    for bad in (tmp_path / "nope.yaml", tmp_path):
        with pytest.raises(ConfigError, match="cannot read YAML file"):
            load_yaml(bad)


def test_markup_in_model_names_and_server_errors_is_shown_verbatim(tmp_path: Path) -> None:
    model = "llm.model='[bold]m[/]'"
    r = runner.invoke(
        app, ["estimate", "-s", model, "-s", "disciplines=[Physics]", "--run-dir", str(tmp_path)]
    )
    assert r.exit_code == 0 and "[bold]m[/]" in r.output, r.output
    results = tmp_path / "out.jsonl"
    results.write_text(json.dumps({"custom_id": "0" * 64, "error": {"message": "[bold]no[/] [/]"}}) + "\n")
    r = runner.invoke(app, ["batch", "import", str(results), "--run-dir", str(tmp_path)])
    assert r.exit_code == 0 and "1 failed: [bold]no[/] [/]" in r.output, r.output
