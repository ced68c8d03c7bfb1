"""A step that removes an unusual share of what it read says so loudly, with the pattern, and
`--dedup-on instruction+response` keeps templated instructions that have different answers."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer
from conftest import make_pairs, pseudo_words, read_jsonl, write_jsonl
from typer.testing import CliRunner

from glan.cli.clean import register


def templated(tmp_path: Path, n: int = 200) -> Path:
    names = pseudo_words(n, seed=7)
    rows = [
        {
            "id": f"t{i}",
            "instruction": f"Explain what `{names[i]}` does and when to use it.",
            "response": p["response"],
        }
        for i, p in enumerate(make_pairs(n))
    ]
    return write_jsonl(tmp_path / "user.jsonl", rows)


def run(tmp_path: Path, *extra: str) -> tuple[str, dict]:
    app = typer.Typer()
    register(app)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["clean", str(templated(tmp_path)), "-o", str(out), "--no-decontam", *extra])
    assert r.exit_code == 0, r.output
    return r.output, orjson.loads((out / "report.json").read_bytes())["clean"]


def test_template_near_duplicates_warn_with_the_pattern_and_the_fix(tmp_path: Path):
    said, rep = run(tmp_path)
    assert rep["kept"] < 20  # instructions alone: nearly all of them look alike
    assert f"warning: near_dedup removed {rep['removed_total']:,} of the 200 pairs it read" in said
    assert '"Explain what … when to use it."' in said and "e.g. 'Explain what `" in said
    assert "--dedup-on instruction+response" in said
    (w,) = rep["warnings"]
    assert w["step"] == "near_dedup" and w["read"] == 200 and w["share"] > 0.9
    assert w["top_reasons"] == {"near duplicate": w["removed"]}
    assert w["top_shapes"] == {"Explain what … when to use it.": w["removed"]}
    assert len(w["examples"]) == 3 and "--dedup-on instruction+response" in w["hint"]


def test_dedup_on_instruction_and_response_keeps_different_answers(tmp_path: Path):
    said, rep = run(tmp_path, "--dedup-on", "instruction+response")
    assert rep["kept"] == 200 and rep["warnings"] == [] and "warning" not in said
    assert len(read_jsonl(tmp_path / "out" / "clean.jsonl")) == 200


def test_a_normal_share_gives_no_warning(tmp_path: Path):
    rows = make_pairs(100)
    rows += [dict(r, id=f"copy{i}") for i, r in enumerate(rows[:10])]  # 9 % duplicates
    app = typer.Typer()
    register(app)
    src = write_jsonl(tmp_path / "p.jsonl", rows)
    r = CliRunner().invoke(app, ["clean", str(src), "-o", str(tmp_path / "o"), "--no-decontam"])
    assert r.exit_code == 0 and "warning" not in r.output and "exact duplicate" in r.output
