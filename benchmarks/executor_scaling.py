"""The same plan in-process and on Ray with 1 and 2 workers: posts/s, and the ratio to the one-worker run.

Two backends: llama.cpp SmolLM2-135M in each worker's process with one thread (`n_threads: 1`; a worker
claims one CPU), where a second worker is a second model computing beside the first, so the ideal
ratio is 2 on a machine with two free cores; and the local test server (fake answers, latency L, each
worker's client at most C in flight), where the ideal is also 2, what Ray's per-request hop costs
taken off. The in-process run is the baseline Ray's overhead is read against (`vs_in_process`). Each
run is the whole pipeline (generate, compose, dedup, judge, export) into a fresh run directory; the Ray
cluster is started once beforehand (`ray_start_s`), so the runs' times hold starting the workers (and
loading their models) but not the cluster. Prints one JSON line per run; asserts nothing.

    python benchmarks/executor_scaling.py [--backend llamacpp|server|both] [--combos 6] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from typing import Any

from _server import server_process
from synsym.pipeline.config import run_config
from synsym.pipeline.runner import run_pipeline
from synsym.testing.runs import small_fake_run

RUNS: list[tuple[str, dict[str, Any]]] = [
    ("in-process", {}),
    ("ray-1", {"name": "ray", "workers": 1}),
    ("ray-2", {"name": "ray", "workers": 2}),
]


def llamacpp_plan(args: argparse.Namespace) -> dict[str, Any]:
    """demo.yaml's recipe, smaller, judged by nothing: what is measured is the model's answering."""
    return {
        "seed": 0,
        "backend": {"name": "llamacpp", "n_ctx": 1024, "n_threads": 1},
        "expand": {"method": "seeds"},
        "generate": {
            "statements_per_call": 1,
            "calls": 1,
            "statements_per_style": 1,
            "max_subconcepts": 1,
            "include_symptom": False,
            "max_tokens": 64,
        },
        "compose": {"n_combinations": args.combos, "statements_per_style": 1, "max_tokens": 160},
        "judge": {"method": "none"},
    }


def server_plan(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """The tests' small run, four times the multi-symptom posts and twice the calls: about 900 requests."""
    plan = small_fake_run(seed=0)
    plan["generate"]["calls"] = 2
    plan["compose"]["n_combinations"] = 48
    plan["backend"] = {
        "name": "openai",
        "base_url": url,
        "model": "fake-model",
        "max_concurrency": args.concurrency,
    }
    return plan


def measure(backend: str, plan: dict[str, Any], extra: dict[str, Any]) -> None:
    base: float | None = None
    local: float | None = None
    for name, executor in RUNS:
        run_dir = tempfile.mkdtemp(prefix=f"synsym-scaling-{backend}-{name}-")
        config = run_config({**plan, "executor": executor})
        start = time.perf_counter()
        result = run_pipeline(config, run_dir, progress=False)
        seconds = time.perf_counter() - start
        posts = int(result.counts["kept"])
        calls = int(result.manifest["usage"]["generator"]["calls"])
        rate = posts / seconds
        local = rate if name == "in-process" else local
        base = rate if name == "ray-1" else base
        row = {
            "backend": backend,
            "run": name,
            "workers": executor.get("workers", 0),
            "posts": posts,
            "requests": calls,
            "seconds": round(seconds, 2),
            "posts_per_s": round(rate, 2),
            "requests_per_s": round(calls / seconds, 2),
            "ratio_to_1_worker": round(rate / base, 2) if base else None,
            "vs_in_process": round(rate / local, 2) if local else None,
            "load_avg_1m": round(os.getloadavg()[0], 1),  # a shared machine: what else ran meanwhile
            **extra,
        }
        print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["llamacpp", "server", "both"], default="both")
    parser.add_argument("--combos", type=int, default=6, help="llama.cpp: multi-symptom combinations")
    parser.add_argument("--latency", type=float, default=0.1, help="test server: seconds per answer")
    parser.add_argument("--concurrency", type=int, default=8, help="test server: in flight per worker")
    args = parser.parse_args()

    import ray

    start = time.perf_counter()
    ray.init(num_cpus=max(2, os.cpu_count() or 1), include_dashboard=False, log_to_driver=False)
    ray_start = round(time.perf_counter() - start, 2)
    cores = {"cores": os.cpu_count(), "ray_start_s": ray_start}
    try:
        if args.backend in ("llamacpp", "both"):
            measure("llamacpp-smollm2-1-thread", llamacpp_plan(args), cores)
        if args.backend in ("server", "both"):
            with server_process("--latency", str(args.latency), "--concurrency", "256") as url:
                extra = {**cores, "latency_s": args.latency, "concurrency_per_worker": args.concurrency}
                measure("test-server", server_plan(url, args), extra)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
