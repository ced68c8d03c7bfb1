"""Exit codes of a run (0 complete, 1 incomplete, 2 usage or a run that cannot proceed, 130
interrupted) and the early stop: a wrong URL, host, model or key, or a server that is down,
ends the run within its first calls with one line naming the error."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from glan.cli import app
from glan.errors import FatalBackendError, TransientBackendError
from glan.llm.base import ChatRequest
from glan.llm.openai_compat import OpenAICompatBackend
from glan.recipes.glan import GLAN
from glan.steps import incomplete
from glan.store import RunDir
from tests.helpers import step_bytes, step_done, step_failures
from tests.http_fakes import FakeOpenAIServer

SECRET = "sk-glan-wrong-0123456789abcdef"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def glan_run(tmp_path: Path, base_url: str, *, samples: int = 20, **llm: object) -> tuple[int, str]:
    """`glan run` on one discipline, `samples` subject calls first; exit code and output."""
    settings = {
        "run_dir": str(tmp_path / "run"),
        "disciplines": ["Physics"],
        "subjects": {"samples": samples, "mode": "json"},
        "syllabi": {"min_sessions": 3, "max_sessions": 4},
        "questions": {"per_syllabus": 2},
        "llm": {"backend": "openai", "base_url": base_url, "model": "fake", "api_key_env": None}
        | {"concurrency": 2, **llm},
    }
    cfg = tmp_path / "run.yaml"
    cfg.write_text(json.dumps(settings))  # JSON is YAML
    r = CliRunner().invoke(app, ["run", "-c", str(cfg), "-q"])
    return r.exit_code, r.output


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("404", "the first LLM call failed: HTTP 404 from http://127.0.0.1:"),
        ("not_json", "answered text/html that is not a chat completion"),
    ],
)
def test_wrong_model_or_a_web_page_stops_at_the_first_call(
    tmp_path: Path, server: FakeOpenAIServer, behaviour: str, message: str
) -> None:
    server.misbehave(*[behaviour] * 100)
    code, out = glan_run(tmp_path, server.base_url)  # 20 jobs, 5 retries each by default
    assert code == 2 and message in one_line(out) and "stopping:" in out
    assert server.count <= 2  # what was in flight (concurrency 2): no retry, no other job
    assert not step_done(tmp_path / "run", "subject_samples")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"http://127.0.0.1:{closed_port()}/v1", "connection refused (is the server running?)"),
        ("http://glan-test-host.invalid/v1", "unknown host 'glan-test-host.invalid'"),
    ],
)
def test_server_down_or_unknown_host_stops_at_once(tmp_path: Path, url: str, message: str) -> None:
    code, out = glan_run(tmp_path, url)  # default max_retries 5: none of them is spent
    line = one_line(out)
    assert code == 2 and "stopping: the first LLM call failed: cannot connect to" in line
    assert message in line and "done" not in out


def test_wrong_key_stops_at_once_and_is_not_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLAN_TEST_KEY", SECRET)
    with FakeOpenAIServer(api_key="sk-the-right-one") as srv:
        code, out = glan_run(tmp_path, srv.base_url, api_key_env="GLAN_TEST_KEY")
        assert srv.count <= 2
    assert code == 2 and "HTTP 401" in one_line(out) and "check the API key" in out
    assert SECRET not in out


def test_the_same_error_on_the_first_calls_stops_the_run(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.misbehave(*["400"] * 100)  # not clearly fatal alone (one bad request), but every one
    code, out = glan_run(tmp_path, server.base_url, concurrency=1)
    assert code == 2 and "the first 3 LLM calls failed: HTTP 400" in one_line(out)
    assert server.count == 3


def test_a_run_with_fewer_jobs_stops_when_all_failed_alike(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.misbehave(*["400"] * 100)
    code, out = glan_run(tmp_path, server.base_url, samples=2, concurrency=1)
    assert code == 2 and "the first 2 LLM calls failed: HTTP 400" in one_line(out)
    assert server.count == 2


async def test_a_refused_connection_is_retried_once_the_server_has_answered() -> None:
    backend = OpenAICompatBackend(f"http://127.0.0.1:{closed_port()}/v1", "m", api_key_env=None)
    request = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
    try:
        with pytest.raises(FatalBackendError, match="connection refused"):
            await backend.chat(request)
        backend.answered = True  # a server that worked and then dropped out: worth retrying
        with pytest.raises(TransientBackendError, match="connection refused"):
            await backend.chat(request)
    finally:
        await backend.aclose()


async def test_one_dead_endpoint_of_two_is_not_fatal(server: FakeOpenAIServer) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    backend = OpenAICompatBackend([dead, server.base_url], "m", api_key_env=None)
    request = ChatRequest(model="m", messages=[{"role": "user", "content": "hi"}])
    try:
        backend._turn = -1  # the dead one first
        with pytest.raises(TransientBackendError, match="connection refused"):
            await backend.chat(request)  # the other endpoint may answer: rested, retried there
        assert (await backend.chat(request)).text
    finally:
        await backend.aclose()


def test_failed_jobs_exit_1_without_done_and_a_rerun_completes(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    server.misbehave("ok", "500", "ok", "500")  # two of four subject calls fail for good
    code, out = glan_run(tmp_path, server.base_url, samples=4, concurrency=1, max_retries=0)
    failures = f"{tmp_path / 'run' / 'subject_samples'}/*.failures.jsonl"
    line = out.splitlines()[-1]  # after the step's own note on its failures
    assert code == 1 and "done" not in out and "Traceback" not in out
    assert line == (
        f"incomplete: subjects: 2 of 4 jobs failed (see {failures}); run the same command to ask them again"
    )
    assert len(step_failures(tmp_path / "run", "subject_samples")) == 2
    assert step_bytes(tmp_path / "run", "answers")  # what could be made was made
    code, out = glan_run(tmp_path, server.base_url, samples=4, concurrency=1, max_retries=0)
    assert code == 0 and "done:" in out and "incomplete" not in out
    assert step_failures(tmp_path / "run", "subject_samples") == []


def test_incomplete_names_each_stage_and_what_a_rerun_does(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    stage = {"inputs": 4, "jobs": 8, "records": 6, "failures": 0, "given_up": 0}
    assert incomplete({"syllabi": stage, "syllabi_wall": {"wall_s": 1.0}}, run.stage, GLAN) is None
    nothing = {**stage, "records": 0}  # no failure recorded, yet nothing came out of 4 inputs
    assert (
        incomplete({"subject_samples": nothing}, run.stage, GLAN)
        == "incomplete: subjects: no records from 4 inputs"
    )
    failed = {**stage, "records": 5, "failures": 3, "given_up": 3}
    summary = incomplete({"answers": failed}, run.stage, GLAN)
    assert summary == (
        "incomplete: answers: 3 of 8 jobs failed, 3 on every attempt (max_rerun_attempts); "
        "raise max_rerun_attempts to ask them again"
    )
    run.stage("answers").mkdir()
    summary = incomplete({"answers": {**failed, "given_up": 1}, "questions": nothing}, run.stage, GLAN)
    assert summary == (
        f"incomplete: answers: 3 of 8 jobs failed, 1 on every attempt (max_rerun_attempts) "
        f"(see {run.stage('answers')}/*.failures.jsonl); questions: no records from 4 inputs; "
        "run the same command to ask them again"
    )


def test_interrupted_run_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def interrupted(self: object, request: ChatRequest) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(OpenAICompatBackend, "chat", interrupted)
    code, out = glan_run(tmp_path, "http://127.0.0.1:9/v1")
    assert code == 130 and "interrupted" in one_line(out)
