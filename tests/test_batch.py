"""Batch files: export a step's calls, answer them with a local batch processor or a Batch API
server, import the results, resume; the step then runs from the cache."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

from glan.batch_step import export_step, import_files, submit_step
from glan.cli import app
from glan.cli.progress import RichEvents
from glan.config import RunConfig, load_config
from glan.errors import ConfigError
from glan.events import Events
from glan.llm.base import ChatRequest
from glan.llm.batch_files import BatchWriter, import_results
from glan.llm.cache import ResponseCache
from glan.records import InstructionPair, Question
from tests.batch_fakes import FakeBatchServer, process_batch_file
from tests.helpers import step_bytes, step_done, step_records
from tests.http_fakes import FakeOpenAIServer
from tests.test_run_faults import run

KEY_ENV = "GLAN_BATCH_TEST_KEY"
SECRET = "sk-glan-batch-" + secrets.token_hex(12)
UPSTREAM = ("disciplines", "subjects", "syllabi", "questions")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBatchServer]:
    monkeypatch.setenv(KEY_ENV, SECRET)
    with FakeBatchServer(api_key=SECRET) as srv:
        yield srv


def config(tmp_path: Path, base_url: str, name: str = "run", *sets: str) -> RunConfig:
    return load_config(
        None,
        [
            f"run_dir={tmp_path / name}",
            "disciplines=[Physics]",
            "llm.backend=openai",
            f"llm.base_url={base_url}",
            "llm.model=fake",
            f"llm.api_key_env={KEY_ENV}",
            "llm.concurrency=4",
            "subjects.mode=json",
            "subjects.samples=2",
            "syllabi.min_sessions=3",
            "syllabi.max_sessions=4",
            "questions.per_syllabus=3",
            "prices={fake: {input: 1.0, output: 4.0}}",
            *sets,
        ],
    )


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_export_process_import_then_the_step_runs_from_the_cache(
    tmp_path: Path, server: FakeBatchServer
) -> None:
    cfg = config(tmp_path, server.base_url)
    run(cfg, UPSTREAM)
    n = len(step_records(cfg.run_dir, "questions", Question))
    files = asyncio.run(export_step(cfg, "answers"))
    assert len(files) == 1 and not step_done(cfg.run_dir, "answers")
    requests = lines(files[0])
    assert len(requests) == n
    for r in requests:  # the OpenAI Batch API request format, which `vllm run-batch` reads too
        assert set(r) == {"custom_id", "method", "url", "body"}
        assert r["method"] == "POST" and r["url"] == "/v1/chat/completions"
        assert r["body"]["model"] == "fake" and r["body"]["messages"]
    assert SECRET not in files[0].read_text()
    # half the results come back first (a batch that expired half done) ...
    results = tmp_path / "results.jsonl"
    process_batch_file(files[0], results, server.base_url, SECRET)
    rows = results.read_text().splitlines(keepends=True)
    half = tmp_path / "half.jsonl"
    half.write_text("".join(rows[: n // 2]))
    report = import_files(cfg, [half])
    assert report.imported == n // 2 and not report.errors
    # ... so the next export holds exactly the other half
    again = asyncio.run(export_step(cfg, "answers"))
    assert {r["custom_id"] for r in lines(again[0])} == {r["custom_id"] for r in requests[n // 2 :]}
    import_files(cfg, [results])
    assert asyncio.run(export_step(cfg, "answers")) == []  # nothing left: the step is written
    before = server.count
    report = run(cfg, ("answers",))
    assert server.count == before and report["answers"]["calls"] == 0  # no live call
    assert report["answers"]["records"] == n and report["answers"]["skipped_shards"] > 0  # export wrote it
    batch_pairs = step_bytes(cfg.run_dir, "answers")
    # the same as a run that made every call live
    live = config(tmp_path, server.base_url, "live")
    run(live, (*UPSTREAM, "answers"))
    assert step_bytes(live.run_dir, "answers") == batch_pairs
    # the import's tokens and cost, at the batch price, are in the manifest
    usage = orjson.loads((cfg.run_dir / "manifest.json").read_bytes())["usage"]["batch"]["fake"]
    assert usage["calls"] == n and usage["prompt_tokens"] > 0
    expected = (usage["prompt_tokens"] * 1.0 + usage["completion_tokens"] * 4.0) / 1e6 * 0.5
    assert usage["cost_usd"] == pytest.approx(expected, rel=1e-3)


def test_a_reply_that_fails_validation_is_re_asked_in_the_next_file(
    tmp_path: Path, server: FakeBatchServer
) -> None:
    cfg = config(tmp_path, server.base_url)
    run(cfg, ("disciplines", "subjects", "syllabi"))
    files = asyncio.run(export_step(cfg, "questions"))
    results = tmp_path / "results.jsonl"
    process_batch_file(files[0], results, server.base_url, SECRET)
    rows = lines(results)
    rows[0]["response"]["body"]["choices"][0]["message"]["content"] = "Sorry, I cannot do JSON."
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import_files(cfg, [results])
    (reask,) = asyncio.run(export_step(cfg, "questions"))
    (line,) = lines(reask)
    messages = line["body"]["messages"]
    assert messages[-2] == {"role": "assistant", "content": "Sorry, I cannot do JSON."}
    assert "could not be used" in messages[-1]["content"]


def test_submit_polls_imports_and_resumes_without_paying_twice(
    tmp_path: Path, server: FakeBatchServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config(tmp_path, server.base_url)
    run(cfg, UPSTREAM)
    n = len(step_records(cfg.run_dir, "questions", Question))
    server.reset()
    server.fail_next = 2  # two requests fail inside the first batch: a second round sends them
    console = RichEvents(Console(file=open(tmp_path / "log.txt", "w")), show_progress=False)  # noqa: SIM115

    # the first try is stopped while it waits for its batch
    import glan.batch_step as bs

    async def interrupted(_s: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(bs, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        asyncio.run(submit_step(cfg, "answers", console, poll_s=0.01))
    state = orjson.loads((cfg.run_dir / "batches" / "state.json").read_bytes())
    assert len(state["batches"]) == 1 and len(server.batches) == 1

    async def quick(_s: float) -> None:
        await asyncio.sleep(0.02)

    monkeypatch.setattr(bs, "wait", quick)
    report = asyncio.run(submit_step(cfg, "answers", console, poll_s=0.01))
    assert report["answers"]["records"] == n and report["answers"]["calls"] == 0
    assert len(server.batches) == 2  # the first one waited for, not submitted again; then the 2 failed
    assert server.count == n  # every answer paid once
    state = orjson.loads((cfg.run_dir / "batches" / "state.json").read_bytes())
    assert [b["answered"] for b in state["batches"]] == [n - 2, 2]
    pairs = step_records(cfg.run_dir, "answers", InstructionPair)
    assert len(pairs) == n
    for f in (cfg.run_dir).rglob("*"):
        if f.is_file() and f.suffix in (".json", ".jsonl", ".txt"):
            assert SECRET not in f.read_text(), f


def test_submit_needs_an_http_endpoint(tmp_path: Path) -> None:
    cfg = load_config(None, [f"run_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="Batch API"):
        asyncio.run(submit_step(cfg, "answers", Events(), poll_s=0))


def test_bad_result_files_are_one_line_errors(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    bad = tmp_path / "bad.jsonl"
    good = {"custom_id": "a" * 64, "response": {"status_code": 200, "body": {}}}
    bad.write_text(json.dumps(good) + "\nnot json\n")
    with pytest.raises(ConfigError, match=r"bad.jsonl:2: not a Batch API result line"):
        import_results(bad, cache)
    bad.write_text('{"custom_id": "request-1", "response": null}\n')
    with pytest.raises(ConfigError, match="is not a glan request key"):
        import_results(bad, cache)
    missing = str(tmp_path / "missing.jsonl")
    r = CliRunner().invoke(app, ["batch", "import", missing, "--run-dir", str(tmp_path)])
    assert r.exit_code == 2 and "cannot read batch results" in r.output
    cache.close()


def test_writer_splits_files_and_keeps_custom_ids_unique(tmp_path: Path) -> None:
    w = BatchWriter(tmp_path, "answers", max_lines=3)
    reqs = [ChatRequest(model="m", messages=[{"role": "user", "content": f"q{i}"}]) for i in range(7)]
    for r in [*reqs, reqs[6]]:  # the same request twice in a file: one line (custom_id unique)
        w.add(r)
    files = w.close()
    assert [len(lines(f)) for f in files] == [3, 3, 1] and w.count == 7
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.slow
def test_batch_round_trip_through_the_real_model(tmp_path: Path) -> None:
    """Questions answered by the real 0.5B model through a batch file."""
    from glan.llm.local import LocalBackend

    with FakeOpenAIServer() as fake:
        cfg = config(tmp_path, fake.base_url, "run", "questions.per_syllabus=1", "subjects.samples=1")
        run(cfg, UPSTREAM)
    n = len(step_records(cfg.run_dir, "questions", Question))
    cfg.answers.max_tokens = 48
    cfg.answers.llm = cfg.llm.model_copy(update={"model": "qwen2.5-coder-0.5b"})
    (file,) = asyncio.run(export_step(cfg, "answers"))
    try:
        llama = LocalBackend("qwen2.5-coder-0.5b", n_ctx=2048, parallel=2, threads=2)
    except ConfigError as e:
        pytest.skip(str(e))
    try:
        results = tmp_path / "results.jsonl"
        assert process_batch_file(file, results, llama.base_url, llama.api_key) == n
    finally:
        asyncio.run(llama.aclose())
    assert import_files(cfg, [results]).imported == n
    report = run(cfg, ("answers",))
    assert report["answers"]["cache_hits"] == n and report["answers"]["calls"] == 0  # all from the cache
    pairs = step_records(cfg.run_dir, "answers", InstructionPair)
    assert len(pairs) == n and all(p.response.strip() for p in pairs)
    assert all(p.answer_model == "qwen2.5-coder-0.5b" for p in pairs)
