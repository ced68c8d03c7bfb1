"""Pairs of any method through clean and export: a GLAN pair, a bare instruction/response pair
(Self-Instruct has no syllabus) and a multi-turn conversation (`messages`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import typer
from conftest import make_pairs, pseudo_words, read_jsonl, write_jsonl
from typer.testing import CliRunner

from glan.cli.clean import register
from glan.errors import ConfigError
from glan.post.config import PostConfig
from glan.post.io import read_pairs
from glan.post.pipeline import clean_and_export

CFG = PostConfig.model_validate({"decontam": {"builtin": []}, "export": {"hf_dataset": "no"}})


def _bare(n: int, seed: int = 1) -> list[dict[str, Any]]:
    """Self-Instruct-like pairs: an instruction, a response and a method, nothing else."""
    words = pseudo_words(16 * n, seed)
    return [
        {
            "instruction": "Write about " + " ".join(words[16 * i : 16 * i + 8]) + ".",
            "response": " ".join(words[16 * i + 8 : 16 * i + 16]).capitalize() + ".",
            "method": "self_instruct",
        }
        for i in range(n)
    ]


def _chat(i: int, words: list[str]) -> dict[str, Any]:
    w = [" ".join(words[32 * i + 8 * k : 32 * i + 8 * k + 8]) for k in range(4)]
    return {
        "id": f"chat{i}",
        "method": "multi_turn",
        "messages": [
            {"role": "system", "content": "You are a patient tutor."},
            {"role": "user", "content": f"Explain {w[0]}?"},
            {"role": "assistant", "content": f"It is {w[1]}."},
            {"role": "user", "content": f"And {w[2]}?"},
            {"role": "assistant", "content": f"Then {w[3]}."},
        ],
    }


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    words = pseudo_words(200, 2)
    rows = make_pairs(6) + _bare(6) + [_chat(i, words) for i in range(4)]
    return write_jsonl(tmp_path / "mixed.jsonl", rows)


def test_read_pairs_takes_the_last_exchange_of_a_conversation(mixed: Path):
    recs = {r["id"]: r for r in read_pairs(mixed)}
    chat = recs["chat0"]
    assert chat["instruction"] == chat["messages"][3]["content"]
    assert chat["response"] == chat["messages"][4]["content"]
    assert all(set(t) == {"role", "content"} for t in chat["messages"])
    bare = next(r for r in recs.values() if r.get("method") == "self_instruct")
    assert "messages" not in bare and "discipline" not in bare


def test_clean_and_export_of_mixed_methods(mixed: Path, tmp_path: Path):
    out = tmp_path / "out"
    rep = clean_and_export(mixed, out, CFG)
    assert rep["clean"]["read"] == 16 and rep["clean"]["kept"] == 16, rep["clean"]["removed"]
    kept = {r["id"]: r for r in read_jsonl(out / "clean.jsonl")}
    assert len(kept["chat1"]["messages"]) == 5  # clean.jsonl keeps the whole conversation

    msgs = {r["id"]: r["messages"] for r in read_jsonl(out / "messages" / "train.jsonl")}
    assert [t["role"] for t in msgs["chat2"]] == ["system", "user", "assistant", "user", "assistant"]
    assert msgs["chat2"][1:] == kept["chat2"]["messages"][1:]
    assert [t["role"] for t in msgs["p000001"]] == ["user", "assistant"]

    share = {r["id"]: r["conversations"] for r in read_jsonl(out / "sharegpt" / "train.jsonl")}
    assert [c["from"] for c in share["chat3"]] == ["system", "human", "gpt", "human", "gpt"]

    alpaca = {r["id"]: r for r in read_jsonl(out / "alpaca" / "train.jsonl")}
    chat = kept["chat0"]["messages"]
    assert alpaca["chat0"]["instruction"] == chat[3]["content"]
    assert alpaca["chat0"]["output"] == chat[4]["content"]
    assert alpaca["chat0"]["history"] == [[chat[1]["content"], chat[2]["content"]]]
    assert alpaca["chat0"]["system"] == "You are a patient tutor."
    assert "history" not in alpaca["p000002"] and "system" not in alpaca["p000002"]
    table = pq.read_table(out / "alpaca" / "train.parquet").to_pylist()
    by_id = {r["id"]: r for r in table}
    assert by_id["chat0"]["history"] == alpaca["chat0"]["history"] and by_id["p000002"]["history"] is None

    bare = next(r for r in alpaca.values() if not r["id"].startswith(("p0", "chat")))
    assert bare["discipline"] is None and bare["input"] == ""

    card = (out / "README.md").read_text()
    assert "| self_instruct | 6 |" in card and "| multi_turn | 4 |" in card
    assert "## Conversations" in card and "| 2 | 4 |" in card
    assert rep["export"]["stats"]["methods"]["(unknown)"] == 6


def test_a_system_prompt_opens_only_conversations_without_one(mixed: Path, tmp_path: Path):
    cfg = CFG.model_copy(update={"export": CFG.export.model_copy(update={"system_prompt": "Be brief."})})
    clean_and_export(mixed, tmp_path / "out", cfg)
    msgs = {r["id"]: r["messages"] for r in read_jsonl(tmp_path / "out" / "messages" / "train.jsonl")}
    assert msgs["chat0"][0]["content"] == "You are a patient tutor."
    assert msgs["p000000"][0] == {"role": "system", "content": "Be brief."}


def test_pairs_without_a_taxonomy_have_no_taxonomy_tables(tmp_path: Path):
    src = write_jsonl(tmp_path / "si.jsonl", _bare(8))
    clean_and_export(src, tmp_path / "out", CFG)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Pairs per discipline" not in card and "(none)" not in card
    assert "| self_instruct | 8 |" in card


@pytest.mark.parametrize(
    ("split", "note"),
    [
        (["--split", "subject"], "split by subject: no pair has a subject; those were held out pair by pair"),
        (["--test-per-discipline", "2"], "split by discipline: no pair has a discipline"),
    ],
)
def test_a_split_by_a_field_no_pair_has_says_how_it_split(tmp_path: Path, split: list[str], note: str):
    app = typer.Typer()
    register(app)
    src = write_jsonl(tmp_path / "si.jsonl", _bare(40))
    r = CliRunner().invoke(app, ["export", str(src), "-o", str(tmp_path / "o"), "--hf", "no", *split])
    assert r.exit_code == 0, r.output
    assert note in r.output
    n_test = len(read_jsonl(tmp_path / "o" / "messages" / "test.jsonl"))
    assert n_test == 2 if "--test-per-discipline" in split else 0 < n_test < 40


def test_a_split_by_subject_of_glan_pairs_says_nothing(tmp_path: Path):
    app = typer.Typer()
    register(app)
    src = write_jsonl(tmp_path / "p.jsonl", make_pairs(20))
    r = CliRunner().invoke(
        app, ["export", str(src), "-o", str(tmp_path / "o"), "--hf", "no", "--split", "subject"]
    )
    assert r.exit_code == 0 and "split by" not in r.output, r.output


@pytest.mark.parametrize(
    ("messages", "expect"),
    [
        ("hello", "field 'messages' must be a non-empty list"),
        ([], "field 'messages' must be a non-empty list"),
        ([{"role": "bot", "content": "x"}], "turn 1: expected {role: system|user|assistant"),
        ([{"role": "user", "content": 3}], "turn 1: expected {role: system|user|assistant"),
        ([{"role": "user", "content": "q"}], "must end with an assistant turn"),
        ([{"role": "assistant", "content": "a"}], "must end with an assistant turn after a user turn"),
    ],
)
def test_a_bad_conversation_is_one_line_naming_the_row(tmp_path: Path, messages: Any, expect: str):
    src = write_jsonl(tmp_path / "c.jsonl", [_bare(1)[0], {"messages": messages}])
    with pytest.raises(ConfigError, match=r"c\.jsonl:2: ") as e:
        list(read_pairs(src))
    assert expect in str(e.value)
