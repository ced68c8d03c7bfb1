"""Whole runs against a misbehaving OpenAI-compatible server on 127.0.0.1: the run completes,
every pair that could be produced is produced, failures are recorded, rate limits hold, token
and cost accounting reach the manifest, and a hopeless run stops early."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from glan.config import RunConfig, load_config
from glan.errors import TooManyFailures
from glan.llm.client import FailureBreaker
from glan.recipes.glan import GLAN
from glan.records import InstructionPair, Question
from tests.helpers import run as run_steps
from tests.helpers import step_done, step_failures, step_records
from tests.http_fakes import FakeOpenAIServer
from tests.test_rate_limits import most_in_window

GEN_STEPS = tuple(GLAN.commands_help)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


def config(tmp_path: Path, base_url: str, *sets: str) -> RunConfig:
    return load_config(
        None,
        [
            f"run_dir={tmp_path / 'run'}",
            "disciplines=[Physics]",
            "llm.backend=openai",
            f"llm.base_url={base_url}",
            "llm.model=fake",
            "llm.api_key_env=null",
            "llm.concurrency=8",
            "subjects.mode=json",
            "subjects.samples=2",
            "syllabi.min_sessions=3",
            "syllabi.max_sessions=4",
            "questions.per_syllabus=3",
            *sets,
        ],
    )


def run(cfg: RunConfig, steps: tuple[str, ...] = GEN_STEPS) -> dict:
    return run_steps(cfg, None, steps)


def test_misbehaving_server_run_completes_within_rate_limit(tmp_path: Path, server: FakeOpenAIServer) -> None:
    # Every other request of the first 40 misbehaves; 20 requests a second at most.
    bad = ["429:0.05", "500", "drop", "truncated", "503", "not_json", "garbage", "429ms:20"]
    server.misbehave(*[b for i in range(20) for b in ("ok", bad[i % len(bad)])])
    cfg = config(tmp_path, server.base_url, "llm.rpm=1200", "prices={fake: {input: 2.0, output: 8.0}}")
    report = run(cfg)
    rd = cfg.run_dir
    questions = step_records(rd, "questions", Question)
    pairs = step_records(rd, "answers", InstructionPair)
    assert len(questions) >= 6 and len(pairs) == len(questions)  # everything produced
    assert not any(rd.glob("*/*.failures.jsonl")) or all(
        p.stat().st_size == 0 for p in rd.glob("*/*.failures.jsonl")
    )
    assert most_in_window([(t, 1.0) for t in server.times], 1.0) <= 20 + 20 + 1
    # accounting: tokens and cost per stage and model, in the report and the manifest
    manifest = orjson.loads((rd / "manifest.json").read_bytes())
    usage = manifest["usage"]
    assert set(usage) >= {"subject_samples", "syllabi", "questions", "answers"}
    answers = usage["answers"]["fake"]
    assert answers["calls"] == report["answers"]["calls"] == len(pairs)
    assert answers["prompt_tokens"] > 0 and answers["completion_tokens"] > 0
    expected = (answers["prompt_tokens"] * 2.0 + answers["completion_tokens"] * 8.0) / 1e6
    assert answers["cost_usd"] == pytest.approx(expected, rel=1e-6)
    assert manifest["steps"]["answers"]["models"]["fake"]["cost_usd"] == pytest.approx(expected, rel=1e-6)
    # a rerun makes no call; usage adds up invocations, so it stays what was spent
    count = server.count
    run(cfg)
    assert server.count == count
    again = orjson.loads((rd / "manifest.json").read_bytes())
    assert again["usage"]["answers"]["fake"] == answers
    assert again["steps"]["answers"]["calls"] == 0 and again["steps"]["answers"]["records"] == len(pairs)


def test_failures_are_recorded_and_filled_in_on_resume(tmp_path: Path, server: FakeOpenAIServer) -> None:
    cfg = config(tmp_path, server.base_url, "llm.max_retries=0", "llm.max_failure_rate=1")
    run(cfg, ("disciplines", "subjects", "syllabi", "questions"))
    rd = cfg.run_dir
    n = len(step_records(rd, "questions", Question))
    server.misbehave("500", "ok", "drop", "ok", "503")  # three answers fail, no retries
    run(cfg, ("answers",))
    pairs = step_records(rd, "answers", InstructionPair)
    failures = step_failures(rd, "answers")
    assert len(failures) == 3 and len(pairs) == n - 3
    assert all(f.stage == "answers" and f.request_key for f in failures)
    before = server.count
    run(cfg, ("answers",))  # the failed ones are asked again, and only they
    assert len(step_records(rd, "answers", InstructionPair)) == n
    assert server.count - before == 3


def test_wrong_model_stops_the_run_early(tmp_path: Path, server: FakeOpenAIServer) -> None:
    cfg = config(tmp_path, server.base_url, "questions.per_syllabus=12")
    run(cfg, ("disciplines", "subjects", "syllabi", "questions"))
    n = len(step_records(cfg.run_dir, "questions", Question))
    assert n >= 36
    server.misbehave(*["404"] * 1000)  # "the model does not exist", for every request
    before = server.count
    with pytest.raises(TooManyFailures, match="the first LLM call failed: HTTP 404"):
        run(cfg, ("answers",))
    assert server.count - before <= 8  # what was in flight (concurrency 8) when the first failed
    assert not step_done(cfg.run_dir, "answers")  # nothing half-written in its place


def test_breaker_needs_most_calls_to_fail() -> None:
    b = FailureBreaker(max_rate=0.5, window=20, min_failures=5)
    for _ in range(30):  # one call in three fails: the run goes on
        b.success()
        b.success()
        b.failure("HTTP 500")
    for _ in range(4):
        b.failure("HTTP 500")
    with pytest.raises(TooManyFailures, match="of the last 20"):
        for _ in range(20):
            b.failure("HTTP 500")
    never = FailureBreaker(max_rate=1.0, window=20, min_failures=5)
    for _ in range(100):
        never.failure("x")


def test_requests_sharing_a_syllabus_go_out_together(tmp_path: Path, server: FakeOpenAIServer) -> None:
    """Questions of one syllabus share its text as their prompt prefix: sent back to back, a
    server with prefix caching computes that prefix once."""
    cfg = config(tmp_path, server.base_url, "questions.per_syllabus=6", "llm.concurrency=4")
    run(cfg, ("disciplines", "subjects", "syllabi"))
    server.reset()
    run(cfg, ("questions",))
    prefixes = [b["messages"][0]["content"] for b in server.bodies]
    assert len(prefixes) >= 12 and len(set(prefixes)) >= 2
    switches = sum(a != b for a, b in zip(prefixes, prefixes[1:], strict=False))
    assert switches == len(set(prefixes)) - 1  # each syllabus's requests in one run
