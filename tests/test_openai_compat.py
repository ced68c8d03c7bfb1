"""OpenAICompatBackend against a real llama.cpp server and a misbehaving fake one."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from glan.config import PriceConfig
from glan.errors import BackendError, ConfigError, TooManyFailures, TransientBackendError
from glan.llm.base import ChatRequest
from glan.llm.cache import ResponseCache
from glan.llm.client import FailureBreaker, LLMClient
from glan.llm.openai_compat import OpenAICompatBackend
from tests.fakes import fake_reply
from tests.http_fakes import FakeOpenAIServer

MODEL = "qwen2.5-coder-0.5b"
SECRET = "sk-glan-test-" + secrets.token_hex(12)

# Every misbehaviour the client must survive by retrying.
TRANSIENT = [
    "429",
    "500",
    "502",
    "503",
    "hang:5",
    "drop",
    "garbage",
    "short_body",
    "truncated",
    "not_json",
    "empty_choices",
]


def req(i: int = 0, **kw: object) -> ChatRequest:
    return ChatRequest(model="fake", messages=[{"role": "user", "content": f"question {i}"}], **kw)


# -- a real llama.cpp server -----------------------------------------------------------


@pytest.fixture(scope="module")
def llama() -> Iterator[object]:
    from glan.llm.local import LocalBackend

    try:
        # one thread: llama.cpp's threads spin at barriers, which stalls badly on a busy machine
        backend = LocalBackend(MODEL, n_ctx=2048, threads=1)
    except ConfigError as e:  # the model pack is not installed
        pytest.skip(str(e))
    yield backend
    asyncio.run(backend.aclose())


SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}},
    "required": ["answer"],
    "additionalProperties": False,
}


@pytest.mark.slow
async def test_real_llama_json_schema(llama: object, tmp_path: Path) -> None:
    backend = OpenAICompatBackend(llama.base_url, MODEL, api_key=llama.api_key, api_key_env=None)  # type: ignore[attr-defined]
    client = LLMClient(ResponseCache(tmp_path / "cache.sqlite"), lambda: backend, backoff_s=0.01)
    request = ChatRequest(
        model=MODEL,
        messages=[{"role": "user", "content": "A box is 2 m long and 3 m wide. Its area, as JSON?"}],
        temperature=0.0,
        seed=1,
        max_tokens=32,
        response_schema=SCHEMA,
        schema_name="area",
    )
    try:
        resp = await client.complete(request)
        data = json.loads(resp.text)
        assert set(data) == {"answer"} and isinstance(data["answer"], int)
        assert resp.finish_reason == "stop"
        assert resp.prompt_tokens > 0 and resp.completion_tokens > 0
        assert resp.model_ms is not None and resp.model_ms > 0  # llama.cpp's timings
        assert client.stats.calls == 1
        again = await client.complete(request)  # from the cache
        assert again == resp and client.stats.calls == 1 and client.stats.cache_hits == 1
    finally:
        await client.aclose()


@pytest.mark.slow
async def test_real_llama_rate_limited_endpoints_and_cost(llama: object, tmp_path: Path) -> None:
    """Two endpoints (the same real server twice) under 120 requests a minute, priced."""
    url = llama.base_url  # type: ignore[attr-defined]
    backend = OpenAICompatBackend([url, url], MODEL, api_key=llama.api_key, api_key_env=None, rpm=120)  # type: ignore[attr-defined]
    cache = ResponseCache(tmp_path / "cache.sqlite")
    client = LLMClient(cache, lambda: backend, price=PriceConfig(input=1.0, output=3.0))
    requests = [
        ChatRequest(model=MODEL, messages=[{"role": "user", "content": f"Say {w}."}], max_tokens=4, seed=1)
        for w in ("yes", "no", "maybe", "never")
    ]
    try:
        out = await asyncio.gather(*(client.complete(r) for r in requests))
    finally:
        await client.aclose()
        cache.close()
    assert all(r.text for r in out)
    # the limiter's schedule is tested on a fake clock (test_rate_limits); here: it lets a real
    # server's requests through on both endpoints, each charged one request
    assert [e.requests for e in backend.endpoints] == [2, 2]
    assert all(e.limiter.requests is not None and e.limiter.requests.level < 2 for e in backend.endpoints)
    s = client.stats
    assert s.prompt_tokens == sum(r.prompt_tokens for r in out) > 0
    assert s.cost_usd == pytest.approx((s.prompt_tokens * 1.0 + s.completion_tokens * 3.0) / 1e6)


@pytest.mark.slow
async def test_real_llama_wrong_key(llama: object) -> None:
    backend = OpenAICompatBackend(llama.base_url, MODEL, api_key="sk-wrong", api_key_env=None)  # type: ignore[attr-defined]
    try:
        with pytest.raises(ConfigError, match="401"):
            await backend.chat(ChatRequest(model=MODEL, messages=[{"role": "user", "content": "hi"}]))
    finally:
        await backend.aclose()
    # the key comes from the environment variable when none is passed
    backend = OpenAICompatBackend(llama.base_url, MODEL, api_key_env="GLAN_NO_SUCH_KEY_VAR")  # type: ignore[attr-defined]
    try:
        with pytest.raises(ConfigError):
            await backend.chat(ChatRequest(model=MODEL, messages=[{"role": "user", "content": "hi"}]))
    finally:
        await backend.aclose()


# -- the misbehaving fake server -------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(api_key=SECRET) as srv:
        yield srv


@pytest.fixture
async def make_client(server: FakeOpenAIServer, tmp_path: Path) -> AsyncIterator[object]:
    clients: list[LLMClient] = []
    caches: list[ResponseCache] = []

    def make(
        *, max_retries: int = 3, backoff_s: float = 0.01, timeout_s: float = 0.5, concurrency: int = 8
    ) -> LLMClient:
        cache = ResponseCache(tmp_path / "cache.sqlite")
        client = LLMClient(
            cache,
            lambda: OpenAICompatBackend(
                server.base_url,
                "fake",
                api_key=SECRET,
                api_key_env=None,
                timeout_s=timeout_s,
                concurrency=concurrency,
            ),
            max_retries=max_retries,
            backoff_s=backoff_s,
            max_backoff_s=0.05,
        )
        clients.append(client)
        caches.append(cache)
        return client

    yield make
    for c in clients:
        await c.aclose()
    for cache in caches:
        cache.close()


def expected(request: ChatRequest) -> str:
    return fake_reply(request.openai_body())


@pytest.mark.parametrize("behaviour", TRANSIENT)
async def test_misbehaviour_is_retried(behaviour: str, server: FakeOpenAIServer, make_client) -> None:
    client = make_client(max_retries=3)
    await client.complete(req(1))  # the server has answered: a page that is not JSON is retried
    server.misbehave(behaviour, behaviour)
    resp = await client.complete(req())
    assert resp.text == expected(req())
    assert resp.finish_reason == "stop" and resp.prompt_tokens > 0 and resp.completion_tokens > 0
    assert server.count == 4
    assert client.stats.retries == 2 and client.stats.calls == 4 and client.stats.errors == 0


async def test_every_misbehaviour_in_one_call(server: FakeOpenAIServer, make_client) -> None:
    client = make_client(max_retries=len(TRANSIENT))
    await client.complete(req(2))
    server.misbehave(*TRANSIENT)
    resp = await client.complete(req(1))
    assert resp.text == expected(req(1))
    assert server.count == len(TRANSIENT) + 2 and server.ok_count == 2


async def test_gives_up_after_max_retries(server: FakeOpenAIServer, make_client, tmp_path: Path) -> None:
    client = make_client(max_retries=3)
    server.misbehave("503", "drop", "500", "empty_choices", "ok")
    with pytest.raises(BackendError, match="gave up after 4 tries") as info:
        await client.complete(req())
    assert not isinstance(info.value, TransientBackendError)
    assert server.count == 4 and client.stats.errors == 1
    assert len(client.cache) == 0  # failures are never cached
    # the next call goes to the server again (and now gets the queued "ok")
    assert (await client.complete(req())).text == expected(req())
    assert server.count == 5


@pytest.mark.parametrize("status", ["401", "403"])
async def test_auth_failure_is_not_retried(status: str, server: FakeOpenAIServer, make_client) -> None:
    client = make_client(max_retries=5)
    server.misbehave(status)
    with pytest.raises(ConfigError, match=status):
        await client.complete(req())
    assert server.count == 1 and client.stats.retries == 0


async def test_client_error_is_not_retried(server: FakeOpenAIServer, make_client) -> None:
    client = make_client(max_retries=5)
    server.misbehave("404")
    with pytest.raises(TooManyFailures, match="the first LLM call failed: HTTP 404"):
        await client.complete(req())  # before any answer: the model or URL is wrong, stop
    client = make_client(max_retries=5)
    await client.complete(req(1))
    server.misbehave("404")
    with pytest.raises(BackendError, match="404") as info:
        await client.complete(req())  # after an answer: this job failed, the run goes on
    assert not isinstance(info.value, TransientBackendError)
    assert server.count == 3 and client.stats.retries == 0


async def test_wrong_key_is_config_error(server: FakeOpenAIServer) -> None:
    backend = OpenAICompatBackend(server.base_url, "fake", api_key="sk-wrong", api_key_env=None)
    try:
        with pytest.raises(ConfigError, match="401") as info:
            await backend.chat(req())
        assert "sk-wrong" not in str(info.value)
    finally:
        await backend.aclose()


async def test_base_url_without_scheme_is_config_error() -> None:
    with pytest.raises(ConfigError, match="http://"):
        OpenAICompatBackend("127.0.0.1:8000/v1", "fake", api_key_env=None)


async def test_retry_after_is_honoured(server: FakeOpenAIServer, make_client) -> None:
    # Retry-After: 0 overrides a huge backoff ...
    client = make_client(max_retries=2, backoff_s=30.0)
    client.max_backoff_s = 60.0
    server.misbehave("429:0", "429:0")
    t0 = time.perf_counter()
    assert (await client.complete(req(1))).text == expected(req(1))
    assert time.perf_counter() - t0 < 5.0
    # ... and a Retry-After longer than the backoff is waited out.
    client.backoff_s = 0.001
    server.misbehave("429:0.4")
    t0 = time.perf_counter()
    assert (await client.complete(req(2))).text == expected(req(2))
    assert time.perf_counter() - t0 >= 0.4
    assert server.count == 5


async def test_responses_are_cached(server: FakeOpenAIServer, make_client, tmp_path: Path) -> None:
    client = make_client()
    first = await client.complete(req(7, seed=3))
    second = await client.complete(req(7, seed=3))
    assert first == second and server.count == 1 and client.stats.cache_hits == 1
    await client.complete(req(7, seed=4))  # another seed is another request
    assert server.count == 2
    # a fresh client on the same cache file: no server call, and no backend is ever built
    built: list[int] = []
    cache = ResponseCache(tmp_path / "cache.sqlite")
    fresh = LLMClient(cache, lambda: built.append(1) or OpenAICompatBackend(server.base_url, "fake"))
    try:
        assert await fresh.complete(req(7, seed=3)) == first
        assert server.count == 2 and not built
    finally:
        await fresh.aclose()
        cache.close()


async def test_api_key_is_never_stored_or_shown(
    server: FakeOpenAIServer, make_client, tmp_path: Path
) -> None:
    client = make_client(max_retries=0, timeout_s=0.3)
    client.breaker = FailureBreaker(max_rate=1.0)  # every call here fails on purpose
    messages: list[str] = []
    for i, behaviour in enumerate([*TRANSIENT, "401", "404"]):
        server.misbehave(behaviour)
        with pytest.raises((BackendError, ConfigError)) as info:
            await client.complete(req(100 + i))
        messages.append(str(info.value))
        messages.append(repr(info.value))
    for i in range(5):
        await client.complete(req(i))
    assert len(client.cache) == 5
    assert all(h == f"Bearer {SECRET}" for h in server.auth_headers)  # it was sent ...
    for m in messages:
        assert SECRET not in m, m
    client.cache.commit()
    client.cache._db.execute("PRAGMA wal_checkpoint(FULL)")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "cache.sqlite" for p in files)
    for p in files:  # ... but it is in no cache file (the database or its WAL)
        assert SECRET.encode() not in p.read_bytes(), p


async def test_fifty_concurrent_requests(server: FakeOpenAIServer, make_client) -> None:
    server.delay = 0.05
    client = make_client(concurrency=16, max_retries=3, timeout_s=5.0)
    # a few misbehaviours mixed in: each costs one retry of some request
    server.misbehave("503", "drop", "429", "truncated", "500", "empty_choices")
    requests = [req(i, seed=i) for i in range(50)]
    t0 = time.perf_counter()
    responses = await asyncio.gather(*(client.complete(r) for r in requests))
    elapsed = time.perf_counter() - t0
    assert [r.text for r in responses] == [expected(r) for r in requests]
    assert server.count == 56 and server.ok_count == 50
    assert client.stats.retries == 6 and client.stats.errors == 0
    assert len(client.cache) == 50
    assert 2 <= server.max_inflight <= 16  # really concurrent, and within the connection limit
    assert elapsed < 50 * 0.05  # faster than one at a time
