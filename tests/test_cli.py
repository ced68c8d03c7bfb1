from pathlib import Path

from typer.testing import CliRunner

from glan.cli import app

runner = CliRunner()


def test_help_explains_itself() -> None:
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for cmd in ("run", "taxonomy", "subjects", "syllabi", "questions", "answers", "models"):
        assert cmd in r.output


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("subjects: {samples: -1}\n")
    r = runner.invoke(app, ["run", "-c", str(f), "-q"])
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    assert "subjects.samples" in r.output


def test_bad_taxonomy_names_the_line(tmp_path: Path) -> None:
    tax = tmp_path / "t.yaml"
    tax.write_text("Sciences:\n  Physical:\n    - Physics\n    - 42\n")
    f = tmp_path / "c.yaml"
    f.write_text(f"taxonomy: t.yaml\nrun_dir: {tmp_path / 'run'}\n")
    r = runner.invoke(app, ["disciplines", "-c", str(f), "-q"])
    assert r.exit_code == 2 and "t.yaml:4" in r.output, r.output


def test_step_without_its_input_says_which_step_to_run(tmp_path: Path) -> None:
    r = runner.invoke(app, ["syllabi", "--run-dir", str(tmp_path), "-q"])
    assert r.exit_code == 2 and "subjects.jsonl: not found" in r.output


def test_builtin_taxonomy_export_and_no_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "tax.yaml"
    r = runner.invoke(app, ["taxonomy", "--builtin", "-o", str(out)])
    assert r.exit_code == 0 and "Physics" in out.read_text()
    before = out.read_text()
    r = runner.invoke(app, ["taxonomy", "--builtin", "-o", str(out)])
    assert r.exit_code == 2 and "--force" in r.output and out.read_text() == before


def test_unknown_discipline_is_reported(tmp_path: Path) -> None:
    r = runner.invoke(app, ["disciplines", "--run-dir", str(tmp_path), "-s", "disciplines=[Phyiscs]", "-q"])
    assert r.exit_code == 2 and "Physics" in r.output
