"""A small OpenAI-compatible HTTP server for tests, with scripted misbehaviour.

In a test::

    with FakeOpenAIServer(delay=0.01) as srv:
        srv.misbehave("429", "drop", "hang:5")   # the next three requests, in order
        ... OpenAICompatBackend(srv.base_url, "fake") ...
        assert srv.count == 4

It answers POST /v1/chat/completions with `tests.fakes.fake_reply(body)` as the content. The
server runs in a background thread with its own event loop. As a separate process::

    python -m tests.http_fakes --port 0 --delay 0.05 --count-file F

prints `listening on http://127.0.0.1:PORT/v1` and rewrites F with the request count after
every request, until SIGTERM / SIGINT.

Behaviours (a name, optionally `:arg`):
  ok              a normal reply
  429[:secs]      429 with Retry-After: secs (default 0)
  500, 502, 503   that status, a short text body
  400, 401, 403, 404   that status (bad request / auth failure / not found)
  429ms:ms        429 with retry-after-ms (Azure / OpenAI style)
  limited:secs    200, with x-ratelimit-remaining-requests: 0 and a reset of secs
  hang[:secs]     sleep secs (default `hang_s`), then reply normally: outlasts a client timeout
  drop            close the connection without a reply
  garbage         bytes that are not an HTTP response, then the connection closes
  short_body      headers promise more bytes than are sent, then the connection closes
  truncated       200, a complete HTTP response whose JSON text is cut in half
  not_json        200 with an HTML body
  empty_choices   200 with `"choices": []`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes import fake_reply

BEHAVIOURS = {
    "ok",
    "429",
    "500",
    "502",
    "503",
    "400",
    "401",
    "403",
    "404",
    "429ms",
    "limited",
    "hang",
    "drop",
    "garbage",
    "short_body",
    "truncated",
    "not_json",
    "empty_choices",
}


def completion_body(body: dict[str, Any], content: str, n: int) -> dict[str, Any]:
    """A chat.completion body with usage, as an OpenAI-compatible server returns it."""
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    return {
        "id": f"chatcmpl-fake-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "fake"),
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": max(1, prompt_tokens),
            "completion_tokens": max(1, len(content) // 4),
            "total_tokens": max(1, prompt_tokens) + max(1, len(content) // 4),
        },
    }


class FakeOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 in a background thread (a context manager).

    `count` is every request received (misbehaving ones included); `script` holds the
    behaviours of the next requests (then "ok"); `delay` is slept before each reply;
    `max_inflight` is the most requests handled at once; `times` the arrival time
    (time.monotonic) of each request; `usage` (arrival time, total tokens) of each answer;
    `headers` are added to every normal answer.
    """

    def __init__(
        self,
        *,
        delay: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        hang_s: float = 10.0,
        count_file: Path | None = None,
    ) -> None:
        self.delay = delay
        self.host = host
        self.port = port
        self.api_key = api_key
        self.hang_s = hang_s
        self.count_file = count_file
        self.script: deque[str] = deque()
        self.bodies: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.usage: list[tuple[float, int]] = []
        self.headers: dict[str, str] = {}
        self.auth_headers: list[str | None] = []
        self._count = 0
        self._ok = 0
        self._inflight = 0
        self.max_inflight = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None

    # -- public --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    @property
    def ok_count(self) -> int:
        """Requests answered normally."""
        with self._lock:
            return self._ok

    def misbehave(self, *behaviours: str) -> None:
        """Queue behaviours for the next requests, in order."""
        for b in behaviours:
            if b.partition(":")[0] not in BEHAVIOURS:
                raise ValueError(f"unknown behaviour {b!r}")
        with self._lock:
            self.script.extend(behaviours)

    def reset(self) -> None:
        with self._lock:
            self._count = 0
            self._ok = 0
            self.max_inflight = 0
            self.script.clear()
            self.bodies.clear()
            self.auth_headers.clear()
            self.times.clear()
            self.usage.clear()

    def start(self) -> FakeOpenAIServer:
        started = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start())
            except BaseException as e:  # noqa: BLE001 - handed to the starting thread
                errors.append(e)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._cleanup())
                loop.close()

        self._thread = threading.Thread(target=serve, name="fake-openai-server", daemon=True)
        self._thread.start()
        started.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        loop = self._loop
        if self._stopping is not None:
            loop.call_soon_threadsafe(self._stopping.set)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- server --------------------------------------------------------------------------

    async def _start(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/v1/chat/completions", self._handle)
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def _routes(self, app: web.Application) -> None:
        """More routes, for subclasses."""

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _next(self) -> tuple[int, str]:
        with self._lock:
            self.times.append(time.monotonic())
            self._count += 1
            n = self._count
            behaviour = self.script.popleft() if self.script else "ok"
        if self.count_file is not None:
            tmp = self.count_file.with_name(self.count_file.name + ".tmp")
            tmp.write_text(str(n))
            os.replace(tmp, self.count_file)
        return n, behaviour

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake when the server stops (a hang must not hold up shutdown)."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self._inflight += 1
            self.max_inflight = max(self.max_inflight, self._inflight)
        try:
            return await self._respond(request)
        finally:
            with self._lock:
                self._inflight -= 1

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        n, behaviour = self._next()
        name, _, arg = behaviour.partition(":")
        auth = request.headers.get("Authorization")
        try:
            body = json.loads(raw)
        except ValueError:
            return web.Response(status=400, text="request body is not JSON")
        with self._lock:
            self.bodies.append(body)
            self.auth_headers.append(auth)
        if self.delay:
            await self._sleep(self.delay)
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "invalid api key"}}, status=401)

        if name == "429":
            return web.Response(status=429, text="slow down", headers={"Retry-After": arg or "0"})
        if name == "429ms":
            return web.Response(status=429, text="slow down", headers={"retry-after-ms": arg or "0"})
        if name in ("500", "502", "503", "400", "401", "403", "404"):
            return web.Response(status=int(name), text=f"fake error {name}")
        if name in ("drop", "garbage", "short_body"):
            transport = request.transport
            assert transport is not None
            if name == "garbage":
                transport.write(b"SSH-2.0-OpenSSH_9.6 not http\r\n\r\n")
            if name == "short_body":
                transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 4096\r\n\r\n" + b'{"choices": [{"index": 0, "mess'
                )
            transport.close()
            # The handler still has to return; nothing more reaches the closed socket.
            return web.Response(status=200)
        if name == "hang":
            await self._sleep(float(arg) if arg else self.hang_s)
        content = fake_reply(body)
        payload = completion_body(body, content, n)
        if name == "truncated":
            text = json.dumps(payload)
            return web.Response(text=text[: len(text) // 2], content_type="application/json")
        if name == "not_json":
            return web.Response(text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        if name == "empty_choices":
            payload["choices"] = []
            return web.json_response(payload)
        headers = dict(self.headers)
        if name == "limited":
            headers |= {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": f"{arg}s"}
        with self._lock:
            self._ok += 1
            self.usage.append((time.monotonic(), payload["usage"]["total_tokens"]))
        return web.json_response(payload, headers=headers)


class DegradingServer(FakeOpenAIServer):
    """A server that slows down past its capacity, as a self-hosted one does instead of
    answering 429: up to `capacity` requests in flight each takes `delay`; with n > capacity
    in flight (counted on arrival) one takes delay * (n / capacity) ** `power`, so that past
    the capacity it answers fewer requests a second the more it is sent. Past `reject_above`
    in flight (when given) it answers 503 at once. `rejected` counts those."""

    def __init__(
        self, *, capacity: int, delay: float, power: float = 2.0, reject_above: int | None = None, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.capacity = capacity
        self.base_delay = delay
        self.power = power
        self.reject_above = reject_above
        self.rejected = 0

    def latency(self, inflight: int) -> float:
        return self.base_delay * max(1.0, inflight / self.capacity) ** self.power

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self._inflight += 1
            n = self._inflight
            self.max_inflight = max(self.max_inflight, n)
        try:
            if self.reject_above is not None and n > self.reject_above:
                await request.read()
                self._next()
                with self._lock:
                    self.rejected += 1
                return web.Response(status=503, text="overloaded")
            await self._sleep(self.latency(n))
            return await self._respond(request)
        finally:
            with self._lock:
                self._inflight -= 1


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.0, help="seconds slept before each reply")
    ap.add_argument("--count-file", type=Path, default=None, help="rewritten with the request count")
    ap.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")
    args = ap.parse_args(argv)
    srv = FakeOpenAIServer(
        delay=args.delay, host=args.host, port=args.port, api_key=args.api_key, count_file=args.count_file
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with srv:
        print(f"listening on {srv.base_url}", flush=True)
        done.wait()


if __name__ == "__main__":
    main()
