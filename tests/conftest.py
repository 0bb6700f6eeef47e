"""Shared fixtures: a fault-injecting test server factory, a backend-config factory and the CLI in process."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from synsym.core.config import BackendConfig
from synsym.testing.server import ServerConfig, TestServer


@pytest.fixture
def test_server() -> Iterator[Callable[..., TestServer]]:
    """`test_server(latency_s=..., script=[...])` starts a loopback TestServer, stopped after the test."""
    started: list[TestServer] = []

    def start(**config: Any) -> TestServer:
        server = TestServer(ServerConfig(**config)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def backend_config() -> Callable[..., BackendConfig]:
    """`backend_config(url, **overrides)`: an `openai` backend config for a loopback server, with short
    timeouts and few retries so failing tests fail fast."""

    def make(url: str, **overrides: Any) -> BackendConfig:
        values: dict[str, Any] = {
            "name": "openai",
            "base_url": url,
            "model": "test-model",
            "timeout_s": 5.0,
            "max_retries": 3,
            **overrides,
        }
        return BackendConfig.model_validate(values)

    return make


@pytest.fixture
def serve_handler() -> Iterator[Callable[[Callable[..., Any]], str]]:
    """`serve_handler(async_handler)` answers every POST under /v1 with the given aiohttp handler, on
    loopback in a background thread, and returns the base URL (ending in /v1). For the shapes of
    broken server the TestServer does not make."""
    stops: list[Callable[[], None]] = []

    def serve(handler: Callable[..., Any]) -> str:
        ready = threading.Event()
        box: dict[str, Any] = {}

        def run() -> None:
            loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_post("/v1/{tail:.*}", handler)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            host, port = runner.addresses[0][:2]
            box.update(url=f"http://{host}:{port}/v1", loop=loop)
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        assert ready.wait(10), "handler server did not start"

        def stop() -> None:
            box["loop"].call_soon_threadsafe(box["loop"].stop)
            thread.join(10)

        stops.append(stop)
        return str(box["url"])

    yield serve
    for stop in stops:
        stop()


@pytest.fixture
def synsym_cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    """Run `synsym ARGS...` in this process (cheaper than a subprocess) and return its exit code."""
    from synsym.cli.main import main

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["synsym", *args])
        try:
            main()
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    return run
