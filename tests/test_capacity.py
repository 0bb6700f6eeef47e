"""Concurrency that finds a server's capacity (issue 18, finding 2): a server that queues instead of
refusing (llama-cpp-python's answers one request at a time) sends no 429, so rising latency and timeouts
lower the adaptive limit as 429s do; `synsym probe` says how many requests the server takes at once."""

from __future__ import annotations

import asyncio

from synsym.engine.engine import Result
from synsym.engine.limits import AdaptiveConcurrency
from synsym.engine.probe import Capacity, probe_capacity
from test_engine import make_engine, make_tasks


def test_a_one_slot_server_brings_the_limit_down(test_server, backend_config) -> None:
    server = test_server(latency_s=0.05, concurrency=1)
    engine = make_engine(backend_config(server.url, max_concurrency=16, timeout_s=30))
    limits: list[float] = []

    async def go() -> list[Result]:
        try:
            return await engine.run(
                make_tasks(60, schema=None), on_result=lambda r: limits.append(engine.limiter.limit)
            )
        finally:
            await engine.backend.aclose()

    results = asyncio.run(go())
    assert all(r.ok for r in results)
    assert min(limits) <= 3, limits  # from 16: the queue at the server was seen in the answers' pace
    assert limits[-1] < 8


def test_a_server_with_room_keeps_its_limit(test_server, backend_config) -> None:
    server = test_server(latency_s=0.1, concurrency=64)
    engine = make_engine(backend_config(server.url, max_concurrency=8))
    results = engine.run_sync(make_tasks(40, schema=None))
    assert all(r.ok for r in results) and engine.limiter.limit == 8


def test_timeouts_and_slow_answers_count_as_overload() -> None:
    limiter = AdaptiveConcurrency(16, cooldown_s=0.0)
    for _ in range(5):
        limiter.on_success(0.2, 20)  # 10 ms a token: the server's pace alone
    assert limiter.limit == 16
    limiter.on_success(2.0, 20)  # ten times slower: waiting in a queue
    assert limiter.limit == 12
    limiter.on_success(0.001, 0)  # too fast to say anything (a cache, a fake): grows
    assert limiter.limit > 12


def test_probe_reports_one_slot(test_server, backend_config) -> None:
    one = probe_capacity(backend_config(test_server(latency_s=0.2, concurrency=1).url), sent=4)
    assert one.slots == 1 and "set backend.max_concurrency: 1" in one.describe()
    many = probe_capacity(backend_config(test_server(latency_s=0.2, concurrency=64).url), sent=4)
    assert many.slots == 4 and "4 or more at once" in many.describe()
    assert Capacity(0.1, 0.2, 4).slots == 2


def test_short_answers_after_long_ones_are_not_a_queue() -> None:
    """A server whose answers take as long whatever their size (the fake at 200 ms): a three-token judge
    score after 300-token posts is not slow. Counted per answer token, it looked 15 times slower, and the
    judge ran with one or two requests in flight (pipeline_throughput fell from 0.9 to 0.05)."""
    limiter = AdaptiveConcurrency(64)
    for tokens in [300] * 50 + [20] * 200 + [3] * 200:
        limiter.on_success(0.2, tokens)
    assert limiter.limit == 64
    # the same server with a queue in front of it: answers take four times longer, whatever their size
    for tokens in [20] * 20:
        limiter.on_success(0.8, tokens)
    assert limiter.limit < 64 / 2
