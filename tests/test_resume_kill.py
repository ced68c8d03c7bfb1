"""`kill -9` (and SIGTERM) in the middle of `glan run` against an HTTP backend, then resume.

The resumed run must write exactly what an uninterrupted run writes, repeat no finished call
(only the ones in flight at the kill are lost), and a further rerun must make no call at all.
The manifest's usage counts every answer the run received, whatever was killed on the way.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import step_bytes, step_done
from tests.http_fakes import FakeOpenAIServer

CONCURRENCY = 4
KEY_ENV = "GLAN_TEST_KEY"
SECRET = "sk-glan-kill-" + secrets.token_hex(12)
COMPARED = ("disciplines", "subject_drafts", "subject_samples", "subjects", "syllabi", "questions", "answers")

CONFIG = """\
seed: 0
taxonomy: builtin
disciplines: [Physics, Chemistry]
llm:
  backend: openai
  base_url: {base_url}
  model: fake
  concurrency: {concurrency}
  api_key_env: {key_env}
subjects:
  mode: two_call
  samples: 2
syllabi:
  min_sessions: 3
  max_sessions: 5
questions:
  per_syllabus: 3
"""


def glan_command() -> list[str]:
    script = Path(sys.executable).parent / "glan"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from glan.cli import main; main()"]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(delay=0.05, api_key=SECRET) as srv:
        yield srv


def start(cfg: Path, run_dir: Path, key: str = SECRET) -> subprocess.Popen[bytes]:
    env = {**os.environ, KEY_ENV: key}
    return subprocess.Popen(
        [*glan_command(), "run", "-c", str(cfg), "--run-dir", str(run_dir), "-q"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def run_to_end(cfg: Path, run_dir: Path) -> None:
    proc = start(cfg, run_dir)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode(errors="replace")


def usage_calls(run_dir: Path) -> int:
    usage = json.loads((run_dir / "manifest.json").read_text())["usage"]
    return sum(u["calls"] for models in usage.values() for u in models.values())


def wait_for(server: FakeOpenAIServer, proc: subprocess.Popen[bytes], count: int) -> None:
    deadline = time.monotonic() + 60
    while server.count < count:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run made too few requests"
        time.sleep(0.005)


def test_kill_9_then_resume(server: FakeOpenAIServer, tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(CONFIG.format(base_url=server.base_url, concurrency=CONCURRENCY, key_env=KEY_ENV))

    # (a) uninterrupted
    a = tmp_path / "a"
    run_to_end(cfg, a)
    n = server.count
    assert n > 40, n  # enough calls that the kill lands mid-run
    assert server.ok_count == n  # no misbehaviour: every call answered once
    assert all(h == f"Bearer {SECRET}" for h in server.auth_headers)
    expected = {name: step_bytes(a, name) for name in COMPARED}
    assert all(p.stat().st_size == 0 for p in a.glob("*/*.failures.jsonl"))
    assert expected["answers"].count(b"\n") > 10

    # (b) killed about halfway, then resumed
    assert usage_calls(a) == n
    server.reset()
    b = tmp_path / "b"
    proc = start(cfg, b)
    wait_for(server, proc, n // 2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = server.count
    assert killed_at < n
    assert not step_done(b, "answers")  # it really died before the end

    run_to_end(cfg, b)
    spent = server.count
    lost = spent - n
    assert 0 <= lost <= CONCURRENCY, f"uninterrupted {n}, killed at {killed_at}, resumed total {spent}"
    for name in COMPARED:
        assert step_bytes(b, name) == expected[name], name
    assert not list(b.glob("**/*.partial"))
    assert all(p.stat().st_size == 0 for p in b.glob("*/*.failures.jsonl"))
    assert usage_calls(b) == n  # every answer stored, the killed run's too (lost: those in flight)

    # (c) a third run makes no call (every step is finished: skipped unread)
    server.reset()
    run_to_end(cfg, b)
    assert server.count == 0
    for name in COMPARED:
        assert step_bytes(b, name) == expected[name], name

    # the API key is in no file of either run
    for p in [*a.rglob("*"), *b.rglob("*")]:
        if p.is_file():
            assert SECRET.encode() not in p.read_bytes(), p


def test_sigterm_stops_like_ctrl_c_and_writes_the_manifest(server: FakeOpenAIServer, tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(CONFIG.format(base_url=server.base_url, concurrency=CONCURRENCY, key_env=KEY_ENV))
    rd = tmp_path / "run"
    proc = start(cfg, rd)
    wait_for(server, proc, 20)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    text = err.decode(errors="replace")
    assert proc.returncode == 130, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted: finished calls are cached"), text
    answered = server.ok_count
    assert answered - CONCURRENCY <= usage_calls(rd) <= answered  # in flight at the stop: not stored
    assert not list(rd.rglob("*.partial"))
    run_to_end(cfg, rd)  # and it resumes


def test_wrong_key_stops_the_run_cleanly(server: FakeOpenAIServer, tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(CONFIG.format(base_url=server.base_url, concurrency=CONCURRENCY, key_env=KEY_ENV))
    wrong = "sk-wrong-" + secrets.token_hex(8)
    proc = start(cfg, tmp_path / "run", key=wrong)
    _, err = proc.communicate(timeout=60)
    text = err.decode(errors="replace")
    assert proc.returncode == 2, text
    assert text.startswith("error: HTTP 401") and "check the API key" in text, text
    assert wrong not in text and SECRET not in text
    assert server.count <= CONCURRENCY, server.count  # an auth failure is not retried
    assert not step_done(tmp_path / "run", "subjects")
    assert "Traceback" not in text and "never retrieved" not in text
