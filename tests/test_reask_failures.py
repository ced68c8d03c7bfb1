"""A reply that never validated is cached; a rerun asks such a job anew with a new attempt
number (another seed and cache key), at most max_rerun_attempts times, and a later rerun replays
those attempts from the cache: same files, no call."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from glan.batch_step import export_step
from glan.cli import app
from glan.config import RunConfig
from glan.llm import openai_compat
from glan.llm.base import ChatRequest
from glan.records import Failure
from tests.fakes import FakeBackend
from tests.helpers import run as run_steps
from tests.helpers import step_bytes, step_failures

STEPS = ("disciplines", "subjects")
FILES = ("subject_samples", "subjects")


@pytest.fixture
def cfg(small_config: RunConfig) -> RunConfig:
    """Two disciplines x two samples: four subject jobs, one call each when they validate."""
    return small_config.model_copy(
        update={"subjects": small_config.subjects.model_copy(update={"mode": "json"})}
    )


def run(cfg: RunConfig, backend: FakeBackend) -> dict:
    return run_steps(cfg, backend, STEPS)


def files(cfg: RunConfig) -> dict[str, bytes]:
    failed = b"".join(p.read_bytes() for p in sorted(cfg.run_dir.glob("*/*.failures.jsonl")))
    return {name: step_bytes(cfg.run_dir, name) for name in FILES} | {"failures": failed}


def failures(cfg: RunConfig) -> list[Failure]:
    return step_failures(cfg.run_dir, "subject_samples")


def test_a_rerun_asks_a_reply_that_never_validated_anew(cfg: RunConfig) -> None:
    garbage = FakeBackend(garbage=True)
    report = run(cfg, garbage)
    assert report["subject_samples"]["failures"] == 4 and len(garbage.calls) == 4 * 3  # + 2 re-asks
    assert [f.attempt for f in failures(cfg)] == [0] * 4
    first_seeds = {c.seed for c in garbage.calls}
    # the server works now; without attempts the rerun would replay the cached garbage
    fixed = FakeBackend()
    report = run(cfg, fixed)
    assert len(fixed.calls) == 4 and report["subject_samples"]["failures"] == 0
    assert all(c.attempt == 1 and c.seed not in first_seeds for c in fixed.calls)
    assert failures(cfg) == [] and report["subjects"]["records"] > 0
    done = files(cfg)
    # a rerun of the finished run: attempts 0 and 1 from the cache, no call, the same bytes
    again = FakeBackend()
    report = run(cfg, again)
    assert again.calls == [] and files(cfg) == done


def test_reasks_are_bounded_and_then_replayed(cfg: RunConfig) -> None:
    cfg = cfg.model_copy(update={"max_rerun_attempts": 2})
    calls = []
    for _ in range(4):  # the first run, then two reruns that ask anew, then one that may not
        fake = FakeBackend(garbage=True)
        report = run(cfg, fake)
        calls.append(len(fake.calls))
    assert calls == [12, 12, 12, 0]
    assert [f.attempt for f in failures(cfg)] == [2] * 4
    assert report["subject_samples"]["given_up"] == 4
    stuck = files(cfg)
    fake = FakeBackend(garbage=True)
    run(cfg, fake)
    assert fake.calls == [] and files(cfg) == stuck


def test_a_transport_failure_is_asked_again_at_the_same_attempt(cfg: RunConfig) -> None:
    flaky = FakeBackend(fail_first=1000)  # every call fails: no reply is cached
    cfg = cfg.model_copy(update={"llm": cfg.llm.model_copy(update={"max_retries": 0, "max_failure_rate": 1})})
    run(cfg, flaky)
    assert [f.attempt for f in failures(cfg)] == [0] * 4 and all(f.raw is None for f in failures(cfg))
    fixed = FakeBackend()
    run(cfg, fixed)
    assert len(fixed.calls) == 4 and all(c.attempt == 0 for c in fixed.calls)


def test_attempt_changes_seed_and_key_but_not_the_first_ask() -> None:
    req = ChatRequest(model="m", messages=[{"role": "user", "content": "q"}], seed=7)
    legacy = orjson.dumps(req.model_dump(exclude={"attempt"}), option=orjson.OPT_SORT_KEYS)
    assert req.key() == hashlib.sha256(legacy).hexdigest()  # caches of earlier runs still hit
    one, two = req.for_attempt(1), req.for_attempt(2)
    assert len({req.key(), one.key(), two.key()}) == 3 and len({req.seed, one.seed, two.seed}) == 3
    assert one == req.for_attempt(1) and req.for_attempt(0) is req  # deterministic
    assert "attempt" not in one.openai_body()  # not an API parameter: the seed carries it


def test_batch_export_holds_the_new_attempts(cfg: RunConfig) -> None:
    garbage = FakeBackend(garbage=True)
    run(cfg, garbage)
    out = asyncio.run(export_step(cfg, "subjects"))
    lines = [orjson.loads(line) for f in out for line in f.read_bytes().splitlines()]
    assert len(lines) == 4
    assert not {line["body"]["seed"] for line in lines} & {c.seed for c in garbage.calls}


def test_cli_exits_1_until_a_rerun_gets_valid_replies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FakeBackend(garbage=True)
    monkeypatch.setattr(openai_compat, "OpenAICompatBackend", lambda *a, **kw: backend)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"run_dir: {tmp_path / 'run'}\ndisciplines: [Physics]\nmax_rerun_attempts: 1\n"
        "subjects: {samples: 2, mode: json}\nsyllabi: {min_sessions: 3, max_sessions: 4}\n"
        "questions: {per_syllabus: 2}\nllm: {backend: openai, base_url: 'http://127.0.0.1:9/v1', model: m}\n"
    )
    codes, outs = [], []
    for _ in range(2):
        r = CliRunner().invoke(app, ["run", "-c", str(cfg), "-q"])
        codes.append(r.exit_code)
        outs.append(r.output.splitlines()[-1])
    assert codes == [1, 1] and all("Traceback" not in o for o in outs)
    assert outs[0].startswith("incomplete: subjects: 2 of 2 jobs failed (see ")
    assert outs[0].endswith("run the same command to ask them again")
    assert "2 on every attempt (max_rerun_attempts)" in outs[1]
    assert outs[1].endswith("raise max_rerun_attempts to ask them again")
    r = CliRunner().invoke(app, ["run", "-c", str(cfg), "-q", "--set", "max_rerun_attempts=2"])
    assert r.exit_code == 1  # still garbage, asked once more
    backend.garbage = False
    r = CliRunner().invoke(app, ["run", "-c", str(cfg), "-q", "--set", "max_rerun_attempts=3"])
    assert r.exit_code == 0 and "done:" in r.output
