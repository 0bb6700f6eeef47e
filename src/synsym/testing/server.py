"""A local OpenAI-compatible chat-completions server with fault injection, for tests and benchmarks.

The engine must be tested over real HTTP against the failures real servers produce (429 with
Retry-After, 5xx, hangs, malformed bodies, refusals, schema-breaking answers) and benchmarked against
a server that behaves like vLLM (a fixed latency and a concurrency cap with a queue). It binds only to
127.0.0.1 and is kept CPU-light so that a benchmark's client, not this server, is what gets measured.

Run it in-process with `TestServer(config)` (a background thread) or as a subprocess:
`python -m synsym.testing.server --port 0 --latency 0.2 --concurrency 64`, which prints its base URL
as the first line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from aiohttp import web

from synsym.backends.fake_content import fake_sentence, instance_for_schema
from synsym.testing.contracts import openai_params_problem

_DESCRIPTION = "A local OpenAI-compatible test server with fault injection (loopback only)."
__all__ = ["FAULT_KINDS", "ServerConfig", "TestServer", "build_app", "main"]

FAULT_KINDS = ("429", "500", "503", "timeout", "malformed", "refusal", "content_filter", "schema_fail")
REFUSAL = "I'm sorry, but I can't help with that request."
_JSON = "application/json"
_MALFORMED = '{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"message": {"content": "{'


@dataclass
class ServerConfig:
    """Behaviour knobs, shaped like vLLM: at most `concurrency` requests hold a slot for `latency_s`
    each (the mean, see `_hold`); the rest wait in a queue, so capacity is concurrency / latency_s.

    Fault probabilities are drawn per request from a die seeded by `seed`, in arrival order, so the
    fault totals for N requests are the same every run. `script` forces the faults of the first
    requests ("ok" for a normal answer). 429 and 503 are answered at once, before the queue, as a
    gateway would; a timeout holds a slot for `hang_s`, then answers 504."""

    latency_s: float = 0.0
    concurrency: int = 64
    seed: int = 0
    model: str = "fake-model"
    p_429: float = 0.0
    retry_after_s: float = 1.0
    p_500: float = 0.0
    p_503: float = 0.0
    p_timeout: float = 0.0
    hang_s: float = 2.0
    p_malformed: float = 0.0
    p_refusal: float = 0.0
    p_content_filter: float = 0.0
    p_schema_fail: float = 0.0
    script: list[str] = field(default_factory=list)
    honor_max_tokens: bool = True  # truncate at ~4 chars per token with finish_reason "length"
    reasoning_models: list[str] = field(default_factory=list)  # refuse max_tokens, as o-series and GPT-5 do

    def __post_init__(self) -> None:
        bad = [s for s in self.script if s != "ok" and s not in FAULT_KINDS]
        if bad:
            raise ValueError(f"unknown fault(s) in script: {bad}; use 'ok' or one of {FAULT_KINDS}")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")


class _State:
    """Counters and the fault dice; touched only from the server's event loop."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.dice = random.Random(config.seed)
        self.slots = asyncio.Semaphore(config.concurrency)
        self.seed_bytes = str(config.seed).encode()
        self.arrivals = 0  # never reset: the script is played once
        self.in_flight = self.queued = 0
        self.late_s = 0.0  # running mean of how late our own sleeps wake up
        self.reset()

    def reset(self) -> None:
        """Zero the counters; the gauges (in flight, queued) stay true."""
        self.requests = self.answered = self.held_n = 0
        self.held_s = 0.0
        self.max_in_flight, self.max_queued = self.in_flight, self.queued
        self.faults: Counter[str] = Counter()
        self.started, self.cpu_started = time.monotonic(), time.process_time()

    def pick_fault(self) -> str | None:
        self.arrivals += 1
        script = self.config.script
        if self.arrivals <= len(script):
            kind = script[self.arrivals - 1]
            return None if kind == "ok" else kind
        r = self.dice.random()
        for kind in FAULT_KINDS:
            p = getattr(self.config, f"p_{kind}")
            if r < p:
                return kind
            r -= p
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "answered": self.answered,
            "faults": {kind: self.faults.get(kind, 0) for kind in FAULT_KINDS},
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "queued": self.queued,
            "max_queued": self.max_queued,
            "mean_hold_ms": round(1000 * self.held_s / self.held_n, 3) if self.held_n else None,
            "uptime_s": round(time.monotonic() - self.started, 3),
            # CPU of the whole process: the server's own only when it runs as a subprocess
            "cpu_s": round(time.process_time() - self.cpu_started, 4),
        }


_STATE = web.AppKey("state", _State)


async def _hold(state: _State, latency: float) -> None:
    """Hold a slot for `latency` on average: a busy or descheduled loop wakes sleeps late, which would
    make the real capacity fall below C / L and be blamed on the client, so the lateness is learnt
    (a running mean) and taken off the next sleeps."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.sleep(max(0.0, latency - state.late_s))
    held = loop.time() - start
    state.late_s = min(latency, max(0.0, state.late_s + 0.02 * (held - latency)))
    state.held_s += held
    state.held_n += 1


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": str(status)}})
    return web.Response(status=status, text=body, content_type=_JSON, headers=headers)


def prompt_of(messages: list[dict[str, Any]]) -> str:
    """The user turns' text: where the fake content finds its topic."""
    parts = []
    for m in messages:
        if m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, list):
            content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
        if isinstance(content, str):
            parts.append(content)
    return "\n".join(parts)


def answer_for(body: dict[str, Any], rng: random.Random, prompt: str) -> str:
    fmt = body.get("response_format") or {}
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
        return json.dumps(instance_for_schema(schema, rng, prompt))
    if kind == "json_object":
        return json.dumps({"answer": fake_sentence(rng, prompt)})
    return fake_sentence(rng, prompt)


async def _chat(request: web.Request) -> web.Response:
    state: _State = request.app[_STATE]
    config = state.config
    raw = await request.read()
    state.requests += 1
    try:
        body = json.loads(raw)
        messages = body["messages"]
        if not isinstance(messages, list):
            raise TypeError("messages must be a list")
        n = max(1, min(int(body.get("n") or 1), 16))
        max_chars = 4 * int(body.get("max_completion_tokens") or body.get("max_tokens") or 0)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return _error(400, f"invalid request body: {exc!r}", "invalid_request_error")
    if body.get("stream"):
        return _error(400, "streaming is not supported by the synsym test server", "invalid_request_error")
    problem = openai_params_problem(body, set(config.reasoning_models))
    if problem:
        return _error(400, problem, "invalid_request_error")
    fault = state.pick_fault()
    if fault == "429":  # a rate limiter answers before the queue, as gateways do
        state.faults[fault] += 1
        retry = config.retry_after_s
        headers = {"Retry-After": f"{retry:g}", "retry-after-ms": str(int(retry * 1000))}
        return _error(429, "Rate limit reached; retry later.", "rate_limit_exceeded", headers)
    if fault == "503":
        state.faults[fault] += 1
        return _error(503, "The server is overloaded; retry later.", "server_error")

    state.queued += 1
    state.max_queued = max(state.max_queued, state.queued)
    async with state.slots:
        state.queued -= 1
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            if fault == "timeout":
                await asyncio.sleep(config.hang_s)
                state.faults[fault] += 1
                return _error(504, "Upstream timed out.", "timeout")
            if config.latency_s > 0:
                await _hold(state, config.latency_s)
        finally:
            state.in_flight -= 1
    if fault == "500":
        state.faults[fault] += 1
        return _error(500, "Internal server error.", "server_error")
    if fault == "malformed":
        state.faults[fault] += 1
        return web.Response(text=_MALFORMED, content_type=_JSON)

    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.blake2b(canonical, digest_size=8, key=state.seed_bytes[:64]).digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    prompt = prompt_of(messages)
    choices = []
    completion_chars = 0
    for i in range(n):
        refusal = None
        finish = "stop"
        if fault == "refusal":
            content, refusal = None, REFUSAL
        elif fault == "content_filter":
            content, finish = "", "content_filter"
        elif fault == "schema_fail":
            content = '{"unexpected": true}'
        else:
            content = answer_for(body, rng, prompt)
            if config.honor_max_tokens and max_chars and len(content) > max_chars:
                content, finish = content[:max_chars], "length"
        completion_chars += len(content or refusal or "")
        message = {"role": "assistant", "content": content, "refusal": refusal}
        choices.append({"index": i, "message": message, "logprobs": None, "finish_reason": finish})
    if fault is None:
        state.answered += 1
    else:
        state.faults[fault] += 1
    prompt_tokens = 1 + len(raw) // 4
    completion_tokens = max(1, completion_chars // 4)
    out = {
        "id": f"chatcmpl-{digest.hex()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model") or config.model),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    return web.Response(body=json.dumps(out).encode(), content_type=_JSON)


async def _models(request: web.Request) -> web.Response:
    model = request.app[_STATE].config.model
    data = {"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": "synsym"}]}
    return web.json_response(data)


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[_STATE].snapshot())


async def _reset(request: web.Request) -> web.Response:
    request.app[_STATE].reset()
    return web.json_response({"reset": True})


def build_app(config: ServerConfig) -> web.Application:
    """The aiohttp application; must be built inside the event loop that will serve it."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[_STATE] = _State(config)
    app.router.add_post("/v1/chat/completions", _chat)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/stats", _stats)
    app.router.add_post("/stats/reset", _reset)
    return app


async def _start(config: ServerConfig, port: int = 0) -> tuple[web.AppRunner, str, _State]:
    app = build_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=2048)
    await site.start()
    host, bound = runner.addresses[0][:2]
    return runner, f"http://{host}:{bound}/v1", app[_STATE]


async def _shutdown(runner: web.AppRunner) -> None:
    """Stop serving; requests still held (a long `hang_s`) are cancelled after a second."""
    await runner.cleanup()
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


class TestServer:
    """The server in a background thread with its own event loop, on an ephemeral loopback port.

    `with TestServer(ServerConfig(latency_s=0.05)) as server: ... server.url ... server.stats()`
    """

    __test__ = False  # not a pytest test class

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._state: _State | None = None

    def start(self) -> TestServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                self._runner, self.url, self._state = loop.run_until_complete(_start(self.config))
            except BaseException as exc:
                failure.append(exc)
            ready.set()
            if not failure:
                loop.run_forever()
                loop.run_until_complete(_shutdown(self._runner))  # type: ignore[arg-type]
            loop.close()

        self._thread = threading.Thread(target=run, name="synsym-test-server", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            raise RuntimeError(f"test server failed to start: {failure[0] if failure else 'timeout'}")
        return self

    def _call(self, fn: Any) -> Any:
        """Run `fn` on the server's loop, where the counters live."""

        async def wrapper() -> Any:
            return fn()

        assert self._loop is not None, "server not started"
        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(5)

    def stats(self) -> dict[str, Any]:
        """A consistent snapshot of the counters (see `GET /stats`)."""
        return self._call(lambda: self._state.snapshot())  # type: ignore[union-attr]

    def reset(self) -> None:
        """Zero the counters (the fault script is not replayed)."""
        self._call(lambda: self._state.reset())  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> TestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _parse(argv: list[str] | None) -> tuple[ServerConfig, int]:
    parser = argparse.ArgumentParser(prog="python -m synsym.testing.server", description=_DESCRIPTION)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--script", default="", help="comma-separated faults for the first requests")
    defaults = ServerConfig()
    names = [f.name for f in fields(ServerConfig) if f.name not in ("script", "honor_max_tokens")]
    for name in names:  # latency_s -> --latency, p_429 -> --p-429, retry_after_s -> --retry-after
        flag, default = "--" + name.replace("_", "-").removesuffix("-s"), getattr(defaults, name)
        kind = type(default)
        parser.add_argument(flag, dest=name, type=kind, default=default, metavar=kind.__name__)
    args = parser.parse_args(argv)
    script = [s.strip() for s in args.script.split(",") if s.strip()]
    return ServerConfig(**{n: getattr(args, n) for n in names}, script=script), args.port


def main(argv: list[str] | None = None) -> None:
    """Serve until killed; the first stdout line is the base URL (ending in /v1)."""
    config, port = _parse(argv)

    async def serve() -> None:
        runner, url, _ = await _start(config, port)
        print(url, flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await _shutdown(runner)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main(sys.argv[1:])
