"""Nothing lost: every output of one clean/export invocation replaces the previous ones together,
or not at all, and the files of one output directory describe one input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import typer
from conftest import make_pairs, read_jsonl, snapshot, write_jsonl
from typer.testing import CliRunner

from glan.atomic import JsonlWriter
from glan.post.config import PostConfig
from glan.post.outdir import OutputDir
from glan.post.pipeline import clean, export

CFG = PostConfig.model_validate({"decontam": {"enabled": False}, "export": {"hf_dataset": "no"}})


@pytest.fixture()
def app() -> typer.Typer:
    from glan.cli.clean import register

    app = typer.Typer()
    register(app)
    return app


def invoke(app: typer.Typer, *args: str | Path) -> str:
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def report(out: Path) -> dict:
    return orjson.loads((out / "report.json").read_bytes())


def test_cleaning_the_output_into_itself_is_refused(app, tmp_path: Path):
    src = write_jsonl(tmp_path / "a.jsonl", make_pairs(50))
    out = tmp_path / "out"
    invoke(app, "clean", src, "-o", out, "--no-decontam")
    before = snapshot(out)
    assert len(read_jsonl(out / "clean.jsonl")) == 50
    r = CliRunner().invoke(app, ["clean", str(out / "clean.jsonl"), "-o", str(out), "--no-decontam"])
    assert r.exit_code == 2 and "would be replaced by its output" in r.output
    # the same file through another spelling of its path (a symlink, `..`)
    (tmp_path / "link").symlink_to(out)
    for alias in (tmp_path / "link" / "clean.jsonl", out / ".." / "out" / "clean.jsonl"):
        r = CliRunner().invoke(app, ["clean", str(alias), "-o", str(out), "--no-decontam"])
        assert r.exit_code == 2 and "would be replaced" in r.output, r.output
    assert snapshot(out) == before


def test_a_mistyped_input_keeps_the_previous_outputs(app, tmp_path: Path):
    src = write_jsonl(tmp_path / "a.jsonl", make_pairs(30))
    out = tmp_path / "out"
    invoke(app, "clean", src, "-o", out, "--no-decontam", "--export")
    before = snapshot(out)
    r = CliRunner().invoke(app, ["clean", str(tmp_path / "a.jsnl"), "-o", str(out), "--no-decontam"])
    assert r.exit_code == 2 and "not found" in r.output
    r = CliRunner().invoke(app, ["export", str(tmp_path / "a.jsnl"), "-o", str(out)])
    assert r.exit_code == 2
    assert snapshot(out) == before


def test_failure_midway_leaves_no_litter_and_creates_no_folder(tmp_path: Path):
    rows = make_pairs(600)
    src = write_jsonl(tmp_path / "a.jsonl", rows)
    bad = write_jsonl(tmp_path / "bad.jsonl", rows[:499])
    with bad.open("ab") as fh:
        fh.write(b'{"instruction": 5, "response": "x"}\n')
    out = tmp_path / "out"
    clean(src, out, CFG)
    export(out / "clean.jsonl", out, CFG)
    before = snapshot(out)
    from glan.errors import ConfigError

    with pytest.raises(ConfigError, match=r"bad.jsonl:500: field 'instruction' is int"):
        clean(bad, out, CFG)
    with pytest.raises(ConfigError, match=r"bad.jsonl:500:"):
        export(bad, out, CFG)
    assert snapshot(out) == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    fresh = tmp_path / "new" / "deeper"
    with pytest.raises(ConfigError):
        clean(bad, fresh, CFG)
    assert not (tmp_path / "new").exists()


def test_export_of_a_shorter_file_replaces_card_and_report_with_the_files(tmp_path: Path):
    src = write_jsonl(tmp_path / "a.jsonl", make_pairs(80))
    out = tmp_path / "out"
    export(src, out, CFG)
    assert "**80 pairs**" in (out / "README.md").read_text()
    short = write_jsonl(tmp_path / "short.jsonl", make_pairs(80)[:30])
    export(short, out, CFG)
    assert len(read_jsonl(out / "messages" / "train.jsonl")) == 30
    assert "**30 pairs**" in (out / "README.md").read_text()
    assert report(out)["export"]["exported"] == 30 and report(out)["export"]["input"] == str(short)


def test_outputs_a_new_export_does_not_write_are_removed(app, tmp_path: Path):
    src = write_jsonl(tmp_path / "a.jsonl", make_pairs(40))
    out = tmp_path / "out"
    (out).mkdir()
    (out / "notes.txt").write_text("mine")  # not glan's: never touched
    invoke(app, "clean", src, "-o", out, "--no-decontam")
    invoke(app, "export", out / "clean.jsonl", "-o", out, "--hf", "no")
    assert {"messages", "sharegpt", "alpaca", "README.md", "clean.jsonl", "removed.jsonl"} <= {
        p.name for p in out.iterdir()
    }
    # exporting the folder's own clean.jsonl keeps it, and the card says what clean removed
    assert report(out)["clean"]["read"] == 40
    invoke(app, "export", out / "clean.jsonl", "-o", out, "--hf", "no", "-f", "alpaca")
    names = {p.name for p in out.iterdir()}
    assert "messages" not in names and "sharegpt" not in names and "alpaca" in names
    assert "clean.jsonl" in names and "removed.jsonl" in names
    # a clean of other data replaces clean.jsonl and removes the export made from the old one
    other = write_jsonl(tmp_path / "b.jsonl", make_pairs(20, seed=3))
    said = invoke(app, "clean", other, "-o", out, "--no-decontam")
    assert "removed README.md, alpaca from" in said
    assert sorted(p.name for p in out.iterdir()) == [
        "clean.jsonl",
        "notes.txt",
        "removed.jsonl",
        "report.json",
    ]
    assert report(out)["outputs"] == ["clean.jsonl", "removed.jsonl", "report.json"]
    assert (out / "notes.txt").read_text() == "mine"


def test_clean_report_reaches_the_card_of_a_separate_export(app, tmp_path: Path):
    rows = make_pairs(40)
    rows.append(dict(rows[3], id="copy"))
    src = write_jsonl(tmp_path / "a.jsonl", rows)
    invoke(app, "clean", src, "-o", tmp_path / "c", "--no-decontam")
    invoke(app, "export", tmp_path / "c" / "clean.jsonl", "-o", tmp_path / "e", "--hf", "no")
    card = (tmp_path / "e" / "README.md").read_text()
    assert "from 41 read" in card and "| exact_dedup | exact duplicate | 1 |" in card
    # an edited clean.jsonl no longer matches its report: the card does not claim it
    write_jsonl(tmp_path / "c" / "clean.jsonl", rows[:10])
    invoke(app, "export", tmp_path / "c" / "clean.jsonl", "-o", tmp_path / "e", "--hf", "no")
    card = (tmp_path / "e" / "README.md").read_text()
    assert "read" not in card.split("## Splits")[0] and report(tmp_path / "e")["clean"] == {}


def test_a_staging_folder_of_a_killed_process_is_removed(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (out / f".glan-staging-{dead.stdout.strip()}-abcd").mkdir()
    (out / f".glan-staging-{dead.stdout.strip()}-abcd" / "clean.jsonl").write_text("half")
    live = out / f".glan-staging-{os.getpid()}-beef"  # a concurrent invocation: left alone
    live.mkdir()
    clean(write_jsonl(tmp_path / "a.jsonl", make_pairs(10)), out, CFG)
    assert sorted(p.name for p in out.iterdir()) == [live.name, "clean.jsonl", "removed.jsonl", "report.json"]


def test_output_dir_commits_all_or_nothing(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text('{"clean": {}, "outputs": ["report.json", "old.jsonl"]}')
    (out / "old.jsonl").write_text("old")
    with pytest.raises(RuntimeError), OutputDir(out, []) as stage:
        (stage / "new.jsonl").write_text("new")
        raise RuntimeError("midway")
    assert sorted(p.name for p in out.iterdir()) == ["old.jsonl", "report.json"]
    od = OutputDir(out, [])
    with od as stage:
        (stage / "new.jsonl").write_text("new")
        (stage / "report.json").write_text(orjson.dumps({"clean": {}, "outputs": od.names()}).decode())
    assert sorted(p.name for p in out.iterdir()) == ["new.jsonl", "report.json"] and od.stale == ["old.jsonl"]


def test_jsonl_writer_is_atomic(tmp_path: Path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"old": 1}\n')
    with pytest.raises(RuntimeError), JsonlWriter(p) as w:
        w.write({"new": 1, "_cache": [1]})
        raise RuntimeError
    assert p.read_text() == '{"old": 1}\n' and sorted(q.name for q in tmp_path.iterdir()) == ["x.jsonl"]
    with JsonlWriter(p) as w:
        w.write({"new": 1, "_cache": [1]})
        assert p.read_text() == '{"old": 1}\n'  # not visible before the commit
    assert read_jsonl(p) == [{"new": 1}] and w.count == 1
