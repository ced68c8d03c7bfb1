"""glan report's figures (report.json): coverage over the taxonomy with the empty nodes,
the funnel with every loss's reason, cost per step and per kept pair, lengths, verdicts,
diversity on a bounded sample, several runs; bad input is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from glan.config import RunConfig, load_config
from glan.errors import ConfigError
from glan.report.collect import collect
from glan.report.pairs import MAX_SAMPLES, PairStats
from tests.fakes import FakeBackend
from tests.helpers import run


def glan_run(tmp_path: Path, name: str = "run", *sets: str) -> RunConfig:
    cfg = load_config(None, [f"run_dir={tmp_path / name}", "disciplines=[Physics, Chemistry]",
                             "subjects.samples=2", "syllabi.min_sessions=3", "syllabi.max_sessions=6",
                             "questions.per_syllabus=4", "critique.enabled=true", *sets])  # fmt: skip
    run(cfg, FakeBackend())
    return cfg


def test_the_figures_of_a_glan_run(tmp_path: Path) -> None:
    cfg = glan_run(tmp_path)
    (r,) = collect([cfg.run_dir], sample=20, embeddings=None)["runs"]
    assert r["recipe"] == "glan" and r["totals"]["kept"] == r["totals"]["pairs"] > 0
    # coverage: the taxonomy's nodes, pairs summed up the tree, subjects with their syllabus coverage
    tree = r["coverage"]["tree"]
    assert tree["pairs"] == r["totals"]["kept"]
    (field,) = tree["children"]
    disciplines = [d for sub in field["children"] for d in sub["children"]]
    assert {d["name"] for d in disciplines} == {"Physics", "Chemistry"}
    subjects = [s for d in disciplines for s in d["children"]]
    assert all(0 <= s["sessions"][0] <= s["sessions"][1] for s in subjects)
    assert sum(s["pairs"] for s in subjects) == tree["pairs"]
    assert sum(r["coverage"]["difficulty"].values()) == tree["pairs"]
    # the funnel: every step that ran, the critique's drops with their reason
    steps = {s["step"]: s for s in r["funnel"]}
    assert list(steps)[-3:] == ["questions", "critiqued_questions", "answers"]
    crit = steps["critiqued_questions"]
    assert crit["input"] == steps["questions"]["output"]
    assert crit["input"] - crit["output"] == sum(x["count"] for x in crit["losses"]) > 0
    assert {x["reason"] for x in crit["losses"]} == {"not_answer_free"}
    # cost per step in run order, per kept pair, totals
    assert [c["step"] for c in r["cost"]] == [s for s in steps if s not in ("disciplines", "subjects")]
    answers = next(c for c in r["cost"] if c["step"] == "answers")
    assert answers["calls"] == steps["answers"]["output"] and answers["cost_usd"] is None
    assert answers["per_kept_pair"]["completion_tokens"] == pytest.approx(
        answers["completion_tokens"] / pairs_kept(r)
    )
    assert r["totals"]["calls"] == sum(c["calls"] for c in r["cost"])
    # lengths, samples per discipline, diversity on the sample (no embeddings: said so)
    assert sum(r["lengths"]["response_words"]["counts"]) == r["totals"]["kept"]
    assert {s["discipline"] for s in r["samples"]} == {"Physics", "Chemistry"}
    d = r["diversity"]
    assert d["sample"] == min(20, r["totals"]["kept"]) and 0 < d["distinct_1"] <= 1 and d["vendi"] is None


def pairs_kept(r: dict) -> int:
    return r["totals"]["kept"]


def test_verdicts_and_clean_reach_the_report(tmp_path: Path) -> None:
    cfg = glan_run(tmp_path, "run", "verify.methods=[double_critic]", "verify.on_fail=flag")
    cfg.post = {"decontam": {"enabled": False}}
    run(cfg, FakeBackend())
    (r,) = collect([cfg.run_dir], embeddings=None)["runs"]
    v = r["lengths"]["verification"]
    assert v["checked"] == r["funnel"][-2]["output"] and 0 < v["passed"] < v["checked"]
    assert v["by_check"]["double_critic"] == [v["checked"], v["passed"]]
    clean = r["funnel"][-1]
    assert clean["step"] == "clean" and clean["output"] == r["totals"]["kept"]
    assert any(x["reason"] == "filter: verification" for x in clean["losses"])


def test_several_runs_side_by_side(tmp_path: Path) -> None:
    a = glan_run(tmp_path, "a")
    b = load_config(None, [f"run_dir={tmp_path / 'b'}", "recipe=evol_instruct"])
    run(b, FakeBackend())
    report = collect([a.run_dir, b.run_dir], sample=10, embeddings=None)
    ra, rb = report["runs"]
    assert (ra["name"], rb["name"]) == ("a", "b") and rb["coverage"] is None
    assert ra["diversity"]["sample"] == rb["diversity"]["sample"] == 10  # the same sample size
    assert rb["samples"] and rb["samples"][0]["discipline"] == "evol_instruct"


def test_bad_run_dirs_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such run dir"):
        collect([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="not a glan run dir"):
        collect([tmp_path / "empty"])


def test_the_sample_is_bounded_and_fair() -> None:
    stats = PairStats(sample=50, seed=1)
    for i in range(10_000):
        stats.add({"instruction": f"task {i}", "response": "x", "discipline": f"D{i % 500}", "field": "F"})
    assert len(stats.reservoir) == 50 and len(stats.samples) == MAX_SAMPLES
    late = sum(int(t.split()[1]) >= 5000 for t, _ in stats.reservoir)
    assert 10 < late < 40  # about half of the sample comes from the second half of the stream


def test_glan_run_ends_with_the_report_and_a_rerun_skips_it(tmp_path: Path) -> None:
    cfg = glan_run(tmp_path, "run", "report.embeddings=false", "report.sample=50")
    page, twin = cfg.run_dir / "report" / "report.html", cfg.run_dir / "report" / "report.json"
    assert page.is_file() and twin.is_file() and "<html" in page.read_text()
    before = page.stat().st_mtime_ns
    again = run(cfg, FakeBackend())
    assert again["report"]["skipped"] and page.stat().st_mtime_ns == before


def test_the_report_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from glan.cli import app

    cfg = glan_run(tmp_path)
    out = tmp_path / "out" / "r.html"
    out.parent.mkdir()
    result = CliRunner().invoke(app, ["report", str(cfg.run_dir), str(cfg.run_dir), "-o", str(out),
                                      "--no-embeddings", "--sample", "20"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.with_suffix(".json").is_file()
    bad = CliRunner().invoke(app, ["report", str(tmp_path / "nope"), "-o", str(out)])
    lines = [line for line in bad.output.splitlines() if line.strip()]
    assert bad.exit_code == 2 and len(lines) == 1 and "no such run dir" in lines[0]
