"""Engine throughput against the local test server: how close does it get to the server's limit?

Server: latency L = 200 ms, concurrency cap C = 64, so the best possible rate is C / L = 320 req/s.
N = 5,000 structured requests go through the engine (aiohttp client) with a fresh cache; then the same
requests again, which the cache must answer; then the same load through the official `openai` SDK and
through bare aiohttp with a semaphore (no engine) as peers; then a faulty server (10% 429 with
Retry-After, 2% 500) to count lost requests.
Prints one JSON line per phase; the last line is the summary. Prints, does not assert.

    python benchmarks/engine_throughput.py [--n 5000] [--latency 0.2] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import aiohttp
from pydantic import BaseModel, Field

from _server import server_process
from synsym.backends.base import ChatRequest, create_backend
from synsym.core.config import BackendConfig
from synsym.engine.cache import ResponseCache
from synsym.engine.engine import Engine, Result, Task


class Statements(BaseModel):
    statements: list[str] = Field(..., min_length=2, max_length=4)
    score: int = Field(..., ge=0, le=5)


def make_tasks(n: int) -> list[Task]:
    schema = Statements.model_json_schema()
    return [
        Task(
            id=str(i),
            request=ChatRequest(
                messages=(("system", "Answer in JSON."), ("user", f"Sub-concept: waking early, item {i}")),
                max_tokens=128,
                json_schema=schema,
            ),
            schema=Statements,
            sample=i,
            template="bench",
        )
        for i in range(n)
    ]


def timed_run(
    url: str, tasks: list[Task], cache_path: Path, backend: str, concurrency: int, retries: int = 6
) -> tuple[list[Result], float, float, Engine]:
    config = BackendConfig(
        name=backend,
        base_url=url,
        model="fake-model",
        max_concurrency=concurrency,
        max_retries=retries,
        timeout_s=30,  # type: ignore[arg-type]
    )
    cache = ResponseCache(cache_path)
    engine = Engine(create_backend(config), cache, progress=False)
    wall, cpu = time.perf_counter(), time.process_time()
    results = engine.run_sync(tasks)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    cache.close()
    return results, wall, cpu, engine


async def _raw_aiohttp(url: str, tasks: list[Task], concurrency: int) -> float:
    """The floor of client cost: aiohttp and a semaphore, no engine (no cache, retries or validation)."""
    limit = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one(task: Task) -> None:
            body = {
                "model": "fake-model",
                "messages": task.request.openai_messages(),
                "max_tokens": 128,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": task.request.json_schema},
                },
            }
            async with limit, session.post(f"{url}/chat/completions", json=body) as resp:
                await resp.read()

        start = time.perf_counter()
        await asyncio.gather(*(one(t) for t in tasks))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    n, lat, conc = args.n, args.latency, args.concurrency
    limit_rps = conc / lat
    tasks = make_tasks(n)
    tmp = Path(tempfile.mkdtemp(prefix="synsym-bench-"))
    server_args = ("--latency", str(lat), "--concurrency", str(conc))

    with server_process(*server_args) as url:
        results, seconds, cpu, _ = timed_run(url, tasks, tmp / "a.sqlite", "openai", conc)
        ok = sum(r.ok for r in results)
        _, cached_seconds, _, eng = timed_run(url, tasks, tmp / "a.sqlite", "openai", conc)
        rps = n / seconds
        main_line = {
            "requests": n,
            "answered": ok,
            "seconds": round(seconds, 2),
            "rps": round(rps, 1),
            "limit_rps": limit_rps,
            "ratio": round(rps / limit_rps, 3),
            "cpu_seconds": round(cpu, 2),
            "cpu_ms_per_request": round(1000 * cpu / n, 3),
            "cached_seconds": round(cached_seconds, 3),
            "cached_share": round(cached_seconds / seconds, 4),
            "cached_calls": eng.meter.calls,
        }
        print(json.dumps({"phase": "aiohttp", **main_line}), flush=True)

        sdk_results, sdk_seconds, sdk_cpu, _ = timed_run(url, tasks, tmp / "sdk.sqlite", "openai-sdk", conc)
        sdk = {
            "phase": "peer: openai SDK client, same engine",
            "answered": sum(r.ok for r in sdk_results),
            "seconds": round(sdk_seconds, 2),
            "ratio": round(n / sdk_seconds / limit_rps, 3),
            "cpu_ms_per_request": round(1000 * sdk_cpu / n, 3),
        }
        print(json.dumps(sdk), flush=True)

        raw_seconds = asyncio.run(_raw_aiohttp(url, tasks, conc))
        raw = {
            "phase": "peer: raw aiohttp + semaphore, no engine",
            "seconds": round(raw_seconds, 2),
            "ratio": round(n / raw_seconds / limit_rps, 3),
        }
        print(json.dumps(raw), flush=True)

    with server_process(*server_args, "--p-429", "0.1", "--retry-after", "0.5", "--p-500", "0.02") as url:
        f_results, f_seconds, _, f_engine = timed_run(url, tasks, tmp / "faults.sqlite", "openai", conc)
        answered = sum(r.ok for r in f_results)
        failed = sum(not r.ok for r in f_results)
        faults = {
            "phase": "faults: 10% 429 (Retry-After 0.5 s), 2% 500",
            "answered": answered,
            "failed": failed,
            "failed_by_class": dict(f_engine.meter.failures),
            "lost": n - answered - failed,
            "seconds": round(f_seconds, 2),
            "retries": dict(f_engine.meter.retries),
            "final_concurrency": round(f_engine.limiter.limit, 1),
        }
        print(json.dumps(faults), flush=True)

    print(
        json.dumps(
            {
                **main_line,
                "answered_with_faults": answered,
                "failed": failed,
                "lost": faults["lost"],
                "sdk_ratio": sdk["ratio"],
                "raw_aiohttp_ratio": raw["ratio"],
            }
        )
    )


if __name__ == "__main__":
    main()
