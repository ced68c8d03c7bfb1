from pathlib import Path

import click
import pytest
import typer
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
    assert r.exit_code == 2 and "subjects: not found" in r.output


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


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out: list[tuple[tuple[str, ...], click.Command]] = [(path, group)]
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            out += _commands(cmd, (*path, name))
        else:
            out.append(((*path, name), cmd))
    return out


COMMANDS = _commands(typer.main.get_command(app))  # type: ignore[arg-type]


@pytest.mark.parametrize(("path", "cmd"), COMMANDS, ids=[" ".join(p) or "glan" for p, _ in COMMANDS])
def test_help_keeps_sentences_whole_and_flags_as_flags(path: tuple[str, ...], cmd: click.Command) -> None:
    r = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "2000"})
    assert r.exit_code == 0, r.output
    assert "<bool>" not in r.output
    lines = [ln.strip(" │") for ln in r.output.splitlines()]
    for paragraph in (cmd.help or "").split("\n\n"):  # every paragraph on one line when wide
        assert " ".join(paragraph.split()) in lines, (paragraph, r.output)
    for sub in getattr(cmd, "commands", {}).values():  # the command list shows each on one line
        first = " ".join((sub.help or "").split("\n\n")[0].split())
        assert any(ln.endswith(first) for ln in lines), (first, r.output)


def test_flags_take_no_value() -> None:
    r = runner.invoke(app, ["taxonomy", "--help"], env={"COLUMNS": "200"})
    assert "--force " in r.output and "--force  <" not in r.output
