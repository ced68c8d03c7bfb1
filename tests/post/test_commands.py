from pathlib import Path

import pytest
import typer
from conftest import make_pairs, read_jsonl, write_jsonl
from typer.testing import CliRunner

from glan.cli.clean import register


@pytest.fixture()
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_help_lists_both_commands(app):
    r = CliRunner().invoke(app, ["--help"])
    assert r.exit_code == 0 and "clean" in r.output and "export" in r.output
    r = CliRunner().invoke(app, ["clean", "--help"], env={"COLUMNS": "200"})
    assert "--instruction-field" in r.output and "--benchmark-file" in r.output and "--dedup-on" in r.output
    assert "(default: 0.7)" in r.output


def test_clean_then_export(app, tmp_path: Path):
    rows = [
        {"prompt": r["instruction"], "answer": r["response"], "discipline": r["discipline"]}
        for r in make_pairs(60)
    ]
    rows.append(dict(rows[0]))
    src = write_jsonl(tmp_path / "user.jsonl", rows)
    out = tmp_path / "out"
    r = CliRunner().invoke(
        app,
        [
            "clean",
            str(src),
            "-o",
            str(out),
            "--instruction-field",
            "prompt",
            "--response-field",
            "answer",
            "--benchmark",
            "humaneval",
            "--no-near-dup",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "read 61" in r.output and "exact duplicate" in r.output
    assert len(read_jsonl(out / "clean.jsonl")) == 60
    r = CliRunner().invoke(
        app,
        [
            "export",
            str(out / "clean.jsonl"),
            "-o",
            str(tmp_path / "exp"),
            "-f",
            "alpaca",
            "--file-type",
            "jsonl",
            "--hf",
            "no",
            "--test-per-discipline",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    assert len(read_jsonl(tmp_path / "exp" / "alpaca" / "test.jsonl")) == 8
    assert (tmp_path / "exp" / "README.md").exists()


def test_user_mistakes_raise_config_error(app, tmp_path: Path):
    r = CliRunner().invoke(app, ["clean", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path)])
    assert r.exit_code == 2 and "not found" in r.output
    src = write_jsonl(tmp_path / "p.jsonl", [{"q": "x", "a": "y"}])
    r = CliRunner().invoke(app, ["clean", str(src), "-o", str(tmp_path / "o"), "--no-decontam"])
    assert r.exit_code == 2 and "p.jsonl:1: no field 'instruction'" in r.output
    r = CliRunner().invoke(app, ["clean", str(src), "-o", str(tmp_path / "o"), "--rouge-l", "2"])
    assert r.exit_code == 2 and "rouge_l_threshold" in r.output
    r = CliRunner().invoke(app, ["clean", str(src), "-o", str(tmp_path / "o"), "--benchmark-file", "x.csv"])
    assert r.exit_code == 2 and "PATH:FIELD" in r.output


def test_config_file_with_post_key(app, tmp_path: Path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "model: whatever\npost:\n  decontam:\n    enabled: false\n  export:\n    formats: [sharegpt]\n"
    )
    src = write_jsonl(tmp_path / "p.jsonl", make_pairs(10))
    r = CliRunner().invoke(app, ["clean", str(src), "-o", str(tmp_path / "o"), "-c", str(cfg), "--export"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "sharegpt" / "train.jsonl").exists()
    assert not (tmp_path / "o" / "messages").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("post:\n  dedup:\n    shingles: 3\n")
    r = CliRunner().invoke(app, ["clean", str(src), "-o", str(tmp_path / "o"), "-c", str(bad)])
    assert r.exit_code == 2 and "dedup.shingles" in r.output


def test_a_clean_that_keeps_nothing_exits_1(app, tmp_path: Path):
    rows = [{"instruction": "Say something useful please", "response": ""} for _ in range(3)]
    src = write_jsonl(tmp_path / "p.jsonl", rows)
    r = CliRunner().invoke(app, ["clean", str(src), "-o", str(tmp_path / "o"), "--no-decontam"])
    assert r.exit_code == 1, r.output
    assert "all 3 pairs were removed" in r.output and "Traceback" not in r.output
    assert len(read_jsonl(tmp_path / "o" / "removed.jsonl")) == 3  # written: the reasons are there
