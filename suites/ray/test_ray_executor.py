"""`executor: ray` on a local Ray cluster: the same records as the local executor, resume,
misbehaving and real servers, a worker killed mid-step, errors in one line."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from glan.config import BudgetConfig, RunConfig, load_config
from glan.records import InstructionPair
from tests.helpers import run as run_fake
from tests.helpers import step_bytes, step_failures, step_records
from tests.http_fakes import FakeOpenAIServer
from tests.test_evol import TASKS
from tests.test_run_faults import config, run

ray = pytest.importorskip("ray", reason="Ray is not installed: bash suites/ray/run.sh sets it up")
ROOT = Path(__file__).resolve().parents[2]
STEPS = ("subject_samples", "subjects", "syllabi", "questions", "answers")
LLAMA_KEY = "GLAN_TEST_LLAMA_KEY"
ON_RAY = ("executor=ray", "ray.actors=2", "ray.batch_size=4", "ray.actor_cpus=0.25")


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    """One local cluster for the in-process runs (the executor joins a cluster that is up and
    leaves it up); the `glan run` subprocesses start their own."""
    os.environ[LLAMA_KEY] = "sk-glan-test-" + secrets.token_hex(8)  # before the workers start
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


def bodies(server: FakeOpenAIServer) -> Counter[str]:
    return Counter(json.dumps(b, sort_keys=True) for b in server.bodies)


def test_same_records_as_the_local_executor_and_a_rerun_calls_nothing(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    local = config(tmp_path / "local", server.base_url)
    run(local)
    asked = bodies(server)
    server.reset()
    remote = config(tmp_path / "ray", server.base_url, *ON_RAY)
    report = run(remote)
    assert bodies(server) == asked  # the same calls, each once
    for step in STEPS:
        assert step_bytes(remote.run_dir, step) == step_bytes(local.run_dir, step), step
    assert (
        report["answers"]["calls"]
        == report["answers"]["jobs"]
        == len(step_records(remote.run_dir, "answers", InstructionPair))
    )
    server.reset()
    again = run(remote)
    assert server.count == 0 and again["answers"]["calls"] == 0


def test_a_run_switches_executors_between_invocations(tmp_path: Path, server: FakeOpenAIServer) -> None:
    local = config(tmp_path / "local", server.base_url)
    run(local)
    server.reset()
    half = config(tmp_path / "half", server.base_url)
    run(half, ("disciplines", "subjects", "syllabi", "questions"))  # here; the answers on Ray
    before = server.count
    remote = half.model_copy(update={"executor": "ray", "ray": half.ray.model_copy(update={"actors": 2})})
    report = run(remote)
    assert server.count - before == report["answers"]["calls"] > 0
    assert report["questions"]["calls"] == 0  # finished shards are skipped, whoever made them
    assert step_bytes(half.run_dir, "answers") == step_bytes(local.run_dir, "answers")


def test_misbehaving_server(tmp_path: Path, server: FakeOpenAIServer) -> None:
    bad = ["429:0.05", "500", "drop", "truncated", "503", "not_json", "garbage", "429ms:20"]
    local = config(tmp_path / "local", server.base_url)
    run(local)
    server.reset()
    server.misbehave(*[b for i in range(16) for b in ("ok", bad[i % len(bad)])])
    remote = config(tmp_path / "ray", server.base_url, *ON_RAY, "llm.max_retries=8")
    run(remote)
    assert not server.script  # every misbehaviour was served
    for step in STEPS:
        assert step_bytes(remote.run_dir, step) == step_bytes(local.run_dir, step), step
        assert not step_failures(remote.run_dir, step)


@pytest.mark.parametrize("recipe", ["evol_instruct", "self_instruct"])
def test_other_recipes_match_the_local_executor(
    recipe: str, tmp_path: Path, server: FakeOpenAIServer
) -> None:
    """Evol-Instruct's jobs are chains of follow-ups (each looked up in the cache before it is
    sent); Self-Instruct's rounds are a loop step, each round a stage on the cluster."""
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    sets = {
        "evol_instruct": [f"evolve.instructions={tasks}", "evolve.rounds=2"],
        "self_instruct": [
            f"self_instruct.seed_tasks={tasks}",
            "self_instruct.target=8",
            "self_instruct.prompts_per_round=3",
            "self_instruct.human_per_prompt=2",
            "self_instruct.machine_per_prompt=1",
        ],
    }[recipe]

    def made(where: str, *more: str) -> RunConfig:
        cfg = load_config(None, [f"run_dir={tmp_path / where}", f"recipe={recipe}", "llm.backend=openai",
                                 f"llm.base_url={server.base_url}", "llm.model=fake", "llm.api_key_env=null",
                                 "llm.concurrency=4", *sets, *more])  # fmt: skip
        run_fake(cfg)
        return cfg

    local = made("local")
    asked = bodies(server)
    server.reset()
    remote = made("ray", *ON_RAY)
    assert bodies(server) == asked
    for step in sorted(p.name for p in local.run_dir.iterdir() if (p / "_step.json").is_file()):
        assert step_bytes(remote.run_dir, step) == step_bytes(local.run_dir, step), step


def test_a_worker_killed_mid_step_repeats_no_finished_call(tmp_path: Path) -> None:
    """`glan run` on Ray; one worker actor gets SIGKILL while the answers are being made. Ray
    restarts it and runs its batch again: the calls it had finished come from the cache, only
    the one in flight (a slot per actor) may be asked again; the answers are what a local run
    makes."""
    with FakeOpenAIServer(delay=0.15) as server:
        local = config(tmp_path / "local", server.base_url, "questions.per_syllabus=6")
        run(local)
        asked = bodies(server)
        total = server.count
        server.reset()
        cfg_file = tmp_path / "ray.yaml"
        cfg_file.write_text(
            "\n".join(
                [
                    f"run_dir: {tmp_path / 'ray'}",
                    "disciplines: [Physics]",
                    f"llm: {{backend: openai, base_url: '{server.base_url}', model: fake, api_key_env: null,"
                    " concurrency: 2}",
                    "subjects: {mode: json, samples: 2}",
                    "syllabi: {min_sessions: 3, max_sessions: 4}",
                    "questions: {per_syllabus: 6}",
                    "executor: ray",
                    "ray: {actors: 2, batch_size: 4, actor_cpus: 0.25}",
                ]
            )
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "glan", "run", "-c", str(cfg_file), "-q"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        killed: list[int] = []

        def kill_a_worker() -> None:
            while proc.poll() is None and not killed:
                if server.count >= total - 12:  # inside the answers, the last step
                    pids = workers()
                    if pids:
                        os.kill(pids[0], signal.SIGKILL)
                        killed.append(pids[0])
                        return
                time.sleep(0.01)

        watcher = threading.Thread(target=kill_a_worker)
        watcher.start()
        try:
            out, err = proc.communicate(timeout=600)
        finally:
            proc.kill()
            watcher.join()
        assert proc.returncode == 0, err[-2000:]
        assert killed, "no worker actor was found to kill"
        again = bodies(server)
        assert set(again) == set(asked)  # every call made, none of another run's
        repeated = sum(n - 1 for n in again.values())
        assert repeated <= 1, f"{repeated} calls were asked twice (one slot per actor was in flight)"
        assert step_bytes(tmp_path / "ray", "answers") == step_bytes(local.run_dir, "answers")


def workers() -> list[int]:
    """The pids of the stage worker actors (Ray names their processes after the class)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if proc.name.isdigit() and b"MapBatches(StageWorker)" in cmd:
            pids.append(int(proc.name))
    return sorted(pids)


def test_a_server_that_refuses_every_call_stops_the_run_in_one_line(tmp_path: Path) -> None:
    with FakeOpenAIServer(api_key="right") as server:
        cfg_file = tmp_path / "ray.yaml"
        cfg_file.write_text(
            f"run_dir: {tmp_path / 'run'}\ndisciplines: [Physics]\nexecutor: ray\n"
            f"llm: {{backend: openai, base_url: '{server.base_url}', model: fake, api_key_env: WRONG_KEY}}\n"
        )
        done = subprocess.run(
            [sys.executable, "-m", "glan", "run", "-c", str(cfg_file), "-q"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "WRONG_KEY": "wrong"},
        )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "HTTP 401" in done.stderr and "API key" in done.stderr
    assert "wrong" not in done.stderr  # the key itself is never shown


def test_an_unreachable_cluster_is_a_config_error(tmp_path: Path) -> None:
    cfg_file = tmp_path / "ray.yaml"
    cfg_file.write_text(
        f"run_dir: {tmp_path / 'run'}\ndisciplines: [Physics]\nexecutor: ray\n"
        "ray: {address: '127.0.0.1:9'}\nsubjects: {mode: json, samples: 1}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "glan", "run", "-c", str(cfg_file), "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "ray.address" in done.stderr
    assert not (tmp_path / "run" / "disciplines").exists()  # checked before any step wrote


def test_a_recipe_on_ray_against_a_real_llama_cpp_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded model's llama.cpp server, listening on loopback with an API key, answers
    the workers' HTTP calls (two slots, one per actor)."""
    from glan.errors import ConfigError
    from glan.llm.local import LocalBackend

    try:  # one thread each: llama.cpp's threads spin at barriers on a busy 2-core machine
        llama = LocalBackend(
            "qwen2.5-coder-0.5b", n_ctx=4096, parallel=2, threads=1, api_key=os.environ[LLAMA_KEY]
        )
    except ConfigError as e:  # the model pack is not installed
        pytest.skip(str(e))
    try:
        cfg = load_config(None, [
            f"run_dir={tmp_path / 'run'}", "disciplines=[Astronomy]", "llm.backend=openai",
            f"llm.base_url={llama.base_url}", "llm.model=qwen2.5-coder-0.5b",
            f"llm.api_key_env={LLAMA_KEY}", "llm.concurrency=2", "subjects.mode=json",
            "subjects.samples=1", "subjects.max_per_discipline=1", "subjects.max_tokens=600",
            "syllabi.min_sessions=3", "syllabi.max_sessions=5", "syllabi.max_tokens=900",
            "questions.per_syllabus=2", "questions.max_tokens=150", "answers.max_tokens=120", *ON_RAY,
        ])  # fmt: skip
        report = run_fake(cfg)
        pairs = step_records(cfg.run_dir, "answers", InstructionPair)
        assert 1 <= len(pairs) <= 2, report
        for p in pairs:
            assert p.discipline == "Astronomy" and len(p.instruction) > 10 and p.response.strip()
            assert p.answer_model == "qwen2.5-coder-0.5b"
        assert report["answers"]["calls"] == len(pairs) and report["answers"]["completion_tokens"] > 0
        again = run_fake(cfg)
        assert all(step.get("calls", 0) == 0 for step in again.values()), again
    finally:
        import asyncio

        asyncio.run(llama.aclose())


def test_a_budget_stops_the_workers_and_a_higher_one_finishes(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    """Each actor checks its share of what the run may still spend; the run stops before the
    budget is passed, and the same run with no budget asks only what was not answered."""
    from glan.errors import BudgetExceeded
    from glan.llm.cache import usage_of

    local = config(tmp_path / "local", server.base_url)
    run(local)
    asked = bodies(server)
    used = sum(
        u["prompt_tokens"] + u["completion_tokens"]
        for models in usage_of(local.run_dir / "cache.sqlite")[1].values()
        for u in models.values()
    )
    server.reset()
    remote = config(tmp_path / "ray", server.base_url, *ON_RAY, f"budget.tokens={used // 2}")
    with pytest.raises(BudgetExceeded, match="budget.tokens"):
        run(remote)
    spent = usage_of(remote.run_dir / "cache.sqlite")[1]
    assert (
        sum(u["prompt_tokens"] + u["completion_tokens"] for m in spent.values() for u in m.values())
        <= used // 2
    )
    run(remote.model_copy(update={"budget": BudgetConfig()}))
    assert bodies(server) == asked  # every call once, across the two invocations
