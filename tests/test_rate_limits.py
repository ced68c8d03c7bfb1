"""Rate limits, server pauses and several endpoints, against fake servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from glan.errors import TransientBackendError
from glan.llm.base import ChatRequest
from glan.llm.limits import Bucket, RateLimiter, parse_duration, retry_after_s
from glan.llm.openai_compat import OpenAICompatBackend
from tests.http_fakes import FakeOpenAIServer


def req(i: int, max_tokens: int = 20) -> ChatRequest:
    return ChatRequest(model="fake", messages=[{"role": "user", "content": f"q {i}"}], max_tokens=max_tokens)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


def most_in_window(events: list[tuple[float, float]], window: float) -> float:
    """The largest sum of amounts that arrived within any `window` seconds."""
    events = sorted(events)
    best = 0.0
    for i, (t0, _) in enumerate(events):
        best = max(best, sum(a for t, a in events[i:] if t - t0 <= window))
    return best


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1m30.5s", 90.5), ("0.25", 0.25), ("2h", 7200.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5 s", "1x", "s"])
def test_parse_duration_rejects(text: str) -> None:
    assert parse_duration(text) is None


def test_retry_after_headers() -> None:
    assert retry_after_s({"retry-after": "3"}) == 3.0
    assert retry_after_s({"retry-after-ms": "250", "retry-after": "9"}) == 0.25  # the precise one wins
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < retry_after_s({"retry-after": later}) <= 31  # an HTTP date
    assert retry_after_s({"retry-after": "whenever"}) is None and retry_after_s({}) is None


def test_bucket_holds_one_second_and_lets_big_requests_through() -> None:
    b = Bucket(600)  # 10 a second
    assert b.capacity == 10 and b.wait_s(1, time.monotonic()) == 0
    b.take(10)
    assert b.wait_s(1, time.monotonic()) == pytest.approx(0.1, abs=0.02)
    small = Bucket(30)  # half a request a second: capacity one request
    assert small.capacity == 1.0
    tokens = Bucket(600)
    assert tokens.wait_s(5000, time.monotonic()) == 0  # more than it holds: waits for a full bucket only


class FakeClock:
    """Time that passes only when the limiter sleeps: its schedule, without real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_limiter_without_limits_never_waits() -> None:
    clock = FakeClock()
    lim = RateLimiter(clock=clock, sleep=clock.sleep)
    for _ in range(10_000):
        await lim.acquire(1000)
    assert clock.sleeps == [] and not lim.limited


async def test_request_schedule_is_a_full_bucket_then_the_rate() -> None:
    clock = FakeClock()
    lim = RateLimiter(rpm=600, clock=clock, sleep=clock.sleep)  # 10 a second, holds 10
    granted = []
    for _ in range(35):
        await lim.acquire()
        granted.append(clock.now)
    assert granted[:10] == [0.0] * 10
    assert granted[10:] == pytest.approx([0.1 * i for i in range(1, 26)])


async def test_token_schedule_charges_up_front_and_refunds() -> None:
    clock = FakeClock()
    lim = RateLimiter(tpm=6000, clock=clock, sleep=clock.sleep)  # 100 tokens a second, holds 100
    await lim.acquire(60)
    await lim.acquire(40)
    assert clock.now == 0.0  # the full bucket
    lim.settle(40, 10)  # 30 unused tokens come back
    await lim.acquire(50)
    assert clock.now == pytest.approx(0.2)  # 30 in the bucket, 20 more at 100 a second
    await lim.acquire(500)  # more than the bucket holds: waits for a full bucket only
    assert clock.now == pytest.approx(1.2)


async def test_a_pause_holds_requests_until_it_ends() -> None:
    clock = FakeClock()
    lim = RateLimiter(clock=clock, sleep=clock.sleep)
    lim.pause(2.5)
    await lim.acquire()
    assert clock.now == pytest.approx(2.5)
    await lim.acquire()
    assert clock.sleeps == [pytest.approx(2.5)]  # over: the fast path again


async def test_requests_per_minute_never_exceeded(server: FakeOpenAIServer) -> None:
    backend = OpenAICompatBackend(server.base_url, "fake", api_key_env=None, rpm=600)  # 10/s
    try:
        await asyncio.gather(*(backend.chat(req(i)) for i in range(35)))
    finally:
        await backend.aclose()
    assert server.count == 35
    events = [(t, 1.0) for t in server.times]
    for window in (0.5, 1.0, 2.0):
        assert most_in_window(events, window) <= 10 + 10 * window + 1, window


async def test_tokens_per_minute_never_exceeded(server: FakeOpenAIServer) -> None:
    # each request is charged ~25 tokens up front and refunded what it did not use
    backend = OpenAICompatBackend(server.base_url, "fake", api_key_env=None, tpm=6000)  # 100/s
    try:
        await asyncio.gather(*(backend.chat(req(i)) for i in range(40)))
    finally:
        await backend.aclose()
    used = sum(n for _, n in server.usage)
    assert len(server.usage) == 40 and used > 300
    for window in (0.5, 1.0, 2.0):
        assert most_in_window([(t, float(n)) for t, n in server.usage], window) <= 100 + 100 * window + 30


@pytest.mark.parametrize("behaviour", ["429:0.5", "429ms:500", "limited:0.5"])
async def test_server_pause_holds_every_request_to_the_endpoint(
    behaviour: str, server: FakeOpenAIServer
) -> None:
    backend = OpenAICompatBackend(server.base_url, "fake", api_key_env=None)
    server.misbehave(behaviour)
    try:
        try:
            await backend.chat(req(0))
        except TransientBackendError as e:
            assert e.retry_after == pytest.approx(0.5)
        t_first = server.times[0]
        await asyncio.gather(*(backend.chat(req(i)) for i in range(1, 6)))
    finally:
        await backend.aclose()
    assert server.count == 6
    assert min(server.times[1:]) - t_first >= 0.45  # none sent while the endpoint was paused


async def test_limits_the_server_announces_are_adopted(server: FakeOpenAIServer) -> None:
    server.headers = {"x-ratelimit-limit-requests": "120", "x-ratelimit-limit-tokens": "90000"}
    backend = OpenAICompatBackend(server.base_url, "fake", api_key_env=None, rpm=1000)
    try:
        await backend.chat(req(0))
    finally:
        await backend.aclose()
    lim = backend.endpoints[0].limiter
    assert lim.requests is not None and lim.requests.per_minute == 120  # stricter than configured
    assert lim.tokens is not None and lim.tokens.per_minute == 90000


async def test_load_is_spread_over_endpoints() -> None:
    with FakeOpenAIServer(delay=0.02) as a, FakeOpenAIServer(delay=0.02) as b:
        backend = OpenAICompatBackend([a.base_url, b.base_url], "fake", api_key_env=None)
        try:
            await asyncio.gather(*(backend.chat(req(i)) for i in range(60)))
        finally:
            await backend.aclose()
        assert a.count + b.count == 60
        assert min(a.count, b.count) >= 20


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_dead_endpoint_is_routed_around(server: FakeOpenAIServer) -> None:
    from glan.llm.cache import ResponseCache
    from glan.llm.client import LLMClient

    dead = f"http://127.0.0.1:{closed_port()}/v1"
    backend = OpenAICompatBackend([dead, server.base_url], "fake", api_key_env=None)
    cache = ResponseCache(Path(":memory:"))
    client = LLMClient(cache, lambda: backend, max_retries=3, backoff_s=0.01)
    dead_ep = backend.endpoints[0]
    try:
        out = await asyncio.gather(*(client.complete(req(i)) for i in range(40)))
        assert len(out) == 40 and server.ok_count == 40  # each failed try was retried elsewhere
        first_wave = dead_ep.requests
        assert 0 < first_wave <= 21  # its share of the first requests, sent before any failed
        out = await asyncio.gather(*(client.complete(req(i)) for i in range(40, 80)))
    finally:
        await client.aclose()
        cache.close()
    assert len(out) == 40 and server.ok_count == 80
    assert dead_ep.requests == first_wave  # paused since: the live endpoint carried the load
    assert client.stats.errors == 0
