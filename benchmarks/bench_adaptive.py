"""Adaptive concurrency against a local server that degrades past its capacity: requests/s of
glan's client with the adaptive limit (bounded by --max) against fixed concurrency at --max
and at the server's capacity (the ideal fixed value, which a user rarely knows), measured in
the same run and printed as ratios.

    .venv/bin/python benchmarks/bench_adaptive.py [--requests 1500] [--capacity 8] [--max 64]
        [--delay 0.02] [--flat-delay 0.2] [--flat-requests 5000] [--only slows,rejects,flat]

The server is an aiohttp app on 127.0.0.1 in its own process. With n requests in flight
(counted when one arrives) it answers after delay * max(1, n / capacity) ** 2: past its
capacity each request takes longer than the extra requests bring (a server that thrashes, so
requests/s fall). Scenarios:
  slows    it only slows down (vLLM or llama.cpp's server past their batch, swapping)
  rejects  it also answers 503 at once past 2 x capacity in flight (a queue limit)
  flat     no capacity limit, latency --flat-delay whatever the load (a hosted API): what the
           adaptive limit costs where nothing degrades (its ramp from 1, and its probing)
Each client makes its own fresh cache, so every request is a call; retries back off 0.05 s.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "bench-model"


def serve(capacity: int, delay: float, reject_above: int | None) -> None:
    """The degrading server (run in its own process): prints its port, serves until killed."""
    from aiohttp import web

    inflight = 0
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "F = m a = 6 N."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": 100},
    }

    async def handle(request: web.Request) -> web.Response:
        nonlocal inflight
        inflight += 1
        try:
            await request.read()
            if reject_above is not None and inflight > reject_above:
                return web.Response(status=503, text="overloaded")
            await asyncio.sleep(delay * max(1.0, inflight / capacity) ** 2)
            return web.json_response(body)
        finally:
            inflight -= 1

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


async def client_run(url: str, n: int, concurrency: int, adaptive: bool) -> tuple[float, dict]:
    """n distinct requests through glan's client, at most `concurrency` in flight (the
    executor's semaphore); seconds taken and what the adaptive limit did."""
    from glan.llm.base import ChatRequest
    from glan.llm.cache import ResponseCache
    from glan.llm.client import LLMClient
    from glan.llm.openai_compat import OpenAIOptions

    opts = OpenAIOptions(
        base_url=url,
        model=MODEL,
        api_key_env=None,
        concurrency=concurrency,
        adaptive=adaptive,
        max_retries=50,
    )
    with tempfile.TemporaryDirectory() as tmp:
        cache = ResponseCache(Path(tmp) / "cache.sqlite")
        client = LLMClient.for_options(cache, opts, opts.build)
        client.backoff_s = 0.05
        client.max_backoff_s = 0.5
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            request = ChatRequest(model=MODEL, messages=[{"role": "user", "content": f"question {i}"}])
            async with sem:
                await client.complete(request)

        t0 = time.perf_counter()
        try:
            await asyncio.gather(*(one(i) for i in range(n)))
        finally:
            await client.aclose()
            cache.close()
        took = time.perf_counter() - t0
    info = client.limit.summary() if client.limit is not None else {"limit": concurrency}
    info |= {"retries": client.stats.retries, "errors": client.stats.errors}
    return took, info


def scenario(name: str, args: argparse.Namespace) -> None:
    reject = 2 * args.capacity if name == "rejects" else None
    capacity = 10**6 if name == "flat" else args.capacity
    delay = args.flat_delay if name == "flat" else args.delay
    cmd = [sys.executable, __file__, "--serve", str(capacity), str(delay), str(reject or 0)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/v1"
        runs = [
            (f"fixed {args.max} (the configured max)", args.max, False),
            (f"fixed {args.capacity} (ideal: the capacity)", args.capacity, False),
            (f"adaptive 1..{args.max}", args.max, True),
        ]
        if name == "flat":
            runs = [r for r in runs if r[1] == args.max]
        rates = {}
        n = args.flat_requests if name == "flat" else args.requests
        print(f"\n{name}: {n} requests, capacity {capacity}, delay {delay} s")
        for label, conc, adaptive in runs:
            took, info = asyncio.run(client_run(url, n, conc, adaptive))
            rates[label] = n / took
            print(f"  {label:<32} {rates[label]:8.1f} req/s  {info}")
        base = rates[runs[0][0]]
        for label, rate in rates.items():
            print(f"  {label:<32} {rate / base:6.2f}x fixed {args.max}")
        if name != "flat":
            ideal = rates[runs[1][0]]
            print(f"  adaptive / ideal fixed: {rates[runs[2][0]] / ideal:.2f}x")
    finally:
        server.kill()
        server.wait()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        capacity, delay, reject = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
        serve(capacity, delay, reject or None)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--capacity", type=int, default=8)
    ap.add_argument("--max", type=int, default=64)
    ap.add_argument("--delay", type=float, default=0.02, help="seconds per request up to the capacity")
    ap.add_argument("--flat-delay", type=float, default=0.2, help="seconds per request of the flat server")
    ap.add_argument("--flat-requests", type=int, default=5000, help="requests of the flat scenario")
    ap.add_argument("--only", default="slows,rejects,flat")
    args = ap.parse_args()
    for name in args.only.split(","):
        scenario(name, args)


if __name__ == "__main__":
    main()
