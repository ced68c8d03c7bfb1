"""LLM-client throughput against an instant local OpenAI-compatible server: requests/s, CPU
per request and peak memory of glan's whole path (cache lookup, request, validation, record
written) against a bare aiohttp loop, `openai.AsyncOpenAI`, and (when installed in a side
venv) bespokelabs-curator and distilabel, all on the same workload at the same concurrency.

    .venv/bin/python benchmarks/bench_client.py [--requests 20000] [--concurrency 64]
        [--only bare,openai,glan,curator,distilabel] [--repeat 1]

The server is an aiohttp app on 127.0.0.1 in its own process that answers every
POST /v1/chat/completions at once with the same chat.completion body. Each client runs in a
fresh subprocess, so its peak RSS (VmHWM) and CPU time are its own. The baseline is the
bare aiohttp loop measured in the same run; figures print as ratios against it. glan's path
also runs at requests/10, to show whether its peak memory grows with the request count.

curator and distilabel run only from a side venv (never the project's), skipped otherwise:

    python3 -m venv benchmarks/.venv-others
    benchmarks/.venv-others/bin/pip install 'bespokelabs-curator==0.1.31' 'distilabel[openai]==1.5.3' orjson
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OTHERS_VENV = HERE / ".venv-others"
MODEL = "bench-model"
ANSWER = (
    "By Newton's second law the net force on a body equals its mass times its acceleration, "
    "F = m a. With m = 2 kg and a = 3 m/s^2 the net force is 6 N, directed along the acceleration."
)
# What glan's AnswerStage sends by default (AnswersConfig): the other clients send the same.
SAMPLING = {"temperature": 0.7, "top_p": 0.95, "max_tokens": 2048}
CLIENTS = ["bare", "openai", "glan", "curator", "distilabel"]
OTHERS = {"curator", "distilabel"}


def question(i: int) -> str:
    return (
        f"Question {i}: a cart of mass 2 kg accelerates at 3 m/s^2 on a frictionless track. "
        "What net force acts on it, and how would the answer change if its mass doubled?"
    )


def response_body() -> dict:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 48, "completion_tokens": 52, "total_tokens": 100},
    }


# -- the server -----------------------------------------------------------------------------


def serve() -> None:
    """Answer every POST /v1/chat/completions at once; print the port, then serve until killed."""
    import socket

    import orjson
    from aiohttp import web

    body = orjson.dumps(response_body())

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock, backlog=1024).start()
        print(sock.getsockname()[1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# -- the clients (each in its own process) --------------------------------------------------


async def bare(url: str, n: int, concurrency: int) -> None:
    import aiohttp
    import orjson

    sem = asyncio.Semaphore(concurrency)
    endpoint = url + "/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one(i: int) -> None:
            async with sem:
                body = {"model": MODEL, "messages": [{"role": "user", "content": question(i)}], **SAMPLING}
                async with session.post(endpoint, data=orjson.dumps(body), headers=headers) as r:
                    data = orjson.loads(await r.read())
                    assert data["choices"][0]["message"]["content"]

        await asyncio.gather(*(one(i) for i in range(n)))


async def openai_sdk(url: str, n: int, concurrency: int) -> None:
    import openai

    sem = asyncio.Semaphore(concurrency)
    client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)

    async def one(i: int) -> None:
        async with sem:
            r = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": question(i)}], **SAMPLING
            )
            assert r.choices[0].message.content

    await asyncio.gather(*(one(i) for i in range(n)))
    await client.close()


async def glan_path(url: str, n: int, concurrency: int) -> None:
    """What `glan answers` does (glan.steps, the local executor): questions streamed in, the
    response cache, the OpenAI-compatible backend, AnswerStage's parse, JSONL out."""
    from glan.config import AnswersConfig
    from glan.exec import LocalExecutor, run_stage
    from glan.llm.cache import ResponseCache
    from glan.llm.client import LLMClient
    from glan.llm.openai_compat import OpenAICompatBackend
    from glan.records import Question, lineage_id
    from glan.stages.answers import AnswerStage
    from glan.store import JsonlWriter

    def questions():
        for i in range(n):
            yield Question(
                id=lineage_id("question", i),
                field="Natural Sciences",
                sub_field="Physical Sciences",
                discipline="Physics",
                syllabus_id=lineage_id("syllabus", i // 10),
                subject="Classical Mechanics",
                level="undergraduate",
                index=i % 10,
                difficulty="basic",
                sessions=[3],
                concepts=["Newton's second law", "net force"],
                question=question(i),
                model=MODEL,
                sampling={"temperature": 1.0, "top_p": 0.95, "max_tokens": 512},
            )

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        cache = ResponseCache(run / "cache.sqlite")
        client = LLMClient(
            cache,
            lambda: OpenAICompatBackend(url, MODEL, api_key="x", api_key_env=None, concurrency=concurrency),
        )
        stage = AnswerStage(AnswersConfig(), MODEL, 0)
        try:
            with (
                JsonlWriter(run / "answers.jsonl") as out,
                JsonlWriter(run / "failures" / "answers.jsonl") as failures,
            ):
                drive = LocalExecutor().driver(client)
                result = await run_stage(
                    stage, questions(), drive, out.write, failures.write,
                    answered=client.cached, concurrency=concurrency,
                )  # fmt: skip
        finally:
            await client.aclose()
            cache.close()
        written = sum(1 for _ in (run / "answers.jsonl").open("rb"))
        assert result.records == written == n, (result, written, n)
        assert result.failures == 0 and failures.count == 0, result
        assert client.stats.calls == n and client.stats.cache_hits == 0, client.stats


def curator(url: str, n: int, concurrency: int) -> None:
    """curator's online OpenAI backend. Its default rate limits (200 requests/min, 100k
    tokens/min for an unknown model) are raised so that they do not bind."""
    from bespokelabs import curator as bc

    class Answer(bc.LLM):
        def prompt(self, row: dict) -> str:
            return row["question"]

        def parse(self, row: dict, response: str) -> dict:
            return {"question": row["question"], "answer": response}

    llm = Answer(
        model_name=MODEL,
        backend="openai",
        generation_params=dict(SAMPLING),
        backend_params={
            "base_url": url,
            "api_key": "x",
            "max_retries": 0,
            "max_requests_per_minute": 100_000_000,
            "max_tokens_per_minute": 100_000_000_000,
            "max_concurrent_requests": concurrency,
        },
    )
    out = llm([{"question": question(i)} for i in range(n)])
    ds = getattr(out, "dataset", out)
    assert len(ds) == n, len(ds)


def distilabel(url: str, n: int, concurrency: int) -> None:
    """A one-step distilabel pipeline: LoadDataFromDicts >> TextGeneration(OpenAILLM); a
    batch of `concurrency` inputs is what the LLM step sends at once."""
    from distilabel.models import OpenAILLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration

    with Pipeline(name="bench-client") as pipeline:
        load = LoadDataFromDicts(
            data=[{"instruction": question(i)} for i in range(n)], batch_size=concurrency
        )
        gen = TextGeneration(
            llm=OpenAILLM(
                model=MODEL,
                base_url=url,
                api_key="x",
                max_retries=0,
                generation_kwargs={"temperature": 0.7, "top_p": 0.95, "max_new_tokens": 2048},
            ),
            input_batch_size=concurrency,
        )
        load >> gen
    distiset = pipeline.run(use_cache=False)
    rows = distiset["default"]["train"]
    assert len(rows) == n, len(rows)
    assert all(rows["generation"]), "empty generations"


def peak_rss_mb(usage: resource.struct_rusage) -> float:
    """This process's peak RSS since it started: VmHWM, where Linux has it. (ru_maxrss also
    counts the parent's peak when the process was started by vfork/posix_spawn + exec.)"""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return usage.ru_maxrss / 1024


def run_client(name: str, url: str, n: int, concurrency: int) -> None:
    """Run one client in this process; print a RESULT line with its figures."""
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    if name == "bare":
        asyncio.run(bare(url, n, concurrency))
    elif name == "openai":
        asyncio.run(openai_sdk(url, n, concurrency))
    elif name == "glan":
        asyncio.run(glan_path(url, n, concurrency))
    elif name == "curator":
        curator(url, n, concurrency)
    elif name == "distilabel":
        distilabel(url, n, concurrency)
    else:
        raise SystemExit(f"unknown client {name!r}")
    wall = time.perf_counter() - t0
    self1 = resource.getrusage(resource.RUSAGE_SELF)
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # processes it started and waited for
    own = self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime
    kids = kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime
    # Worker processes (distilabel's steps) count when they do a real share of the work; their
    # peak is the largest one's ru_maxrss (KiB on Linux), not a sum.
    child_rss = kids1.ru_maxrss / 1024 if kids > 0.05 * (own + kids) else 0.0
    out = {"wall_s": wall, "cpu_s": own + kids, "rss_mb": peak_rss_mb(self1), "child_rss_mb": child_rss}
    print("RESULT " + json.dumps(out), flush=True)


# -- the driver -----------------------------------------------------------------------------


def others_env() -> dict[str, str]:
    """Offline settings for the side venv: tiktoken's cl100k file from litellm's copy, litellm's
    bundled price map, no telemetry, and every cache in a temporary directory."""
    env = dict(os.environ)
    site = next((OTHERS_VENV / "lib").glob("python*/site-packages"), None)
    if site is not None:
        env["TIKTOKEN_CACHE_DIR"] = str(site / "litellm" / "litellm_core_utils" / "tokenizers")
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        TELEMETRY_ENABLED="false",
        CURATOR_DISABLE_RICH_DISPLAY="1",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        DISTILABEL_NO_TELEMETRY="1",
    )
    return env


def measure(name: str, url: str, n: int, concurrency: int, tmp: Path) -> dict:
    if name in OTHERS:
        python = OTHERS_VENV / "bin" / "python"
        env = others_env()
        home = tmp / f"home-{name}-{time.monotonic_ns()}"
        home.mkdir()
        env.update(
            CURATOR_CACHE_DIR=str(home / "curator"),
            DISTILABEL_CACHE_DIR=str(home / "distilabel"),
            HF_HOME=str(home / "hf"),
        )
    else:
        python, env = Path(sys.executable), dict(os.environ)
    cmd = [str(python), __file__, "--client", name, "--url", url, "--requests", str(n)]
    cmd += ["--concurrency", str(concurrency)]
    # The client's output goes to a file: read into this process it would grow this process,
    # and a child started by a big process starts with the parent's peak RSS in ru_maxrss.
    log = tmp / f"{name}.log"
    with log.open("w") as f:
        rc = subprocess.run(cmd, env=env, cwd=tmp, stdout=f, stderr=subprocess.STDOUT).returncode
    with log.open() as f:
        lines = [ln for ln in f if ln.startswith("RESULT ")]
    if rc != 0 or not lines:
        with log.open() as f:
            tail = [ln.strip() for ln in f][-5:]
        return {"error": f"exit {rc}: " + " | ".join(tail)}
    r = json.loads(lines[-1][len("RESULT ") :])
    r["rps"] = n / r["wall_s"]
    r["cpu_ms"] = 1000 * r["cpu_s"] / n
    return r


def median_of(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[-1]
    return {k: statistics.median(r[k] for r in ok) for k in ok[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--only", default=",".join(CLIENTS), help="comma-separated: " + ",".join(CLIENTS))
    ap.add_argument("--repeat", type=int, default=1, help="rounds (clients interleaved); medians shown")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve()
    if args.client:
        return run_client(args.client, args.url, args.requests, args.concurrency)

    only = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = set(only) - set(CLIENTS)
    if unknown:
        ap.error(f"unknown clients {sorted(unknown)}; choose from {CLIENTS}")
    n, small = args.requests, max(1, args.requests // 10)
    skipped: dict[str, str] = {}
    for name in [c for c in only if c in OTHERS]:
        if not (OTHERS_VENV / "bin" / "python").exists():
            where = OTHERS_VENV.relative_to(HERE.parent)
            skipped[name] = f"no side venv at {where} (see this file's docstring)"
    todo = [c for c in CLIENTS if c in only and c not in skipped]
    if "glan" in todo:
        todo.append("glan@small")

    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/v1"
        print(f"server {url}; {n:,} requests a client, concurrency {args.concurrency}; {os.cpu_count()} CPUs")
        runs: dict[str, list[dict]] = {c: [] for c in todo}
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeat):
                for c in todo:
                    name, count = ("glan", small) if c == "glan@small" else (c, n)
                    r = measure(name, url, count, args.concurrency, Path(tmp))
                    runs[c].append(r)
                    shown = r.get("error") or f"{r['rps']:,.0f} req/s, {r['rss_mb']:.0f} MB"
                    print(f"  {c}: {shown}", flush=True)
    finally:
        server.terminate()
        server.wait()

    res = {c: median_of(rs) for c, rs in runs.items()}
    base = res.get("bare", {}).get("rps")
    labels = {
        "bare": "bare aiohttp loop (baseline)",
        "openai": "openai.AsyncOpenAI",
        "glan": "glan: cache + request + validation + record",
        "curator": "bespokelabs-curator 0.1.31",
        "distilabel": "distilabel 1.5.3",
    }
    print()
    head = f"client ({n:,} requests, concurrency {args.concurrency})"
    print(f"| {head} | req/s | CPU ms/req | peak RSS MB | vs bare |")
    print("|---|---|---|---|---|")
    for c in CLIENTS:
        if c in skipped:
            print(f"| {labels[c]} | skipped: {skipped[c]} | | | |")
        if c not in res:
            continue
        r = res[c]
        if "error" in r:
            print(f"| {labels[c]} | failed: {r['error'][:200]} | | | |")
            continue
        rss = f"{r['rss_mb']:.0f}"
        if r["child_rss_mb"] > 1:
            rss += f" (+ worker {r['child_rss_mb']:.0f})"
        vs = f"{r['rps'] / base:.2f}x" if base else "-"
        print(f"| {labels[c]} | {r['rps']:,.0f} | {r['cpu_ms']:.3f} | {rss} | {vs} |")
    for c in skipped:
        print(f"{c}: skipped: {skipped[c]}")
    g, o = res.get("glan"), res.get("openai")
    if g and "error" not in g:
        if base:
            print(f"glan / bare aiohttp: {g['rps'] / base:.2f}x (target >= 0.5x)")
        if o and "error" not in o:
            print(f"glan / AsyncOpenAI:  {g['rps'] / o['rps']:.2f}x (target >= 5x)")
        s = res["glan@small"]
        if "error" not in s:
            print(
                f"glan peak RSS: {s['rss_mb']:.0f} MB at {small:,} requests, {g['rss_mb']:.0f} MB at {n:,}: "
                f"{g['rss_mb'] / s['rss_mb']:.2f}x for 10x the requests (target: flat)"
            )


if __name__ == "__main__":
    main()
