"""The self_instruct recipe: seed tasks -> the bootstrap loop -> instances, on fake backends
(and one slow test on the real embedded model)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from glan.batch_step import export_step, import_files
from glan.cli import app
from glan.config import RunConfig, load_config
from glan.estimate import estimate
from glan.llm.base import ChatRequest, ChatResponse
from glan.recipes.self_instruct import SELF_INSTRUCT
from glan.records import Dropped, InstructionPair, Task
from glan.shards import StepFolder
from glan.stages.self_instruct_filters import Keywords, RougePool
from glan.tasks_file import load_tasks
from tests.batch_fakes import result_line
from tests.fakes import FakeBackend, fake_reply
from tests.helpers import run, step_bytes, step_done, step_records
from tests.http_fakes import FakeOpenAIServer, completion_body

SEEDS = [" ".join(t.instruction.split()) for t in load_tasks("builtin", "self_instruct.seed_tasks")]
STEPS = ("seed_tasks", "instructions", "instances")


def si_config(tmp_path: Path, *sets: str, name: str = "run") -> RunConfig:
    return load_config(
        None,
        [
            f"run_dir={tmp_path / name}",
            "recipe=self_instruct",
            "self_instruct.target=24",
            "self_instruct.prompts_per_round=3",
            "self_instruct.new_per_prompt=4",
            *sets,
        ],
    )


def outputs(run_dir: Path) -> dict[str, bytes]:
    return {n: step_bytes(run_dir, n) for n in STEPS}


def shown(request: ChatRequest) -> list[str]:
    """The pool instructions a bootstrap prompt shows."""
    lines = request.messages[-1]["content"].splitlines()
    return [ln.split(": ", 1)[1] for ln in lines if ln.startswith("Task ") and ": " in ln]


def removed(run_dir: Path, step: str) -> list[Dropped]:
    folder = StepFolder(run_dir / step)
    return [
        Dropped.model_validate_json(line)
        for s in folder.shards()
        for line in folder.removed_path(s.name).read_bytes().splitlines()
    ]


def asked(fake: FakeBackend, schema: str) -> list[ChatRequest]:
    return [c for c in fake.calls if c.schema_name == schema]


class ScriptedBackend(FakeBackend):
    """The fake, but the bootstrap calls get the scripted instruction lists, one per call,
    and the instance calls `instances` when given."""

    def __init__(self, script: list[list[str]], instances: list[dict[str, str]] | None = None) -> None:
        super().__init__()
        self.script, self.instances = list(script), instances

    async def chat(self, request: ChatRequest) -> ChatResponse:
        if request.schema_name == "instructions" and self.script:
            self.calls.append(request)
            return ChatResponse(text=json.dumps({"instructions": self.script.pop(0)}), finish_reason="stop")
        if request.schema_name == "instances" and self.instances is not None:
            self.calls.append(request)
            return ChatResponse(text=json.dumps({"instances": self.instances}), finish_reason="stop")
        return await super().chat(request)


KEPT = [
    "Suggest five names for a new coffee shop near the harbor.",
    "Summarize the roadmap of a software project in three bullet points.",  # `map` inside a word
]
DROPPED = {
    "Sort these.": "too_short",
    " ".join(["word"] * 151): "too_long",
    "Describe the image below in as much detail as you can.": "keyword:image",
    "Go  to the nearest bakery and tell me what they sell today.": "keyword:go to",
    "Write a program that prints every prime number below one hundred.": "write_a_program",
    "- List three fruits that are red when they are ripe.": "leading_punctuation",
    "Écris un poème sur la mer, le vent et les bateaux.": "non_ascii",
    SEEDS[0]: "rouge_l",  # a seed, word for word
    "Suggest five names for a new coffee shop near the river.": "rouge_l",  # a task kept this round
}


def test_each_filter_drops_with_its_named_reason(tmp_path: Path) -> None:
    cfg = si_config(
        tmp_path,
        "self_instruct.target=2",
        "self_instruct.prompts_per_round=1",
        "self_instruct.new_per_prompt=11",
    )
    candidates = [KEPT[0], *DROPPED, KEPT[1], "One more than the prompt asked for."]
    run(cfg, ScriptedBackend([candidates]), ("seed_tasks", "instructions"))
    kept = step_records(cfg.run_dir, "instructions", Task)
    assert [t.instruction for t in kept] == KEPT
    assert all(t.origin == "machine" and t.round == 0 and t.prompt == "r0p0" for t in kept)
    drops = {d.text: d for d in removed(cfg.run_dir, "instructions")}
    assert {text: d.reason for text, d in drops.items()} == {
        **DROPPED,
        "One more than the prompt asked for.": "over_new_per_prompt",
    }
    seed = drops[SEEDS[0]].detail
    assert seed == {"most_similar": SEEDS[0], "rouge_l": 1.0}
    near = drops["Suggest five names for a new coffee shop near the river."].detail
    assert near is not None and near["most_similar"] == KEPT[0] and 0.7 <= near["rouge_l"] < 1
    index = StepFolder(cfg.run_dir / "instructions").require()
    assert index["records"] == 2 and index["removed"] == len(DROPPED) + 1


def test_filter_rules_match_the_paper_tools() -> None:
    from rouge_score import rouge_scorer

    texts = [
        "Give three reasons why exercise is good for you.",
        "Give me three good reasons to exercise every day.",
        "Translate the sentence into French, keeping its tone.",
    ]
    pool = RougePool(texts[1:])
    score, similar = pool.most_similar(texts[0])
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    expected = max(scorer.score(t, texts[0])["rougeL"].fmeasure for t in texts[1:])
    assert similar == texts[1] and score == pytest.approx(expected)
    kw = Keywords(["map", "go to"])
    assert kw("Draw a MAP of the town.") == "keyword:map"
    assert kw("Plan the roadmap; go\tto work.") == "keyword:go to"
    assert kw("Summarize the roadmap and the mapping.") is None


def test_the_loop_reaches_target_with_six_seeds_and_two_generated_per_prompt(tmp_path: Path) -> None:
    cfg = si_config(tmp_path)
    fake = FakeBackend()
    report = run(cfg, fake)
    tasks = step_records(cfg.run_dir, "instructions", Task)
    rounds = Counter(t.round for t in tasks)
    assert len(tasks) >= 24 and len(tasks) - rounds[max(rounds)] < 24  # the last round reached it
    assert report["instructions"]["rounds"] == len(rounds) >= 2
    names = [s.name for s in StepFolder(cfg.run_dir / "instructions").shards()]
    assert names == [f"round-{r:04d}" for r in range(len(rounds))]
    prompts = asked(fake, "instructions")
    assert len(prompts) == 3 * len(rounds)
    machine = {" ".join(t.instruction.split()) for t in tasks}
    for i, request in enumerate(prompts):
        shown_tasks = shown(request)
        humans = [t for t in shown_tasks if t in SEEDS]
        made = [t for t in shown_tasks if t in machine]
        assert (len(humans), len(made)) == ((8, 0) if i < 3 else (6, 2)), i
        assert request.response_schema["properties"]["instructions"]["maxItems"] == 4
    pairs = step_records(cfg.run_dir, "instances", InstructionPair)
    assert {p.meta["task_id"] for p in pairs} == {t.id for t in tasks}  # type: ignore[index]
    for p in pairs:
        assert p.method == p.recipe == "self_instruct" and p.steps == list(STEPS)
        assert p.input and p.response and p.meta is not None
        assert set(p.meta) == {"is_classification", "round", "task_id"}


def test_max_rounds_ends_the_loop_short_of_target(tmp_path: Path) -> None:
    cfg = si_config(tmp_path, "self_instruct.target=100", "self_instruct.max_rounds=2")
    report = run(cfg, FakeBackend(), ("seed_tasks", "instructions"))
    assert report["instructions"]["rounds"] == 2 and report["instructions"]["records"] < 100
    assert step_done(cfg.run_dir, "instructions")


def test_a_rerun_makes_no_call_and_a_larger_target_continues(tmp_path: Path) -> None:
    cfg = si_config(tmp_path, "self_instruct.target=10")
    run(cfg, FakeBackend())
    first = outputs(cfg.run_dir)
    again = FakeBackend()
    run(cfg, again)
    assert again.calls == [] and outputs(cfg.run_dir) == first
    before = StepFolder(cfg.run_dir / "instructions").shards()

    more = FakeBackend()
    bigger = si_config(tmp_path, "self_instruct.target=40")
    report = run(bigger, more)
    after = StepFolder(bigger.run_dir / "instructions").shards()
    assert after[: len(before)] == before and len(after) > len(before)
    assert report["instructions"]["skipped_shards"] == len(before)
    assert len(asked(more, "instructions")) == 3 * (len(after) - len(before))  # new rounds only
    new_tasks = sum(s.records for s in after[len(before) :])
    assert len(asked(more, "task_type")) == new_tasks  # instances of the new tasks only
    fresh = si_config(tmp_path, "self_instruct.target=40", name="fresh")
    run(fresh, FakeBackend())
    assert outputs(bigger.run_dir) == outputs(fresh.run_dir)


def test_classification_tasks_get_output_first_prompts(tmp_path: Path) -> None:
    cfg = si_config(tmp_path)
    fake = FakeBackend()
    run(cfg, fake)
    label = {}
    for p in step_records(cfg.run_dir, "instances", InstructionPair):
        assert p.meta is not None
        label[p.instruction] = p.meta["is_classification"]
    assert set(label.values()) == {True, False}
    classify = asked(fake, "task_type")[0].messages[-1]["content"]
    assert "Is it classification? Yes" in classify and "Is it classification? No" in classify
    for request in asked(fake, "instances"):
        text = request.messages[-1]["content"]
        instruction = text.rsplit("Task: ", 1)[1].split("\nReply with JSON", 1)[0]
        fields = list(request.response_schema["properties"]["instances"]["items"]["properties"])
        if label[instruction]:
            assert (
                fields == ["output", "input"]
                and "Class label:" in text
                and "first choose a class label" in text
            )
        else:
            assert fields == ["input", "output"] and "Output:" in text and "Class label" not in text


def test_duplicate_and_conflicting_instances_are_dropped(tmp_path: Path) -> None:
    cfg = si_config(
        tmp_path, "self_instruct.target=1", "self_instruct.prompts_per_round=1", "instances.max_instances=5"
    )
    reply = [
        {"input": "a", "output": "1"},
        {"input": "a", "output": "1"},
        {"input": "b", "output": "yes"},
        {"input": "b", "output": "no"},
        {"input": "", "output": "3"},
        {"input": "d", "output": "4"},
    ]
    run(cfg, ScriptedBackend([], instances=reply))
    pairs = step_records(cfg.run_dir, "instances", InstructionPair)
    tasks = step_records(cfg.run_dir, "instructions", Task)
    assert len(pairs) == 2 * len(tasks)
    assert [(p.input, p.response) for p in pairs[:2]] == [("a", "1"), (None, "3")]
    drops = [d for d in removed(cfg.run_dir, "instances") if d.input_id == tasks[0].id]
    assert [(d.reason, d.detail, d.text) for d in drops] == [
        ("duplicate_instance", {"input": "a"}, "1"),
        ("conflicting_instances", {"input": "b"}, "yes"),
        ("conflicting_instances", {"input": "b"}, "no"),
        ("over_max_instances", {"input": "d"}, "4"),
    ]


def test_estimate_counts_the_loop_from_its_settings(tmp_path: Path) -> None:
    cfg = si_config(tmp_path, "self_instruct.target=50")
    rows = {r.stage: r for r in estimate(cfg)}
    assert rows["instructions"].calls == math.ceil(50 / (3 * 4 * 0.5)) * 3
    assert rows["instructions"].prompt_per_call > 50  # a real prompt of eight seed tasks
    assert rows["instances"].calls == 2 * 50 and rows["instances"].counted == "assumed"  # label, instances
    r = CliRunner().invoke(
        app, ["estimate", "--json", "--run-dir", str(cfg.run_dir), "-s", "recipe=self_instruct"]
    )
    assert r.exit_code == 0, r.output
    assert [row["stage"] for row in json.loads(r.output)] == ["instructions", "instances"]


def test_batch_files_make_one_round_at_a_time(tmp_path: Path) -> None:
    cfg = si_config(tmp_path, "llm.model=fake")
    run(cfg, FakeBackend(), ("seed_tasks",))
    exports = 0
    while files := asyncio.run(export_step(cfg, "instructions")):
        exports += 1
        assert not step_done(cfg.run_dir, "instructions")
        results = tmp_path / f"results-{exports}.jsonl"
        lines = []
        for n, row in enumerate(json.loads(x) for f in files for x in f.read_text().splitlines()):
            assert row["body"]["response_format"]["json_schema"]["name"] == "instructions"
            body = completion_body(row["body"], fake_reply(row["body"]), n)
            lines.append(json.dumps(result_line(row["custom_id"], 200, body)) + "\n")
        assert len(lines) == 3  # one round's prompts
        results.write_text("".join(lines))
        import_files(cfg, [results])
    assert exports >= 2 and step_done(cfg.run_dir, "instructions")
    live = si_config(tmp_path, "llm.model=fake", name="live")
    run(live, FakeBackend(), ("seed_tasks", "instructions"))
    assert step_bytes(cfg.run_dir, "instructions") == step_bytes(live.run_dir, "instructions")


def test_recipes_lists_it_and_run_works_through_the_cli(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["recipes"])
    assert r.exit_code == 0
    assert "self_instruct: Self-Instruct" in r.output
    assert any(ln.split()[:3] == ["instructions", "loop", "<-"] for ln in r.output.splitlines())
    with FakeOpenAIServer() as srv:
        cfg = tmp_path / "run.yaml"
        llm = {"backend": "openai", "base_url": srv.base_url, "model": "fake", "api_key_env": None}
        si = {"target": 4, "prompts_per_round": 2, "new_per_prompt": 3}
        settings = {"run_dir": str(tmp_path / "run"), "llm": llm, "self_instruct": si}
        cfg.write_text(json.dumps(settings))
        r = CliRunner().invoke(app, ["run", "--recipe", "self_instruct", "-c", str(cfg), "-q"])
        assert r.exit_code == 0, r.output
        assert step_records(tmp_path / "run", "instances", InstructionPair)
        manifest = orjson.loads((tmp_path / "run" / "manifest.json").read_bytes())
        assert set(STEPS) <= set(manifest["steps"])
    for command in STEPS:  # each step command, its help on one line when the terminal is wide
        r = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "2000"})
        assert r.exit_code == 0, r.output
        doc = " ".join(SELF_INSTRUCT.commands_help[command].split())
        assert doc in [ln.strip(" │") for ln in r.output.splitlines()], r.output


def test_a_bad_seed_file_is_one_line_naming_its_line(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"instruction": "Name a colour."}\n{"instruction": "Name a fruit.",\n')
    sets = ["--run-dir", str(tmp_path / "run"), "-s", f"self_instruct.seed_tasks={seeds}"]
    r = CliRunner().invoke(app, ["run", "--recipe", "self_instruct", *sets, "-q"])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"{seeds}:2" in lines[0] and "Traceback" not in r.output, r.output


KILL_CONFIG = """\
recipe: self_instruct
seed: 0
llm: {{backend: openai, base_url: "{base_url}", model: fake, concurrency: 4, api_key_env: null}}
self_instruct: {{target: 40, prompts_per_round: 3, new_per_prompt: 4}}
"""


def glan(cfg: Path, run_dir: Path) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).parent / "glan"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "glan"]
    args = ["run", "-c", str(cfg), "--run-dir", str(run_dir), "-q"]
    return subprocess.Popen([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def to_end(cfg: Path, run_dir: Path) -> None:
    proc = glan(cfg, run_dir)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode(errors="replace")


def kill_at(server: FakeOpenAIServer, cfg: Path, run_dir: Path, count: int) -> None:
    """Start a run and SIGKILL it once the server has received `count` requests."""
    proc = glan(cfg, run_dir)
    deadline = time.monotonic() + 60
    while server.count < count:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _schema(body: dict[str, Any]) -> str | None:
    return ((body.get("response_format") or {}).get("json_schema") or {}).get("name")


def test_kill_9_in_the_loop_or_the_instances_then_resume(tmp_path: Path) -> None:
    with FakeOpenAIServer(delay=0.05) as server:
        cfg = tmp_path / "run.yaml"
        cfg.write_text(KILL_CONFIG.format(base_url=server.base_url))
        to_end(cfg, tmp_path / "a")
        n = server.count
        loop_calls = sum(_schema(b) == "instructions" for b in server.bodies)
        assert loop_calls >= 9 and n > loop_calls + 40
        expected = outputs(tmp_path / "a")
        # killed in the second round of the loop, then in the middle of the instances
        for name, count in (("b", 5), ("c", loop_calls + (n - loop_calls) // 2)):
            server.reset()
            rd = tmp_path / name
            kill_at(server, cfg, rd, count)
            assert not step_done(rd, "instances")
            assert step_done(rd, "instructions") == (name == "c")
            to_end(cfg, rd)
            bodies = Counter(orjson.dumps(b, option=orjson.OPT_SORT_KEYS) for b in server.bodies)
            assert sum(c - 1 for c in bodies.values()) <= 4, name  # only those in flight at the kill
            assert server.count - n <= 4, name
            assert outputs(rd) == expected, name
            assert not list(rd.rglob("*.partial"))
        server.reset()
        to_end(cfg, tmp_path / "b")  # a finished run: no call at all
        assert server.count == 0 and outputs(tmp_path / "b") == expected


@pytest.mark.slow
def test_real_model_self_instruct(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        [
            f"run_dir={tmp_path}",
            "recipe=self_instruct",
            "llm.model=qwen2.5-coder-0.5b",
            "llm.n_ctx=4096",
            "self_instruct.target=3",
            "self_instruct.max_rounds=4",
            "self_instruct.prompts_per_round=2",
            "self_instruct.new_per_prompt=3",
            "self_instruct.max_tokens=300",
            "instances.max_instances=1",
            "instances.max_tokens=200",
            "max_rerun_attempts=0",  # a reply that never validated is not asked again on the rerun
        ],
    )
    report = run(cfg)
    tasks = step_records(tmp_path, "instructions", Task)
    assert tasks and all(t.origin == "machine" for t in tasks), report
    pairs = step_records(tmp_path, "instances", InstructionPair)
    assert pairs, report
    for p in pairs:
        assert p.instruction in {t.instruction for t in tasks} and p.response.strip()
        assert p.meta is not None and isinstance(p.meta["is_classification"], bool)
    # a rerun makes no LLM call (and so never loads the model), failed jobs included here
    again = run(cfg)
    assert all(step.get("calls", 0) == 0 for step in again.values()), again
