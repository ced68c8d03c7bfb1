"""Quality control: the question critique, the LLM's verification (self-consistency and the
double critic), their steps in every recipe, the `verify` recipe, and `glan clean` on verdicts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from glan.config import RunConfig, load_config
from glan.errors import ConfigError
from glan.estimate import estimate
from glan.exec.stream import run_stage
from glan.llm.base import ChatRequest, ChatResponse
from glan.post.base import Removed
from glan.post.config import FilterConfig
from glan.post.filters import QualityFilter
from glan.records import Dropped, InstructionPair, Question, Record
from glan.stages import quality_prompts as prompts
from glan.stages.base import seed_for
from glan.stages.verify import VerifyStage
from glan.store import RunDir, read_jsonl
from glan.verify.acceptance import acceptance
from tests.fakes import FakeBackend, fake_reply
from tests.helpers import run, step_bytes, step_records

MATH = "A train travels 120 km in 2 hours. Calculate its average speed in km/h."


def _critique(question: str) -> str:
    """Every third question (by its text) gives away its answer; the rest pass."""
    bad = sum(map(ord, question)) % 3 == 0
    checks = {c: True for c in prompts.CHECKS} | {"answer_free": not bad}
    return json.dumps({**checks, "reason": "it states its answer" if bad else "ok"})


def _judgment(prompt: str) -> str:
    """The critics: a response with WRONG is incorrect; one with SLIP passes the first critic
    (a judge that agrees) but not the second (it finds the error)."""
    response = prompt.split("Response:\n<<<\n", 1)[1]
    if prompt.startswith(prompts.CORRECT[:40]):
        return json.dumps({"verdict": "no" if "WRONG" in response else "yes", "reason": "checked"})
    return json.dumps(
        {"verdict": "yes" if ("WRONG" in response or "SLIP" in response) else "no", "reason": "x"}
    )


class Judges(FakeBackend):
    """The fake LLM with scripted judges, and self-consistency samples answering `answers[i]`
    to sample i of a task (seeded by the task: see VerifyStage.jobs)."""

    def __init__(self, answers: dict[str, list[str]] | None = None, seed: int = 0) -> None:
        super().__init__()
        self.samples = {
            seed_for(seed, "self_consistency", task, i): a
            for task, given in (answers or {}).items()
            for i, a in enumerate(given)
        }

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.calls.append(request)
        prompt = request.messages[-1]["content"]
        if request.schema_name == "critique":
            text = _critique(prompt.split("Question:\n<<<\n", 1)[1].split("\n>>>", 1)[0])
        elif request.schema_name == "judgment":
            text = _judgment(prompt)
        elif request.seed in self.samples:
            text = f"Working it out step by step.\nFinal answer: {self.samples[request.seed]}"
        else:
            text = fake_reply(request.openai_body())
        return ChatResponse(text=text, finish_reason="stop", model=request.model, prompt_tokens=10)


class WrongHalf(Judges):
    """Judges, with every other answer wrong."""

    async def chat(self, request: ChatRequest) -> ChatResponse:
        response = await super().chat(request)
        if request.response_schema is None and sum(map(ord, request.messages[-1]["content"])) % 2:
            return response.model_copy(update={"text": "WRONG " + response.text})
        return response


def verify_cfg(*sets: str) -> RunConfig:
    return load_config(None, ["verify.methods=[self_consistency, double_critic]", *sets])


def pair(pid: str, response: str, instruction: str = MATH) -> InstructionPair:
    return InstructionPair(id=pid, instruction=instruction, response=response, method="glan")


def verify(cfg: RunConfig, pairs: list[InstructionPair], backend: Any) -> list[Record]:
    """The verify stage over `pairs` on `backend` (no cache, no run dir): its output records."""
    return on_backend(VerifyStage(cfg.verify, "judge-model", cfg.seed), pairs, backend)


def on_backend(stage: Any, items: list[Any], backend: Any) -> list[Record]:
    """A stage over `items` on `backend`, without a run: its output records."""
    out: list[Record] = []

    async def drive(flow: Any) -> Any:
        request = next(flow)
        while True:
            try:
                request = flow.send(await backend.chat(request))
            except StopIteration as done:
                return done.value

    async def go() -> None:
        await run_stage(stage, items, drive, out.append, lambda f: None, answered=lambda r: False)

    asyncio.run(go())
    return out


def test_the_method_is_chosen_per_pair_without_a_call() -> None:
    stage = VerifyStage(verify_cfg().verify, "m", 0)
    assert (
        stage.method_for(pair("a", "So the speed is 60 km/h.\nFinal answer: 60 km/h")) == "self_consistency"
    )
    assert stage.method_for(pair("b", "It is 60 km/h.")) == "self_consistency"  # the question asks a number
    essay = pair("c", "Because rivers carve valleys.", instruction="Discuss why rivers matter to cities.")
    assert stage.method_for(essay) == "double_critic"
    only_sc = VerifyStage(verify_cfg("verify.methods=[self_consistency]").verify, "m", 0)
    assert only_sc.method_for(essay) is None  # no method applies: passed on unverified
    assert verify(verify_cfg("verify.methods=[self_consistency]"), [essay], Judges()) == [essay]


def test_self_consistency_keeps_the_majority() -> None:
    cfg = verify_cfg("verify.samples=5")
    same = pair("same", "120 / 2 = 60.\nFinal answer: 60 km/h")
    other = pair("other", "120 * 2 = 240.\nFinal answer: 240 km/h")
    split_q = "A car travels 90 km in 1.5 hours. What is its average speed in km/h?"
    split = pair("split", "Final answer: 60", instruction=split_q)
    backend = Judges(
        {MATH: ["60 km/h", "60", "60.0 km/h", "30", "60"], split_q: ["60", "60", "45", "50", "50"]}
    )
    out = verify(cfg, [same, other, split], backend)
    kept, replaced, dropped = out
    assert isinstance(kept, InstructionPair) and kept.response == same.response
    v = kept.meta["verify"]
    assert (v["method"], v["passed"], v["agreement"], v["samples"]) == ("self_consistency", True, 0.8, 5)
    # a pair whose answer is not the majority's gets a majority sample's response, its own kept
    assert isinstance(replaced, InstructionPair) and replaced.response.endswith("Final answer: 60 km/h")
    assert replaced.meta["verify"]["replaced_response"] == other.response
    assert replaced.answer_model == "judge-model" and replaced.meta["verify"]["own_answer"] == "240 km/h"
    # 2 of 5 agree: under min_agreement, dropped with its reason and figures
    assert isinstance(dropped, Dropped) and dropped.reason == "low_agreement"
    assert dropped.detail["agreement"] == 0.4 and dropped.input_id == "split"
    # the samples of one task are the same requests, whichever pair asks (the cache answers once)
    keys = [c.key() for c in backend.calls if c.messages[-1]["content"].startswith(MATH)]
    assert len(keys) == 10 and len(set(keys)) == 5


def test_self_consistency_without_replacing_and_flagging() -> None:
    backend = Judges({MATH: ["60"] * 5})
    wrong = pair("w", "Final answer: 240 km/h")
    (out,) = verify(verify_cfg("verify.replace=false"), [wrong], backend)
    assert isinstance(out, Dropped) and out.reason == "disagrees_with_majority"
    (flagged,) = verify(verify_cfg("verify.replace=false", "verify.on_fail=flag"), [wrong], backend)
    assert isinstance(flagged, InstructionPair) and flagged.response == wrong.response
    v = flagged.meta["verify"]
    assert v["passed"] is False and v["reason"] == "disagrees_with_majority"


def test_the_double_critic_needs_both_judgments() -> None:
    q = "Explain why the sky is blue."
    fine, wrong, slip = (
        pair(i, r, q) for i, r in (("f", "Rayleigh scattering."), ("w", "WRONG"), ("s", "SLIP"))
    )
    backend = Judges()
    out = verify(verify_cfg(), [fine, wrong, slip], backend)
    assert [type(r).__name__ for r in out] == ["InstructionPair", "Dropped", "Dropped"]
    v = out[0].meta["verify"]
    assert (v["method"], v["passed"], v["correct"], v["has_error"]) == ("double_critic", True, "yes", "no")
    assert out[1].reason == out[2].reason == "critic_rejected"
    # the agreeable judge alone would have passed it
    assert (out[2].detail["correct"], out[2].detail["has_error"]) == ("yes", "yes")
    assert {c.schema_name for c in backend.calls} == {"judgment"} and len(backend.calls) == 6
    assert all(c.temperature == 0.0 for c in backend.calls)


def test_a_code_verdict_is_kept_and_both_must_hold() -> None:
    q = "Explain why the sky is blue."
    ran = pair("r", "Rayleigh scattering.", q).model_copy(
        update={"meta": {"verify": {"method": "code", "passed": True}, "evolution": [1]}}
    )
    (out,) = verify(verify_cfg(), [ran], Judges())
    v = out.meta["verify"]
    assert v["passed"] and v["code"] == {"method": "code", "passed": True} and out.meta["evolution"] == [1]
    flagged = ran.model_copy(update={"meta": {"verify": {"method": "code", "passed": False}}})
    (out,) = verify(verify_cfg("verify.on_fail=flag"), [flagged], Judges())
    assert out.meta["verify"]["passed"] is False  # the critics agree, the program failed


def glan_quality(small_config: RunConfig, *sets: str) -> RunConfig:
    base = [f"run_dir={small_config.run_dir}", "disciplines=[Physics, Chemistry]", "subjects.samples=2",
            "syllabi.min_sessions=3", "syllabi.max_sessions=6", "questions.per_syllabus=4"]  # fmt: skip
    return load_config(None, [*base, "critique.enabled=true", "verify.methods=[double_critic]", *sets])


def removed(run_dir: Path, step: str) -> list[Dropped]:
    return [d for p in sorted((run_dir / step).glob("*.removed.jsonl")) for d in read_jsonl(p, Dropped)]


def test_glan_critiques_then_answers_only_what_passed(small_config: RunConfig) -> None:
    cfg = glan_quality(small_config)
    backend = Judges()
    report = run(cfg, backend)
    rd = cfg.run_dir
    questions = step_records(rd, "questions", Question)
    passed = step_records(rd, "critiqued_questions", Question)
    drops = removed(rd, "critiqued_questions")
    assert 0 < len(drops) < len(questions) and len(passed) + len(drops) == len(questions)
    assert {d.reason for d in drops} == {"not_answer_free"}
    assert all(d.detail["reason"] == "it states its answer" for d in drops)
    assert all(q.critique["passed"] and q.critique["checks"]["answer_free"] for q in passed)
    # failed questions are not answered: no answer call for them
    pairs = step_records(rd, "answers", InstructionPair)
    assert [p.question_id for p in pairs] == [q.id for q in passed]
    assert all(p.meta["critique"] == q.critique for p, q in zip(pairs, passed, strict=True))
    verified = step_records(rd, "verified", InstructionPair)
    assert [p.id for p in verified] == [p.id for p in pairs]  # the fake's answers pass both critics
    assert all(p.meta["verify"]["method"] == "double_critic" for p in verified)
    asked = [c.messages[-1]["content"] for c in backend.calls if c.response_schema is None]
    assert not any(d.text in a for d in drops for a in asked)
    # the manifest counts each step's calls
    manifest = json.loads((rd / "manifest.json").read_text())
    assert report["critiqued_questions"]["calls"] == len(questions)
    assert report["verified"]["calls"] == 2 * len(pairs)
    assert "critiqued_questions" in json.dumps(manifest) and "verified" in json.dumps(manifest)
    # what each quality step accepted, dropped questions counted against their discipline
    accepted = acceptance(RunDir(rd))
    assert accepted["critiqued_questions"]["check"] == {"critique": [len(questions), len(passed)]}
    by_discipline = accepted["critiqued_questions"]["discipline"]
    assert by_discipline.keys() == {"Physics", "Chemistry"}
    assert sum(n for n, _ in by_discipline.values()) == len(questions)
    assert accepted["verified"]["check"] == {"double_critic": [len(pairs), len(pairs)]}
    # a rerun makes no call and writes the same records
    before = {n: step_bytes(rd, n) for n in ("critiqued_questions", "answers", "verified")}
    again = Judges()
    run(cfg, again)
    assert again.calls == [] and {n: step_bytes(rd, n) for n in before} == before


def test_estimate_counts_the_judges_calls(small_config: RunConfig) -> None:
    cfg = glan_quality(small_config)
    rows = {r.stage: r for r in estimate(cfg)}
    assert list(rows)[-4:] == ["questions", "critiqued_questions", "answers", "verified"]
    assert rows["critiqued_questions"].calls == rows["questions"].calls
    assert rows["verified"].calls == 2 * rows["answers"].calls
    run(cfg, Judges())
    rows = {r.stage: r for r in estimate(cfg)}
    assert rows["verified"].counted == "exact" and rows["verified"].to_send == 0


def test_flagged_pairs_are_filtered_by_clean(small_config: RunConfig) -> None:
    cfg = glan_quality(small_config, "verify.on_fail=flag", "critique.enabled=false")
    cfg.post = {"decontam": {"enabled": False}, "dedup": {"near": False}}
    backend = WrongHalf()
    report = run(cfg, backend)
    verified = step_records(cfg.run_dir, "verified", InstructionPair)
    failed = [p for p in verified if not p.meta["verify"]["passed"]]
    assert 0 < len(failed) < len(verified)
    clean = report["clean"]["clean"]
    assert clean["kept"] == len(verified) - len(failed)
    removed_lines = (cfg.run_dir / "clean" / "removed.jsonl").read_text().splitlines()
    assert sum("critic_rejected" in line for line in removed_lines) == len(failed)
    # the card and report.json say what verification accepted, per check, method and discipline
    quality = json.loads((cfg.run_dir / "clean" / "report.json").read_text())["quality"]["verified"]
    assert quality["check"] == {"double_critic": [len(verified), len(verified) - len(failed)]}
    assert quality["method"] == {"glan": [len(verified), len(verified) - len(failed)]}
    assert set(quality["discipline"]) == {"Physics", "Chemistry"}
    assert sum(n for n, _ in quality["discipline"].values()) == len(verified)
    card = (cfg.run_dir / "clean" / "README.md").read_text()
    rate = f"{(len(verified) - len(failed)) / len(verified):.0%}"
    assert "## Verification: acceptance" in card and f"| check | double_critic | {len(verified)} |" in card
    assert rate in card


def test_clean_filters_on_verdict_thresholds() -> None:
    def rec(i: int, verdict: dict | None) -> dict:
        meta = {"verify": verdict} if verdict is not None else None
        return {
            "id": str(i),
            "instruction": "Compute the speed of the train.",
            "response": "60 km/h.",
            "meta": meta,
        }

    recs = [rec(0, {"method": "self_consistency", "passed": True, "agreement": 0.6}),
            rec(1, {"method": "self_consistency", "passed": True, "agreement": 1.0}),
            rec(2, {"method": "double_critic", "passed": False, "reason": "critic_rejected"}),
            rec(3, None)]  # fmt: skip
    kept = list(QualityFilter(FilterConfig()).run(recs, Removed()))
    assert [r["id"] for r in kept] == ["0", "1", "3"]
    strict = FilterConfig(min_agreement=0.8, require_verified=True)
    removed_ = Removed()
    assert [r["id"] for r in QualityFilter(strict).run(recs, removed_)] == ["1"]
    assert removed_.counts[("filter", "verification")] == 3


def test_the_verify_recipe_reads_pairs_made_elsewhere(tmp_path: Path) -> None:
    src = tmp_path / "pairs.jsonl"
    sky = "Explain why the sky is blue."
    rows = [{"question": MATH, "answer": "Final answer: 60 km/h"},
            {"instruction": sky, "output": "WRONG: because it is cold.", "id": 7}]  # fmt: skip
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = load_config(None, [f"run_dir={tmp_path / 'run'}", "recipe=verify", f"verify.input={src}",
                             "verify.methods=[self_consistency, double_critic]"])  # fmt: skip
    run(cfg, Judges({MATH: ["60 km/h"] * 5}))
    (ok,) = step_records(cfg.run_dir, "verified", InstructionPair)
    assert ok.meta["verify"]["method"] == "self_consistency" and ok.meta["verify"]["agreement"] == 1.0
    (drop,) = removed(cfg.run_dir, "verified")
    assert (drop.input_id, drop.reason) == ("7", "critic_rejected")
    src.write_text('{"question": "Why?"}\n')
    with pytest.raises(ConfigError, match=rf"{src}:1: `response` missing"):
        run(cfg, Judges())
    with pytest.raises(ConfigError, match=r"verify.methods.0: .*'nope'"):
        load_config(None, ["verify.methods=[nope]"])


CODE_OK = "Compute it:\n```python\nprint(120 / 2)\n```\nOutput:\n```\n60.0\n```\nFinal answer: 60 km/h"
CODE_MADE_UP = "Compute it:\n```python\nprint(120 / 2)\n```\nOutput:\n```\n240.0\n```\nFinal answer: 240 km/h"


def code_run(tmp_path: Path, *sets: str) -> RunConfig:
    src = tmp_path / "pairs.jsonl"
    rows = [{"id": "ok", "instruction": MATH, "response": CODE_OK},
            {"id": "made_up", "instruction": MATH, "response": CODE_MADE_UP}]  # fmt: skip
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_config(None, [f"run_dir={tmp_path / 'run'}", "recipe=verify", f"verify.input={src}", *sets])


def test_the_code_check_runs_before_the_critics(tmp_path: Path) -> None:
    """Through the real sandbox: a made-up output block is dropped before any LLM call; the
    pair whose program prints what it shows goes on to self-consistency, both verdicts kept."""
    cfg = code_run(tmp_path, "verify.methods=[code, self_consistency]")
    backend = Judges({MATH: ["60 km/h"] * 5})
    run(cfg, backend)
    (drop,) = removed(cfg.run_dir, "executed")
    assert (drop.input_id, drop.reason) == ("made_up", "output_mismatch")
    (ok,) = step_records(cfg.run_dir, "verified", InstructionPair)
    v = ok.meta["verify"]
    assert ok.id == "ok" and v["method"] == "self_consistency" and v["passed"] and v["code"]["passed"]
    assert len(backend.calls) == 5  # the samples of the one pair left


def test_a_missing_sandbox_stops_the_run_before_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import glan.verify.execute as execute

    monkeypatch.setattr(
        execute, "sandbox_problem", lambda python: "bubblewrap is missing: apt install bubblewrap"
    )
    cfg = code_run(tmp_path, "verify.methods=[code]")
    with pytest.raises(ConfigError, match="bubblewrap"):
        run(cfg, Judges())
    assert not (cfg.run_dir / "pairs").exists() and not (cfg.run_dir / "executed").exists()


@pytest.mark.slow
def test_real_model_critiques_questions() -> None:
    """The embedded 0.5B model as the judge of two questions: each passes with its checks or is
    dropped with a named reason (or its reply failed to validate, recorded by the step)."""
    from glan.llm.registry import build_backend
    from glan.stages.critique import QuestionCritiqueStage

    cfg = load_config(None, ["critique.enabled=true", "llm.model=qwen2.5-coder-0.5b", "llm.n_ctx=4096"])
    common = {"field": "Natural sciences", "sub_field": "Physical sciences", "discipline": "Physics",
              "syllabus_id": "y", "subject": "Classical mechanics", "level": "undergraduate", "index": 0,
              "sessions": [1], "model": "m", "sampling": {}}  # fmt: skip
    questions = [
        Question(id="q1", difficulty="basic", concepts=["Newton's second law"], **common,
                 question="A 2 kg cart is pushed with a net force of 6 N. What is its acceleration?"),
        Question(id="q2", difficulty="basic", concepts=["Newton's second law"], **common,
                 question="As we saw in the last session, what does it say? (The answer is F = ma.)"),
    ]  # fmt: skip
    backend = build_backend(cfg.llm)
    out = on_backend(QuestionCritiqueStage(cfg.critique, "qwen2.5-coder-0.5b", 0), questions, backend)
    assert 1 <= len(out) <= 2
    for r in out:
        if isinstance(r, Dropped):
            assert r.reason.startswith("not_") and r.detail["checks"] and r.detail["discipline"] == "Physics"
        else:
            assert (
                isinstance(r, Question)
                and r.critique["passed"]
                and set(r.critique["checks"]) == set(prompts.CHECKS)
            )


@pytest.mark.slow
def test_real_model_verifies_by_self_consistency_and_double_critic(tmp_path: Path) -> None:
    """The verify recipe on the embedded 0.5B model: the arithmetic pair by self-consistency,
    the essay by the double critic, each with its verdict (or a recorded failure); a rerun asks
    nothing."""
    src = tmp_path / "pairs.jsonl"
    rows = [{"id": "math", "instruction": MATH, "response": "120 / 2 = 60.\nFinal answer: 60 km/h"},
            {"id": "essay", "instruction": "Explain in two sentences why the sky is blue.",
             "response": "Air scatters blue light most (Rayleigh scattering)."}]  # fmt: skip
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = load_config(None, [f"run_dir={tmp_path / 'run'}", "recipe=verify", f"verify.input={src}",
                             "verify.methods=[self_consistency, double_critic]", "verify.samples=3",
                             "verify.max_tokens=200", "verify.on_fail=flag",
                             "llm.model=qwen2.5-coder-0.5b", "llm.n_ctx=4096"])  # fmt: skip
    report = run(cfg)
    out = {p.id: p for p in step_records(cfg.run_dir, "verified", InstructionPair)}
    assert len(out) + report["verified"]["failures"] > 0
    if "math" in out:
        v = out["math"].meta["verify"]
        assert v["method"] == "self_consistency" and v["samples"] == 3 and 0 <= v["agreement"] <= 1
    if "essay" in out:
        v = out["essay"].meta["verify"]
        assert (
            v["method"] == "double_critic"
            and v["correct"] in ("yes", "no")
            and v["has_error"] in ("yes", "no")
        )
    again = run(cfg)
    assert again["verified"].get("calls", 0) == 0 or report["verified"]["failures"], again
