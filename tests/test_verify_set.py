"""The labelled verification set (benchmarks/verify_set.py): deterministic, every kind present,
correct responses state the key and wrong ones another answer, shown programs print what a
correct response shows and the key (not the made-up output) in a wrong one, pairs in glan's
InstructionPair shape."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.verify_set import KINDS, Item, make_set, write_pairs
from glan.records import InstructionPair
from glan.verify.final_answer import asks_short_answer, final_answer, same_answer

ROOT = Path(__file__).resolve().parents[1]
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
OUTPUT_BLOCK = re.compile(r"```output\n(.*?)```", re.S)


@pytest.fixture(scope="module")
def items() -> list[Item]:
    return make_set(90, seed=0)


def test_deterministic_for_a_seed() -> None:
    assert make_set(30, seed=7) == make_set(30, seed=7)
    assert make_set(30, seed=7) != make_set(30, seed=8)
    assert make_set(12, seed=7) == make_set(30, seed=7)[:12]  # a larger set extends a smaller one


def test_every_kind_in_equal_shares() -> None:
    counts = Counter(item.kind for item in make_set(40))
    assert set(counts) == set(KINDS) and len(KINDS) >= 9
    assert max(counts.values()) - min(counts.values()) <= 1


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_correct_responses_state_the_key_and_wrong_ones_do_not(seed: int) -> None:
    for item in make_set(180, seed):
        right, wrong = final_answer(item.correct), final_answer(item.wrong)
        assert right is not None and same_answer(right, item.key), (item.kind, right, item.key)
        assert wrong is not None and not same_answer(wrong, item.key), (item.kind, wrong, item.key)
        assert item.correct.rstrip().splitlines()[-1].startswith("Final answer: ")
        assert item.wrong_why


def test_questions_ask_a_short_answer_with_an_unambiguous_key(items: list[Item]) -> None:
    for item in items:
        assert asks_short_answer(item.question), item.question
        if item.kind == "multiple_choice":
            assert item.key in "ABCD"
            options = re.findall(r"^\(([A-D])\) (.+)$", item.question, re.M)
            assert [letter for letter, _ in options] == list("ABCD")
            texts = [text for _, text in options]
            assert all(not same_answer(a, b) for i, a in enumerate(texts) for b in texts[i + 1 :])
        else:
            assert "to 2 decimal places" in item.question
            assert re.fullmatch(r"\d+\.\d\d", item.key)


def _run(program: str, tmp_path: Path) -> str:
    path = tmp_path / "program.py"
    path.write_text(program, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout


def test_shown_programs_print_the_shown_output_or_the_key_when_it_is_made_up(
    items: list[Item], tmp_path: Path
) -> None:
    with_code = [item for item in items if item.shows_code]
    numeric = [item for item in items if item.kind != "multiple_choice"]
    assert len(with_code) == len(numeric) // 4  # 80 numeric items: 10 rounds of the 8 kinds
    assert {item.kind for item in with_code} == {item.kind for item in numeric}
    for item in items:
        if not item.shows_code:
            assert "```" not in item.correct + item.wrong
            continue
        (program,) = PYTHON_BLOCK.findall(item.correct)
        assert PYTHON_BLOCK.findall(item.wrong) == [program]  # the program is right in both
        printed = _run(program, tmp_path)
        (shown,) = OUTPUT_BLOCK.findall(item.correct)
        (made_up,) = OUTPUT_BLOCK.findall(item.wrong)
        assert printed == shown
        assert printed.strip() == item.key
        assert made_up.strip() != item.key
        assert same_answer(final_answer(item.wrong) or "", made_up.strip())  # follows the made-up output


def test_write_pairs(items: list[Item], tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    assert write_pairs(items[:10], path, "both") == 20
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len({line["id"] for line in lines}) == 20
    for line in lines:
        assert set(line) == {"id", "instruction", "response", "meta"}
        pair = InstructionPair.model_validate(line)
        item = items[line["meta"]["item"]]
        assert pair.instruction == item.question
        assert line["meta"]["key"] == item.key and line["meta"]["kind"] == item.kind
        label = line["meta"]["label"]
        assert pair.response == (item.correct if label == "correct" else item.wrong)
    assert [line["meta"]["label"] for line in lines[:2]] == ["correct", "wrong"]
    assert write_pairs(items[:10], path, "wrong") == 10
    labels = {json.loads(x)["meta"]["label"] for x in path.read_text(encoding="utf-8").splitlines()}
    assert labels == {"wrong"}
    with pytest.raises(ValueError, match="which"):
        write_pairs(items, path, "all")  # type: ignore[arg-type]


def test_the_script(tmp_path: Path) -> None:
    out = tmp_path / "set.jsonl"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "verify_set.py"), "--n", "9", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 18
    assert "18 pairs from 9 items" in done.stdout
