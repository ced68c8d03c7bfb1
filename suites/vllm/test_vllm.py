"""glan through real vLLM (CPU, the 0.5B pack's weights): the OpenAI-compatible server with
prefix caching, and the batch-file round trip through `run_batch`.

One server serves the module: it makes a small GLAN run up to the syllabi once; each test
works on its own copy of that run dir."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import KEY_ENV, SERVED_NAME
from vllm_proc import VLLMServer, run_batch

from glan.config import RunConfig, load_config
from glan.records import InstructionPair, Question, Syllabus
from tests.helpers import run, step_failures, step_records

UPSTREAM = ("disciplines", "subjects", "syllabi")
PER_SYLLABUS = 4
REQUESTS = "vllm:request_success_total"  # finished requests, summed over finish reasons
PREFIX_HITS = "vllm:prefix_cache_hits_total"  # prompt tokens served from the prefix cache
PREFIX_QUERIES = "vllm:prefix_cache_queries_total"
CPU_BLOCK = 128  # tokens per KV cache block on CPU: the prefix cache holds whole blocks


def write_config(path: Path, run_dir: Path, base_url: str) -> RunConfig:
    settings = {
        "run_dir": str(run_dir),
        "disciplines": ["Astronomy"],
        "llm": {
            "backend": "openai",
            "base_url": base_url,
            "model": SERVED_NAME,
            "api_key_env": KEY_ENV,
            # all of a syllabus' questions at once: vLLM batches them, and they share its prefix
            "concurrency": PER_SYLLABUS,
            "adaptive": False,
        },
        # one subject, a short syllabus, short replies: the CPU makes ~4-20 tokens a second
        "subjects": {"mode": "json", "samples": 1, "max_per_discipline": 1, "max_tokens": 400},
        "syllabi": {"min_sessions": 2, "max_sessions": 3, "max_tokens": 500},
        "questions": {"per_syllabus": PER_SYLLABUS, "max_tokens": 100},
        "answers": {"max_tokens": 48},
    }
    path.write_text(json.dumps(settings))  # JSON is YAML
    return load_config(path, [])


def calls(report: dict) -> int:
    return sum(step.get("calls", 0) for step in report.values())


def copy_run(src: RunConfig, dest: Path, base_url: str) -> tuple[Path, RunConfig]:
    shutil.copytree(src.run_dir, dest / "run")
    path = dest / "run.yaml"
    return path, write_config(path, dest / "run", base_url)


@pytest.fixture(scope="module")
def syllabi_run(server: VLLMServer, api_key: str, tmp_path_factory: pytest.TempPathFactory) -> RunConfig:
    """A run dir with syllabi, every call made by the vLLM server."""
    server.start()
    folder = tmp_path_factory.mktemp("syllabi")
    cfg = write_config(folder / "run.yaml", folder / "run", server.base_url)
    before = server.metrics()[REQUESTS]
    report = run(cfg, steps=UPSTREAM)
    assert calls(report) == server.metrics()[REQUESTS] - before > 0, report
    assert step_records(cfg.run_dir, "syllabi", Syllabus), report
    return cfg


def test_a_run_through_the_vllm_server(server: VLLMServer, syllabi_run: RunConfig, tmp_path: Path) -> None:
    server.start()
    _, cfg = copy_run(syllabi_run, tmp_path, server.base_url)
    syllabi = step_records(cfg.run_dir, "syllabi", Syllabus)
    m0 = server.metrics()
    questions = run(cfg, steps=("questions",))
    m1 = server.metrics()
    # the questions of one syllabus share its text as their prompt's prefix and go out together
    hits, queries = m1[PREFIX_HITS] - m0[PREFIX_HITS], m1[PREFIX_QUERIES] - m0[PREFIX_QUERIES]
    print(f"prefix cache over the questions step: {hits:.0f} of {queries:.0f} prompt tokens hit")
    # each later question of a syllabus reuses at least its first cached block of the prefix
    assert hits >= (PER_SYLLABUS - 1) * len(syllabi) * CPU_BLOCK and queries > hits
    assert questions["questions"]["calls"] == len(syllabi) * PER_SYLLABUS
    answers = run(cfg, steps=("answers",))
    m2 = server.metrics()
    assert calls(questions) + calls(answers) == m2[REQUESTS] - m0[REQUESTS]  # every call went to vLLM
    pairs = step_records(cfg.run_dir, "answers", InstructionPair)
    assert pairs and len(pairs) == len(step_records(cfg.run_dir, "questions", Question))
    for p in pairs:
        assert p.discipline == "Astronomy" and len(p.instruction) > 10 and p.response.strip()
        assert p.question_model == p.answer_model == SERVED_NAME
    # a rerun of the finished run makes no call
    again = run(cfg)
    assert calls(again) == 0 and server.metrics()[REQUESTS] == m2[REQUESTS], again


def test_the_ray_executor_drives_the_vllm_server(
    server: VLLMServer, syllabi_run: RunConfig, tmp_path: Path
) -> None:
    """The questions and answers on a local Ray cluster: two worker actors share the server's
    concurrency; every call reaches vLLM once, and a rerun makes none."""
    ray = pytest.importorskip("ray", reason="Ray is not installed in the vLLM venv (run.sh installs it)")
    server.start()
    _, base = copy_run(syllabi_run, tmp_path, server.base_url)
    on_ray = {"executor": "ray", "ray": base.ray.model_copy(update={"actors": 2, "batch_size": 2})}
    cfg = base.model_copy(update=on_ray)
    syllabi = step_records(cfg.run_dir, "syllabi", Syllabus)
    m0 = server.metrics()
    try:
        report = run(cfg, steps=("questions", "answers"))
    finally:
        ray.shutdown()
    m1 = server.metrics()
    questions = report["questions"]  # the 0.5B model's invalid replies are asked again
    assert questions["jobs"] == len(syllabi) * PER_SYLLABUS
    assert questions["calls"] == questions["jobs"] + questions["reasks"], questions
    assert calls(report) == m1[REQUESTS] - m0[REQUESTS]  # every call went to vLLM, once
    pairs = step_records(cfg.run_dir, "answers", InstructionPair)
    assert pairs and len(pairs) == len(step_records(cfg.run_dir, "questions", Question))
    assert all(p.answer_model == SERVED_NAME and p.response.strip() for p in pairs)
    failed = step_failures(cfg.run_dir, "questions") + step_failures(cfg.run_dir, "answers")
    again = run(cfg)  # asks only the jobs recorded as failed (glan's rerun of failures)
    assert calls(again) == server.metrics()[REQUESTS] - m1[REQUESTS], again
    assert calls(again) == 0 or failed, again


def glan(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "glan", *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def test_batch_files_through_vllm_run_batch(
    server: VLLMServer, syllabi_run: RunConfig, model_dir: Path, tmp_path: Path
) -> None:
    server.stop()  # one engine at a time; and any live call now fails (connection refused)
    path, cfg = copy_run(syllabi_run, tmp_path, server.base_url)
    n = len(step_records(cfg.run_dir, "syllabi", Syllabus)) * PER_SYLLABUS
    exported = 0
    for round_ in range(4):  # replies that fail validation come back as re-asks in the next file
        out = glan("batch", "export", "questions", "-c", str(path))
        files = [Path(f) for f in out.split() if f.endswith(".jsonl")]
        if not files:
            break
        assert round_ < 3, "3 batch rounds left calls unanswered"
        (requests,) = files
        lines = requests.read_text().splitlines()
        exported += len(lines)
        if round_ == 0:
            assert len(lines) == n
        results = tmp_path / f"results-{round_}.jsonl"
        run_batch(model_dir, SERVED_NAME, requests, results, tmp_path / "run_batch.log")
        out = glan("batch", "import", str(results), "-c", str(path))
        assert f"imported {len(lines)} of {len(lines)}" in out, out
    report = run(cfg, steps=("questions",))
    assert report["questions"]["calls"] == 0  # from the cache: no server is running
    questions = step_records(cfg.run_dir, "questions", Question)
    assert len(questions) + len(step_failures(cfg.run_dir, "questions")) == n, report
    assert questions and all(q.model == SERVED_NAME for q in questions)
    print(f"batch round trip: {exported} requests through run_batch, {len(questions)} questions")
