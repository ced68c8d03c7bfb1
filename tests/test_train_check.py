"""`glan train-check` in the core install (no torch, no TRL): each row of the export is checked
first, a bad one is one line naming FILE:LINE, and a missing training stack is one line naming
the extra. The fine-tune itself is tested in suites/train (its own venv)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from glan.errors import ConfigError
from glan.train.data import messages_file, prompt_completion, read_conversations

U = {"role": "user", "content": "What is 2 + 2?"}
A = {"role": "assistant", "content": "4."}
S = {"role": "system", "content": "Be brief."}


def write_rows(path: Path, *rows: object) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"conversations": []}, "no `messages` field"),
        ({"messages": []}, "non-empty list"),
        ({"messages": "hi"}, "non-empty list"),
        ({"messages": [U, {"role": "bot", "content": "4."}]}, "role 'bot' is not one of"),
        ({"messages": [U, {"content": "4."}]}, "role None"),
        ({"messages": [U]}, "no assistant turn"),
        ({"messages": [U, {"role": "assistant", "content": "  "}]}, "messages[1] (assistant): empty content"),
        ({"messages": [{"role": "user", "content": 4}, A]}, "messages[0] (user): empty content"),
        ({"messages": [U, S, A]}, "system message must come first"),
        ({"messages": [A, U, A]}, "starts with 'assistant'"),
        ({"messages": [U, A, U]}, "the last turn is 'user'"),
        ([U, A], "expected a JSON object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_a_bad_row_is_one_line_naming_file_and_line(tmp_path: Path, row: object, problem: str) -> None:
    path = write_rows(tmp_path / "m.jsonl", {"messages": [U, A]}, {"messages": [S, U, A]}, row)
    with pytest.raises(ConfigError) as e:
        read_conversations(path)
    assert str(e.value).startswith(f"{path}:3: ") and problem in str(e.value)
    assert "\n" not in str(e.value)


def test_good_rows_become_one_prompt_completion_row_per_assistant_turn(tmp_path: Path) -> None:
    two = [S, U, A, {"role": "user", "content": "And 3 + 3?"}, {"role": "assistant", "content": "6."}]
    path = write_rows(tmp_path / "m.jsonl", {"messages": [U, A], "id": "x"}, "", {"messages": two})
    convs, total = read_conversations(path)
    assert (convs, total) == ([[U, A], two], 2)  # extra fields dropped, blank lines skipped
    assert read_conversations(path, keep=1) == ([[U, A]], 2)  # every row read, the first kept
    assert prompt_completion(convs) == [
        {"prompt": [U], "completion": [A]},
        {"prompt": [S, U], "completion": [A]},
        {"prompt": two[:4], "completion": [two[4]]},
    ]


def test_an_export_folder_or_its_file(tmp_path: Path) -> None:
    (tmp_path / "out" / "messages").mkdir(parents=True)
    f = write_rows(tmp_path / "out" / "messages" / "train.jsonl")
    assert messages_file(tmp_path / "out") == f and messages_file(f) == f
    for bad, problem in [(tmp_path, "without messages/train.jsonl"), (tmp_path / "no.jsonl", "no such file")]:
        with pytest.raises(ConfigError, match=problem):
            messages_file(bad)
    with pytest.raises(ConfigError, match="no rows"):
        read_conversations(f)
    with pytest.raises(ConfigError, match="expected a JSONL file"):
        messages_file(write_rows(tmp_path / "m.parquet"))


def _glan(*args: str, hide: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """`glan ARGS` in a fresh Python where the modules `hide` are absent (as without the extra)."""
    code = (
        "import sys\n"
        f"for m in {hide!r}: sys.modules[m] = None  # find_spec and import then fail as if uninstalled\n"
        "from glan.cli import main\n"
        f"sys.argv = ['glan', *{list(args)!r}]\n"
        "main()\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_without_the_training_stack_one_line_names_the_extra(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "m.jsonl", {"messages": [U, A]})
    proc = _glan("train-check", str(path), hide=("torch", "trl"))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "torch" in lines[0] and "pip install 'glan[train]'" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_malformed_data_fails_before_the_training_stack_is_needed(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "m.jsonl", {"messages": [U, A]}, {"messages": [U]})
    proc = _glan("train-check", str(path), hide=("torch", "trl"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {path}:2: no assistant turn: nothing to train on"


def test_an_out_folder_that_is_not_a_train_checks_is_refused(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "m.jsonl", {"messages": [U, A]})
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    proc = _glan("train-check", str(path), "--out", str(tmp_path / "mine"), hide=("torch", "trl"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: --out {tmp_path / 'mine'}: exists and is not a train check's output; choose another folder"
    )
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
