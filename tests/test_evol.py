"""Evol-Instruct: the evolution chain (operations, elimination rules, the pool), the
evol_instruct recipe, and the `evolve:` option of GLAN (a share of the questions evolved)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glan.cli import app
from glan.config import RunConfig, load_config
from glan.estimate import estimate
from glan.llm.base import ChatRequest, ChatResponse
from glan.method_config import OPERATIONS
from glan.records import Dropped, InstructionPair, Question
from glan.stages import evol_prompts as prompts
from glan.stages.base import seed_for
from glan.stages.evol import EvolStage, chosen
from glan.store import read_jsonl
from tests.fakes import FakeBackend, fake_reply
from tests.helpers import run, step_bytes, step_records
from tests.http_fakes import FakeOpenAIServer

TASKS = [
    {"id": "t0", "instruction": "Name three rivers of Europe and the seas they flow into."},
    {
        "id": "t1",
        "instruction": "Sort these numbers in ascending order.",
        "input": "7, 2, 9, 4",
        "output": "2, 4, 7, 9",
    },
    {"id": "t2", "instruction": "Write a haiku about a lighthouse in winter."},
]
ORIGINAL = {
    "t0": TASKS[0]["instruction"],
    "t1": "Sort these numbers in ascending order.\n\n7, 2, 9, 4",  # its input is part of its text
    "t2": TASKS[2]["instruction"],
}


class Scripted(FakeBackend):
    """The fake LLM whose judge always finds an information gain, with the replies of the
    requests of some seeds replaced."""

    def __init__(self, replace: dict[int, str] | None = None) -> None:
        super().__init__()
        self.replace = replace or {}

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.calls.append(request)
        text = self.replace.get(request.seed or 0)
        if text is None and request.schema_name == "judge":
            text = json.dumps({"verdict": "not_equal"})
        text = text if text is not None else fake_reply(request.openai_body())
        return ChatResponse(text=text, finish_reason="stop", model=request.model, prompt_tokens=10)


def removed(run_dir: Path, step: str) -> list[Dropped]:
    return [d for p in sorted((run_dir / step).glob("*.removed.jsonl")) for d in read_jsonl(p, Dropped)]


def prompt_of(calls: list[ChatRequest], seed: int) -> str:
    return next(c.messages[-1]["content"] for c in calls if c.seed == seed)


@pytest.fixture
def evol_config(tmp_path: Path) -> RunConfig:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    sets = [f"run_dir={tmp_path / 'run'}", "recipe=evol_instruct", f"evolve.instructions={tasks}"]
    return load_config(None, [*sets, "evolve.rounds=2"])


def test_the_rules_checked_without_a_call() -> None:
    assert prompts.copies_prompt_words("Here is the #Rewritten Prompt#: sort the list")
    assert prompts.copies_prompt_words("Unlike the given prompt, explain tides.")
    assert not prompts.copies_prompt_words("What is the relation between the given pairs?")
    assert prompts.response_problem("Sorry, I can't do that.") == "sorry_short_response"
    assert prompts.response_problem("sorry " + "word " * 80) is None  # a long answer may apologise
    assert prompts.response_problem("... it is, and it was; so?") == "stop_words_only"
    assert prompts.response_problem("!!!") == prompts.response_problem("") == "stop_words_only"
    assert prompts.response_problem("It is 42.") is None


@pytest.mark.parametrize(
    ("kind", "reply", "reason"),
    [
        ("rewrite", '{"instruction": "The rewritten prompt: list three rivers."}', "copied_prompt_words"),
        ("rewrite", "same", "no_information_gain"),  # the text itself: no call needed
        ("judge", '{"verdict": "equal"}', "no_information_gain"),
        ("response", "Sorry, I cannot help with that.", "sorry_short_response"),
        ("response", "It is, and so it was...", "stop_words_only"),
    ],
)
def test_an_eliminated_evolution_is_dropped_and_the_item_goes_back(
    evol_config: RunConfig, kind: str, reply: str, reason: str
) -> None:
    """Round 1 of every item fails a rule: a Dropped with its reason; round 2 evolves the
    original text again."""
    cfg = evol_config
    same = {t: json.dumps({"instruction": text}) for t, text in ORIGINAL.items()}
    fake = Scripted({seed_for(cfg.seed, t, 1, kind): same[t] if reply == "same" else reply for t in ORIGINAL})
    run(cfg, fake)
    drops = removed(cfg.run_dir, "evolved")
    stage = EvolStage(cfg.evolve, "m", cfg.seed, 1.0)
    assert [(d.input_id, d.reason, d.detail["round"]) for d in drops] == [(t, reason, 1) for t in ORIGINAL]
    assert all(d.detail["operation"] == stage.operation(d.input_id, 1) for d in drops)
    if kind == "response":
        assert all(d.detail["response"] == reply for d in drops)
    if kind == "rewrite":  # checked without asking the judge
        assert not any(c.seed == seed_for(cfg.seed, t, 1, "judge") for t in ORIGINAL for c in fake.calls)
    pairs = step_records(cfg.run_dir, "evolved", InstructionPair)
    assert [p.meta["original_id"] for p in pairs] == list(ORIGINAL)
    for p in pairs:
        original = ORIGINAL[p.meta["original_id"]]
        assert p.meta["round"] == 2 and p.meta["parent"] == original  # evolved from the pool's text
        assert p.meta["operation"] == stage.operation(p.meta["original_id"], 2)
        assert original in prompt_of(fake.calls, seed_for(cfg.seed, p.meta["original_id"], 2, "rewrite"))
        assert p.method == p.recipe == "evol_instruct" and p.steps == ["seed_instructions", "evolve"]


def test_evolutions_chain_round_after_round(evol_config: RunConfig) -> None:
    cfg = evol_config
    fake = Scripted()
    report = run(cfg, fake)
    pairs = step_records(cfg.run_dir, "evolved", InstructionPair)
    assert len(pairs) == 2 * len(TASKS) and not removed(cfg.run_dir, "evolved")
    for first, second in zip(pairs[::2], pairs[1::2], strict=True):
        assert first.meta["parent"] == ORIGINAL[first.meta["original_id"]]
        assert second.meta["parent"] == first.instruction and second.meta["round"] == 2
        assert first.answer_sampling == cfg.answers.sampling()
    # rewrite, judge, response for each item and round; the response with answers' sampling
    assert report["evolved"]["calls"] == 3 * 2 * len(TASKS)
    responses = [c for c in fake.calls if c.response_schema is None]
    assert len(responses) == 6 and all(c.max_tokens == cfg.answers.max_tokens for c in responses)
    again = Scripted()
    run(cfg, again)
    assert again.calls == []
    # the responses' sampling is part of the step: changing it asks only the responses again
    cfg.answers.temperature = 0.2
    run(cfg, again)
    assert again.calls and all(c.response_schema is None and c.temperature == 0.2 for c in again.calls)


def test_operations_are_uniform_and_follow_the_config(evol_config: RunConfig) -> None:
    cfg = evol_config
    stage = EvolStage(cfg.evolve, "m", cfg.seed, 1.0)
    picks = [stage.operation(f"item {i}", r) for i in range(600) for r in (1, 2)]
    assert {op: picks.count(op) for op in OPERATIONS} == pytest.approx(dict.fromkeys(OPERATIONS, 200), abs=45)
    cfg.evolve.operations = ["breadth"]
    fake = Scripted()
    run(cfg, fake)
    rewrites = [c.messages[-1]["content"] for c in fake.calls if c.schema_name == "evolved"]
    assert len(rewrites) == 6 and all("#Created Prompt#" in r for r in rewrites)


def test_share_picks_the_same_fraction_every_time() -> None:
    ids = [f"q{i}" for i in range(4000)]
    for share in (0.1, 0.3, 0.5):
        picked = {i for i in ids if chosen(7, i, share)}
        assert abs(len(picked) / len(ids) - share) < 0.03
        assert picked == {i for i in ids if chosen(7, i, share)}
        assert picked <= {i for i in ids if chosen(7, i, share + 0.2)}  # a larger share adds items
    assert not any(chosen(7, i, 0.0) for i in ids) and all(chosen(7, i, 1.0) for i in ids)


def glan_evolve(small_config: RunConfig) -> RunConfig:
    evolve = small_config.evolve.model_copy(update={"share": 0.5, "rounds": 2})
    return small_config.model_copy(update={"evolve": evolve})


def test_glan_evolves_a_share_of_the_questions_with_their_lineage(small_config: RunConfig) -> None:
    cfg = glan_evolve(small_config)
    fake = FakeBackend()
    report = run(cfg, fake)
    rd = cfg.run_dir
    questions = step_records(rd, "questions", Question)
    evolved = step_records(rd, "evolved_questions", Question)
    assert [q.id for q in evolved] == [q.id for q in questions]
    picked = {q.id for q in questions if chosen(cfg.seed, q.id, 0.5)}
    assert 0 < len(picked) < len(questions)
    drops = removed(rd, "evolved_questions")
    stage = EvolStage(cfg.evolve, "m", cfg.seed, 0.5)
    for before, after in zip(questions, evolved, strict=True):
        if before.id not in picked:
            assert after == before  # not chosen: unchanged, no call
            continue
        rounds = [e["round"] for e in after.evolution or []]
        dropped = [d.detail["round"] for d in drops if d.input_id == before.id]
        assert sorted(rounds + dropped) == [1, 2]  # each round kept or dropped
        texts = [e["from"] for e in after.evolution or []] + [after.question]
        assert texts[0] == before.question and len(set(texts)) == len(texts)
        assert all(e["operation"] == stage.operation(before.id, e["round"]) for e in after.evolution or [])
    assert any(q.evolution for q in evolved) and {d.reason for d in drops} <= {"no_information_gain"}
    # only the chosen questions make calls: a rewrite and a judge per round, no response
    rewrites = sum(c.schema_name == "evolved" for c in fake.calls)
    judged = sum(c.schema_name == "judge" for c in fake.calls)
    assert rewrites == 2 * len(picked) and report["evolved_questions"]["calls"] == rewrites + judged
    # the answers answer the evolved questions and keep their lineage
    pairs = step_records(rd, "answers", InstructionPair)
    by_id = {q.id: q for q in evolved}
    for p in pairs:
        q = by_id[p.question_id]
        assert p.instruction == q.question and p.steps[-2:] == ["evolve", "answers"]
        assert p.meta == ({"evolution": q.evolution} if q.evolution else None)
    index = json.loads((rd / "answers" / "_step.json").read_text())
    assert index["input"] == json.loads((rd / "evolved_questions" / "_step.json").read_text())["digest"]
    first = {n: step_bytes(rd, n) for n in ("evolved_questions", "answers")}
    again = FakeBackend()
    run(cfg, again)
    assert again.calls == [] and {n: step_bytes(rd, n) for n in first} == first


def test_glan_without_evolve_is_unchanged(small_config: RunConfig, tmp_path: Path) -> None:
    run(small_config, FakeBackend())
    off = small_config.model_copy(update={"run_dir": tmp_path / "off"})
    off.evolve.share = 0.0
    run(off, FakeBackend())
    assert not (off.run_dir / "evolved_questions").exists()
    assert step_bytes(off.run_dir, "answers") == step_bytes(small_config.run_dir, "answers")


def test_estimates(small_config: RunConfig, evol_config: RunConfig) -> None:
    rows = {r.stage: r for r in estimate(glan_evolve(small_config))}
    assert list(rows)[-3:] == ["questions", "evolved_questions", "answers"]
    assert rows["evolved_questions"].calls == round(rows["questions"].calls * 0.5) * 2 * 2
    assert rows["answers"].calls == rows["questions"].calls
    (row,) = estimate(evol_config)
    assert (row.stage, row.calls, row.counted) == ("evolved", len(TASKS) * 2 * 3, "exact")
    fake = Scripted({seed_for(evol_config.seed, "t0", 1, "judge"): '{"verdict": "equal"}'})
    run(evol_config, fake)
    assert len(fake.calls) <= row.calls and estimate(evol_config)[0].to_send == 0


def write_config(tmp_path: Path, instructions: Path, url: str) -> Path:
    settings = {
        "run_dir": str(tmp_path / "run"),
        "evolve": {"instructions": str(instructions), "rounds": 1},
        "llm": {"backend": "openai", "base_url": url, "model": "fake", "api_key_env": None},
    }
    cfg = tmp_path / "run.yaml"
    cfg.write_text(json.dumps(settings))
    return cfg


def test_cli_runs_the_evol_instruct_recipe(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    with FakeOpenAIServer() as srv:
        r = CliRunner().invoke(app, ["run", "-c", str(write_config(tmp_path, tasks, srv.base_url)),
                                     "--recipe", "evol_instruct", "-q"])  # fmt: skip
    assert r.exit_code == 0, r.output
    pairs = step_records(tmp_path / "run", "evolved", InstructionPair)
    drops = removed(tmp_path / "run", "evolved")
    assert len(pairs) + len(drops) == len(TASKS) and pairs
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["config"]["recipe"] == "evol_instruct"


def test_a_bad_instruction_line_is_one_line_naming_it(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps(TASKS[0]) + "\n" + '{"input": "no instruction"}\n')
    cfg = write_config(tmp_path, tasks, "http://127.0.0.1:9/v1")
    r = CliRunner().invoke(app, ["run", "-c", str(cfg), "--recipe", "evol_instruct", "-q"])
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and f"{tasks}:2:" in lines[0], r.output
    assert "instruction" in lines[0]


@pytest.mark.slow
def test_real_model_evolves_three_instructions(tmp_path: Path) -> None:
    """Through the embedded 0.5B model: every chosen item kept, dropped or recorded as failed."""
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    cfg = load_config(None, [
        f"run_dir={tmp_path / 'run'}", "recipe=evol_instruct", f"evolve.instructions={tasks}",
        "evolve.rounds=1", "evolve.max_tokens=200", "answers.max_tokens=120",
        "llm.model=qwen2.5-coder-0.5b", "llm.n_ctx=4096",
    ])  # fmt: skip
    report = run(cfg)
    pairs = step_records(cfg.run_dir, "evolved", InstructionPair)
    drops = removed(cfg.run_dir, "evolved")
    entry = report["evolved"]
    assert entry["jobs"] == 3 and len(pairs) + len(drops) + entry["failures"] == 3, report
    for p in pairs:
        assert p.instruction.strip() and p.response.strip() and p.meta["round"] == 1
        assert p.meta["parent"] == ORIGINAL[p.meta["original_id"]] and p.answer_model == "qwen2.5-coder-0.5b"
    assert all(d.reason in ("no_information_gain", "sorry_short_response", "stop_words_only",
                            "copied_prompt_words") for d in drops)  # fmt: skip
    again = run(cfg)  # a rerun makes no call (and never loads the model)
    assert again["evolved"].get("calls", 0) == 0 or entry["failures"], again
