"""The engine through the `openai` backend over real loopback HTTP against the fault-injecting test
server: answers, cache, retries, failure classes, structured re-asks, concurrency, budget, rpm."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import BaseModel, Field

from synsym.backends.base import ChatRequest, create_backend
from synsym.core.config import BackendConfig
from synsym.engine.cache import ResponseCache
from synsym.engine.engine import FAILURE_CLASSES, Engine, Result, Task
from synsym.engine.limits import AdaptiveConcurrency, TokenBucket

CLIENTS = ["openai", "openai-sdk"]  # the aiohttp and the official-SDK transport


class Answer(BaseModel):
    statement: str = Field(min_length=1)
    score: int = Field(ge=0, le=5)


class NoJitter(random.Random):
    """Backoff without jitter: a retry waits exactly what the server asked (or not at all)."""

    def uniform(self, a: float, b: float) -> float:
        return a


def make_tasks(
    n: int, schema: type[BaseModel] | None = Answer, max_tokens: int = 200, tag: str = ""
) -> list[Task]:
    return [
        Task(
            id=f"t{tag}{i}",
            request=ChatRequest(
                messages=(("system", "Answer in JSON."), ("user", f"Symptom: fatigue, post {tag}{i}")),
                max_tokens=max_tokens,
                json_schema=schema.model_json_schema() if schema else None,
            ),
            schema=schema,
            template="test-v1",
        )
        for i in range(n)
    ]


def make_engine(config: BackendConfig, cache: ResponseCache | None = None, **kw: Any) -> Engine:
    return Engine(create_backend(config), cache, progress=False, rng=NoJitter(), **kw)


def assert_accounted(results: list[Result], tasks: list[Task]) -> None:
    """Nothing lost: one result per task, in order, each either answered or failed with a known class."""
    assert [r.task.id for r in results] == [t.id for t in tasks]
    for r in results:
        if r.ok:
            assert r.value is not None or r.task.schema is None
        else:
            assert r.failure in FAILURE_CLASSES and r.error and r.value is None


@pytest.mark.parametrize("client", CLIENTS)
def test_all_answered_then_rerun_fully_from_cache(
    test_server, backend_config, tmp_path: Path, client
) -> None:
    server = test_server(latency_s=0.01)
    config = backend_config(server.url, name=client)
    tasks = make_tasks(30)
    cache = ResponseCache(tmp_path / "cache.db")
    engine = make_engine(config, cache)
    first = engine.run_sync(tasks)
    cache.close()
    assert_accounted(first, tasks)
    assert all(r.ok and isinstance(r.value, Answer) and r.calls == 1 for r in first)
    assert engine.meter.calls == 30 and engine.meter.cache_hits == 0
    assert engine.meter.prompt_tokens > 0 and engine.meter.completion_tokens > 0
    assert server.stats()["requests"] == 30

    cache = ResponseCache(tmp_path / "cache.db")  # a new process would open the file afresh
    again = make_engine(config, cache)
    second = again.run_sync(tasks)
    cache.close()
    assert again.meter.calls == 0 and again.meter.cache_hits == 30
    assert server.stats()["requests"] == 30
    assert [r.value for r in second] == [r.value for r in first]
    assert [r.key for r in second] == [r.key for r in first]
    assert all(r.calls == 0 for r in second)


@pytest.mark.parametrize("client", CLIENTS)
def test_429_is_retried_after_retry_after(test_server, backend_config, client) -> None:
    server = test_server(script=["429"], retry_after_s=0.6)
    engine = make_engine(backend_config(server.url, name=client))
    start = time.perf_counter()
    [result] = engine.run_sync(make_tasks(1))
    elapsed = time.perf_counter() - start
    assert result.ok and result.calls == 1
    assert engine.meter.retries == {"rate_limit": 1}
    assert server.stats()["requests"] == 2
    assert elapsed >= 0.5  # waited for Retry-After (0.6 s) although the backoff itself is zero here


def test_5xx_are_retried(test_server, backend_config) -> None:
    server = test_server(script=["500", "503", "500"])
    engine = make_engine(backend_config(server.url, max_concurrency=1))
    results = engine.run_sync(make_tasks(3))
    assert all(r.ok for r in results)
    assert engine.meter.retries == {"server_error": 2, "overloaded": 1}
    assert server.stats()["requests"] == 6


def test_exhausted_retries_fail_with_reason(test_server, backend_config) -> None:
    server = test_server(p_500=1.0)
    engine = make_engine(backend_config(server.url, max_retries=2))
    tasks = make_tasks(5)
    results = engine.run_sync(tasks)
    assert_accounted(results, tasks)
    for r in results:
        assert r.failure == "server_error" and "HTTP 500" in r.error and "after 3 attempts" in r.error
        assert r.calls == 0
    assert server.stats()["requests"] == 15
    assert engine.meter.failures == {"server_error": 5} and engine.meter.calls == 0


def test_mixed_faults_lose_nothing(test_server, backend_config, tmp_path: Path) -> None:
    server = test_server(
        seed=7, p_429=0.1, retry_after_s=0.01, p_500=0.15, p_503=0.05, p_malformed=0.05,
        p_refusal=0.05, p_content_filter=0.05, p_schema_fail=0.1,
    )  # fmt: skip
    engine = make_engine(
        backend_config(server.url, max_retries=1, max_reasks=1), ResponseCache(tmp_path / "c.db")
    )
    tasks = make_tasks(80)
    results = engine.run_sync(tasks)
    assert engine.cache is not None
    engine.cache.close()
    assert_accounted(results, tasks)
    failed = [r for r in results if not r.ok]
    assert 0 < len(failed) < len(results)
    assert sum(engine.meter.failures.values()) == len(failed)
    assert {r.failure for r in failed} >= {"refusal", "content_filter"}
    assert all(r.error is None for r in results if r.ok)


@pytest.mark.parametrize("client", CLIENTS)
def test_hang_past_timeout_is_retried(test_server, backend_config, client) -> None:
    server = test_server(script=["timeout"], hang_s=1.5)
    engine = make_engine(backend_config(server.url, name=client, timeout_s=0.3))
    [result] = engine.run_sync(make_tasks(1))
    assert result.ok
    assert engine.meter.retries == {"timeout": 1}


@pytest.mark.parametrize("client", CLIENTS)
def test_malformed_body_is_retried_as_bad_response(test_server, backend_config, client) -> None:
    server = test_server(script=["malformed"])
    engine = make_engine(backend_config(server.url, name=client))
    [result] = engine.run_sync(make_tasks(1))
    assert result.ok
    assert engine.meter.retries == {"bad_response": 1}
    assert server.stats()["requests"] == 2


@pytest.mark.parametrize("client", CLIENTS)
def test_200_without_choices_is_bad_response(serve_handler, backend_config, client) -> None:
    calls: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(1)
        return web.json_response({"id": "x", "object": "chat.completion", "choices": [], "model": "m"})

    engine = make_engine(backend_config(serve_handler(handler), name=client, max_retries=1))
    tasks = make_tasks(2)
    results = engine.run_sync(tasks)
    assert_accounted(results, tasks)
    assert [r.failure for r in results] == ["bad_response", "bad_response"]
    assert len(calls) == 4


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("fault", ["refusal", "content_filter"])
def test_refusal_and_content_filter_are_their_own_failures(
    test_server, backend_config, client, fault
) -> None:
    server = test_server(script=[fault])
    engine = make_engine(backend_config(server.url, name=client, max_concurrency=1))
    first, second = engine.run_sync(make_tasks(2))
    assert first.failure == fault and first.error and first.value is None
    assert second.ok
    assert engine.meter.failures == {fault: 1}
    assert engine.meter.retries == {} and engine.meter.reasks == 0  # neither retried nor re-asked


def test_schema_failure_is_reasked_then_answered(test_server, backend_config) -> None:
    server = test_server(script=["schema_fail"])
    engine = make_engine(backend_config(server.url))
    [result] = engine.run_sync(make_tasks(1))
    assert result.ok and isinstance(result.value, Answer)
    assert result.calls == 2 and engine.meter.reasks == 1
    assert result.error is None
    assert server.stats()["requests"] == 2


def test_schema_failure_without_reasks_keeps_raw_text(test_server, backend_config) -> None:
    server = test_server(script=["schema_fail"])
    engine = make_engine(backend_config(server.url, max_reasks=0))
    [result] = engine.run_sync(make_tasks(1))
    assert result.failure == "invalid_output" and result.value is None
    assert result.text == '{"unexpected": true}'
    assert "does not match the schema" in (result.error or "")
    assert server.stats()["requests"] == 1 and engine.meter.failures == {"invalid_output": 1}


def test_concurrency_never_exceeds_the_ceiling(test_server, backend_config) -> None:
    server = test_server(latency_s=0.03, concurrency=64)
    engine = make_engine(backend_config(server.url, max_concurrency=4))
    results = engine.run_sync(make_tasks(40))
    assert all(r.ok for r in results)
    assert 2 <= server.stats()["max_in_flight"] <= 4  # it uses its allowance, and never more


def test_concurrency_shrinks_after_429s(test_server, backend_config) -> None:
    server = test_server(latency_s=0.01, p_429=0.3, retry_after_s=0.01, seed=3)
    engine = make_engine(backend_config(server.url, max_concurrency=8, max_retries=8))
    limits: list[float] = []

    async def go() -> list[Result]:
        try:
            return await engine.run(make_tasks(60), on_result=lambda r: limits.append(engine.limiter.limit))
        finally:
            await engine.backend.aclose()

    results = asyncio.run(go())
    assert all(r.ok for r in results)
    assert engine.meter.retries["rate_limit"] > 0
    assert min(limits) < 8 and all(1 <= limit <= 8 for limit in limits)
    assert server.stats()["max_in_flight"] <= 8


def test_no_tasks_no_work(test_server, backend_config) -> None:
    server = test_server()
    assert make_engine(backend_config(server.url)).run_sync([]) == []
    assert server.stats()["requests"] == 0


def test_adaptive_concurrency_aimd() -> None:
    limiter = AdaptiveConcurrency(8, cooldown_s=0.0)
    limiter.on_overload()
    assert limiter.limit == 6
    limiter.on_overload()
    assert limiter.limit == 4.5
    for _ in range(100):
        limiter.on_success()
    assert limiter.limit == 8  # grows back, never past the ceiling
    for _ in range(50):
        limiter.on_overload()
    assert limiter.limit == 1  # never below the floor
    slow = AdaptiveConcurrency(8, cooldown_s=60.0)
    slow.on_overload()
    slow.on_overload()
    assert slow.limit == 6  # a burst of rejections inside one cool-down counts once


def test_budget_stops_before_exceeding_and_resumes(test_server, backend_config, tmp_path: Path) -> None:
    server = test_server()
    # one dollar per token makes each request cost about as much as its tokens
    prices = {"input_per_mtok": 1e6, "output_per_mtok": 1e6}
    config = backend_config(server.url, prices=prices, max_concurrency=4)
    tasks = make_tasks(20, max_tokens=40)

    probe = make_engine(config)  # what the whole job costs, without a budget or a cache
    probe.run_sync(tasks)
    full_cost = probe.meter.cost
    max_cost = full_cost / 3

    cache = ResponseCache(tmp_path / "cache.db")
    engine = make_engine(config, cache, max_cost=max_cost)
    first = engine.run_sync(tasks)
    assert_accounted(first, tasks)
    assert engine.meter.cost <= max_cost
    stopped = [r for r in first if not r.ok]
    assert stopped and all(r.failure == "budget" and "max-cost" in (r.error or "") for r in stopped)
    assert 0 < len(stopped) < len(tasks)
    assert engine.budget.exhausted
    cache.flush()
    assert all(cache.get(r.key) is None for r in stopped)  # a stopped task is not cached
    assert all(cache.get(r.key) is not None for r in first if r.ok)

    resumed = make_engine(config, cache, max_cost=full_cost * 2)
    second = resumed.run_sync(tasks)
    cache.close()
    assert all(r.ok for r in second)
    assert resumed.meter.calls == len(stopped) and resumed.meter.cache_hits == len(tasks) - len(stopped)
    assert engine.meter.cost + resumed.meter.cost == pytest.approx(full_cost)


def test_zero_budget_sends_nothing(test_server, backend_config) -> None:
    server = test_server()
    config = backend_config(server.url, prices={"input_per_mtok": 0.01, "output_per_mtok": 0.01})
    engine = make_engine(config, max_cost=0.0)
    results = engine.run_sync(make_tasks(3))
    assert [r.failure for r in results] == ["budget"] * 3
    assert server.stats()["requests"] == 0 and engine.meter.cost == 0


@pytest.mark.parametrize("unit", ["requests", "tokens"])
def test_per_minute_ceilings_are_respected(test_server, backend_config, unit) -> None:
    server = test_server()
    # 600 a minute is 10 a second with a burst of 10: 25 requests need at least 1.5 s
    if unit == "requests":
        config = backend_config(server.url, requests_per_minute=600)
    else:  # each request reserves its estimated prompt (~11) plus max_tokens (100): about 9 a second
        config = backend_config(server.url, tokens_per_minute=60_000)
    engine = make_engine(config)
    tasks = make_tasks(25, max_tokens=100)
    start = time.perf_counter()
    results = engine.run_sync(tasks)
    elapsed = time.perf_counter() - start
    assert all(r.ok for r in results)
    assert elapsed >= 1.3
    # the same engine runs again, in a new event loop: its buckets still work there
    assert all(r.ok for r in engine.run_sync(make_tasks(5, tag="b", max_tokens=100)))


def test_token_bucket_rate() -> None:
    async def go() -> float:
        bucket = TokenBucket(per_minute=1200)  # 20/s, burst 20
        start = time.perf_counter()
        for _ in range(30):
            await bucket.take()
        return time.perf_counter() - start

    assert asyncio.run(go()) >= 0.45


def test_plain_text_tasks_and_extra_body(serve_handler, backend_config) -> None:
    seen: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(json.loads(await request.read()))
        message = {"role": "assistant", "content": "I feel tired all day."}
        usage = {"prompt_tokens": 7, "completion_tokens": 5}
        return web.json_response({"choices": [{"message": message, "finish_reason": "stop"}], "usage": usage})

    config = backend_config(serve_handler(handler), extra_body={"top_k": 3}, structured_output="json_object")
    engine = make_engine(config)
    text_task, json_task = make_tasks(1, schema=None)[0], make_tasks(1, tag="j")[0]
    plain, structured = engine.run_sync([text_task, json_task])
    assert plain.ok and plain.text == "I feel tired all day." and plain.value is None
    assert plain.usage.prompt_tokens == 7 and plain.usage.completion_tokens == 5
    assert structured.failure == "invalid_output"  # not JSON, re-asked max_reasks times
    assert all(body["top_k"] == 3 and body["model"] == "test-model" for body in seen)
    assert "response_format" not in seen[0] and seen[1]["response_format"] == {"type": "json_object"}


def test_a_cut_off_answer_is_asked_once_more_with_twice_the_room(serve_handler, backend_config) -> None:
    """`finish_reason: length` on a structured answer: one re-ask at twice max_tokens (never again at the
    same limit), then a `truncated` failure."""
    seen: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body["max_tokens"])
        cut = body["max_tokens"] < 100
        content = '{"statement": "I am tired' if cut else '{"statement": "I am tired", "score": 4}'
        choice = {"index": 0, "message": {"role": "assistant", "content": content}}
        choice["finish_reason"] = "length" if cut else "stop"
        return web.json_response({"choices": [choice], "usage": {"prompt_tokens": 5, "completion_tokens": 5}})

    url = serve_handler(handler)
    grown = make_engine(backend_config(url)).run_sync(make_tasks(1, max_tokens=60))
    assert grown[0].ok and grown[0].calls == 2 and seen == [60, 120]
    seen.clear()
    cut = make_engine(backend_config(url)).run_sync(make_tasks(1, max_tokens=20, tag="x"))
    assert cut[0].failure == "truncated" and cut[0].calls == 2 and seen == [20, 40]
    assert "cut off at max_tokens 40" in (cut[0].error or "")


def test_an_unreachable_endpoint_stops_the_engine_early(backend_config) -> None:
    """Connection refused for every request: after `stop_after_failures` in a row the engine stops sending
    and says why, instead of retrying each of many requests with backoff."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = make_engine(backend_config(f"http://127.0.0.1:{port}/v1", max_retries=6, max_concurrency=2))
    start = time.monotonic()
    results = engine.run_sync(make_tasks(40))
    assert time.monotonic() - start < 10
    assert engine.stopped is not None and engine.stopped.failure == "connection"
    assert f"127.0.0.1:{port}" in engine.stopped.endpoint and "cannot reach" in engine.stopped.message
    assert all(r.failure == "connection" for r in results) and sum(r.calls for r in results) == 0
    assert sum("not sent" in (r.error or "") for r in results) >= 30


def test_a_refused_key_stops_the_engine_after_a_few(serve_handler, backend_config) -> None:
    calls: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        calls.append(1)
        return web.json_response({"error": {"message": "Incorrect API key provided"}}, status=401)

    engine = make_engine(backend_config(serve_handler(handler), max_concurrency=1, stop_after_failures=3))
    results = engine.run_sync(make_tasks(20))
    assert len(calls) == 3 and engine.stopped is not None
    assert "HTTP 401" in engine.stopped.message and "api_key_env" in engine.stopped.message
    assert all(r.failure == "client_error" for r in results)
