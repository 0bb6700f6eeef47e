"""Several endpoints behind one backend (`backend.base_urls`): requests spread over loopback test servers;
one stopped mid-run has its work moved to the others, is reported and is not retried forever; the engine
stops early only when every endpoint is down; the cache and the dataset are those of a one-endpoint run."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from aiohttp import web

from synsym.backends.base import ChatRequest, create_backend
from synsym.core.config import BackendConfig
from synsym.core.errors import ConfigError
from synsym.engine.dispatch import Direct, make_dispatch
from synsym.engine.endpoints import Spread
from synsym.engine.engine import Engine, Result, Task
from synsym.pipeline.config import run_config
from synsym.pipeline.graph import fingerprints
from synsym.pipeline.runner import run_pipeline
from synsym.recipe.stages import STAGES
from synsym.testing.runs import small_fake_run


def tasks(n: int, tag: str = "") -> list[Task]:
    return [
        Task(
            id=f"{tag}{i}",
            request=ChatRequest(messages=(("user", f"Symptom: fatigue, post {tag}{i}"),), max_tokens=60),
        )
        for i in range(n)
    ]


def dead_url() -> str:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def config(urls: list[str], **overrides: Any) -> BackendConfig:
    return BackendConfig.model_validate(
        {
            "name": "openai",
            "model": "test-model",
            "timeout_s": 5.0,
            "max_retries": 4,
            "max_concurrency": 4,
            **({"base_url": urls[0]} if len(urls) == 1 else {"base_urls": urls}),
            **overrides,
        }
    )


def texts(results: list[Result]) -> list[str | None]:
    return [r.text for r in results]


def test_requests_spread_over_every_endpoint_with_one_endpoints_answers(test_server) -> None:
    servers = [test_server(latency_s=0.01) for _ in range(3)]
    many = Engine(create_backend(config([s.url for s in servers])), progress=False)
    assert isinstance(many.dispatch, Spread) and many.dispatch.ceiling == 12
    results = many.run_sync(tasks(60))
    assert all(r.ok for r in results)
    assert all(s.stats()["answered"] >= 10 for s in servers)  # by free capacity: each took a share
    assert many.limiter.limit == 12  # the sum of the three limits
    one = Engine(create_backend(config([servers[0].url])), progress=False)
    assert isinstance(one.dispatch, Direct)
    alone = one.run_sync(tasks(60))
    assert texts(alone) == texts(results)
    assert [r.key for r in alone] == [r.key for r in results]  # the cache does not care who answered


def test_an_endpoint_stopped_mid_run_has_its_work_moved_and_is_reported(test_server) -> None:
    servers = [test_server(latency_s=0.02) for _ in range(3)]
    engine = Engine(create_backend(config([s.url for s in servers])), progress=False)
    spread = engine.dispatch
    assert isinstance(spread, Spread)
    seen = []

    def stop_one(result: Result) -> None:
        seen.append(result)
        if len(seen) == 20:
            servers[1].stop()

    engine.on_result = stop_one
    results = engine.run_sync(tasks(120))
    assert all(r.ok for r in results) and engine.stopped is None
    states = {s["endpoint"]: s["state"] for s in spread.status()}
    assert states[servers[1].url + "/chat/completions"] == "down"
    assert sum(s["answered"] for s in spread.status()) >= 120
    assert any(servers[1].url in n and "taken out" in n for n in spread.notes)
    reference = Engine(create_backend(config([servers[0].url])), progress=False).run_sync(tasks(120))
    assert texts(reference) == texts(results)


def test_a_dead_endpoint_is_probed_then_given_up_on(test_server) -> None:
    live = test_server()
    backend = create_backend(config([dead_url(), live.url]))
    spread = Spread([Direct(b) for b in backend.endpoints()], probe_after_s=0.02, give_up_after=2)
    engine = Engine(backend, dispatch=spread, progress=False)

    async def slowly() -> list[Result]:
        import asyncio

        out: list[Result] = []
        for i in range(12):  # long enough for the probes to come due
            out += await engine.run(tasks(5, tag=f"{i}-"))
            await asyncio.sleep(0.05)
        await engine.aclose()
        return out

    import asyncio

    results = asyncio.run(slowly())
    assert all(r.ok for r in results) and engine.stopped is None
    assert [s["state"] for s in spread.status()] == ["dead", "up"]
    assert any("given up on after 2 failed probes" in n for n in spread.notes)
    assert sum("taken out" in n for n in spread.notes) == 1  # noted once, then each probe (issue 18, 8)
    assert any("probe 1 of 2 failed" in n and "probed again in" in n for n in spread.notes)
    summary = spread.summary()
    assert "answered 0 (given up on)" in summary and "/chat/completions answered 60 (in rotation)" in summary


def test_an_endpoint_that_recovers_comes_back(serve_handler) -> None:
    down = threading.Event()
    down.set()
    answered: list[int] = []

    async def handler(request: web.Request) -> web.Response:
        if down.is_set():
            return web.json_response({"error": {"message": "boom"}}, status=500)
        answered.append(1)
        body = {"choices": [{"message": {"content": "I feel tired."}, "finish_reason": "stop"}]}
        return web.json_response(body)

    flaky, steady = serve_handler(handler), serve_handler(handler)
    backend = create_backend(config([flaky, steady], max_retries=8))
    spread = Spread([Direct(b) for b in backend.endpoints()], probe_after_s=0.05, storm=2)
    engine = Engine(backend, dispatch=spread, progress=False)
    # both 5xx at first: the engine retries, both are taken out, then probed; once they answer, back in
    timer = threading.Timer(0.3, down.clear)
    timer.start()
    results = engine.run_sync(tasks(20))
    timer.join()
    assert all(r.ok for r in results) and engine.stopped is None
    assert [s["state"] for s in spread.status()] == ["up", "up"]
    assert any("answers again" in n for n in spread.notes)


def test_the_engine_stops_early_only_when_every_endpoint_is_down() -> None:
    engine = Engine(create_backend(config([dead_url(), dead_url()], max_retries=6)), progress=False)
    start = time.monotonic()
    results = engine.run_sync(tasks(30))
    assert time.monotonic() - start < 15
    assert engine.stopped is not None and engine.stopped.failure == "connection"
    assert "2 endpoints" in engine.stopped.endpoint
    assert all(r.failure == "connection" for r in results)


def test_base_url_and_base_urls_are_one_or_the_other(test_server) -> None:
    url = test_server().url
    with pytest.raises(ConfigError, match="not both"):
        create_backend(
            BackendConfig.model_validate(
                {"name": "openai", "model": "m", "base_url": url, "base_urls": [url, url + "x"]}
            )
        )
    with pytest.raises(ConfigError, match="each endpoint once"):
        create_backend(config([url, url]))
    one = create_backend(config([url]).model_copy(update={"options": {"base_urls": [url]}}))
    assert isinstance(make_dispatch(one, None), Direct) and one.endpoint == url + "/chat/completions"
    sdk = create_backend(config([url, url + "/"], name="openai-sdk"))
    assert [type(b).__name__ for b in sdk.endpoints()] == ["OpenAISDKBackend"] * 2
    assert all(b.identity() == sdk.identity() for b in sdk.endpoints())


def test_adding_an_endpoint_keeps_every_fingerprint() -> None:
    def prints(urls: list[str]) -> dict[str, str]:
        cfg = small_fake_run()
        cfg["backend"] = {"name": "openai", "model": "m", "base_urls": urls}
        return fingerprints(STAGES, run_config(cfg), {"subconcepts_file": None})

    assert prints(["http://a/v1", "http://b/v1"]) == prints(["http://a/v1", "http://b/v1", "http://c/v1"])


def rows(run: Path) -> list[dict[str, Any]]:
    return pq.read_table(run / "dataset.parquet").to_pylist()


def test_a_run_with_an_endpoint_stopped_gives_the_one_endpoint_dataset(test_server, tmp_path: Path) -> None:
    """The pipeline over three servers, one stopped mid-run: the dataset is row for row that of a run
    on one server, and the manifest's notes say which endpoint was taken out."""

    def run(urls: list[str], out: Path) -> Any:
        cfg = small_fake_run(seed=3)
        cfg["backend"] = {"name": "openai", "model": "m", "max_concurrency": 4, "max_retries": 4}
        cfg["backend"] |= {"base_url": urls[0]} if len(urls) == 1 else {"base_urls": urls}
        return run_pipeline(run_config(cfg), out, progress=False)

    reference = run([test_server().url], tmp_path / "one")
    servers = [test_server(latency_s=0.005) for _ in range(3)]

    def stop_when_busy() -> None:
        while servers[2].stats()["answered"] < 15:
            time.sleep(0.01)
        servers[2].stop()

    stopper = threading.Thread(target=stop_when_busy, daemon=True)
    stopper.start()
    result = run([s.url for s in servers], tmp_path / "three")
    stopper.join(5)
    assert rows(tmp_path / "three") == rows(tmp_path / "one")
    assert result.counts == reference.counts
    assert any(servers[2].url in n and "taken out" in n for n in result.manifest["notes"])
    (summary,) = [n for n in result.notes if n.startswith("endpoints: ")]  # each one's answers at the end
    answered = [int(part.split(" answered ")[1].split()[0]) for part in summary.split("; ")]
    assert len(answered) == 3 and sum(answered) >= result.manifest["usage"]["generator"]["calls"]
