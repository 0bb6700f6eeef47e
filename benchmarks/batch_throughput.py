"""The paper-size plan (the built-in depression-14 config: ~21k requests) through the OpenAI batch fake,
as `synsym generate` in a subprocess: batches created, wall time, and lines billed against lines needed
(the goal: exactly equal), once uninterrupted and once SIGKILLed at random moments and rerun until it
finishes. The fake runs in its own process and outlives the kills; its batches finish at once (the
fake's clock is simulated), so the wall time is synsym's own overhead. Prints JSON lines; asserts nothing.

    python benchmarks/batch_throughput.py [--scale 1.0] [--kills 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from _generate import generate as run_generate

KEY = "sk-benchmark"


def fake() -> tuple[subprocess.Popen[str], str]:
    args = [
        "--port",
        "0",
        "--api-key",
        KEY,
        "--validating-s",
        "0",
        "--in-progress-s",
        "0",
        "--finalizing-s",
        "0",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "synsym.testing.openai_batch_server", *args], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def stats(url: str) -> Any:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/_stats", timeout=30) as response:
        return json.loads(response.read())


def overrides(url: str, scale: float) -> list[str]:
    """`--set` flags: the paper's config on the batch fake (its sizes scaled down for a quicker look)."""
    sets = [
        "backend.name=openai-batch",
        f"backend.base_url={url}",
        "backend.model=fake-model",
        "backend.poll_interval_s=0.2",
        "backend.collect_s=0.5",
        "export.formats=[parquet]",
    ]
    if scale < 1:
        sets += [
            f"generate.max_subconcepts={max(1, round(18 * scale))}",
            f"compose.n_combinations={round(590 * scale)}",
        ]
    return [flag for s in sets for flag in ("--set", s)]


def generate(sets: list[str], out: Path, kill_after: float | None = None) -> int | None:
    """The exit code, or None if killed; a failure's stderr is printed."""
    code, err = run_generate(sets, out, {"OPENAI_API_KEY": KEY}, kill_after)
    if code:
        print(err[-2000:], file=sys.stderr)
    return code


def figures(url: str, run_dir: Path, needed: int | None, seconds: float) -> dict[str, Any]:
    s = stats(url)
    return {
        "batches": s["batches_created"],
        "batches_by_status": s["batches_by_status"],
        "seconds": round(seconds, 1),
        "lines_billed": s["lines_billed"],
        "lines_needed": needed if needed is not None else s["lines_billed"],
        "double_billed": len(s["double_billed"]),
        "tokens_created_twice": sum(n > 1 for n in s["batches_by_metadata"].values()),
        "posts": pq.read_metadata(run_dir / "dataset.parquet").num_rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the paper's sizes (a quick look)"
    )
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs at random moments in the second run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="synsym-batch-bench-"))

    proc, url = fake()
    try:
        start = time.perf_counter()
        assert generate(overrides(url, args.scale), folder / "a") == 0
        seconds = time.perf_counter() - start
        whole = figures(url, folder / "a", None, seconds)
        print(json.dumps({"run": "uninterrupted", "scale": args.scale, **whole}), flush=True)
    finally:
        proc.terminate()
        proc.wait(10)

    proc, url = fake()
    try:
        sets, kills = overrides(url, args.scale), []
        start = time.perf_counter()
        while True:
            after = round(rng.uniform(4.0, max(5.0, 0.7 * seconds)), 1) if len(kills) < args.kills else None
            code = generate(sets, folder / "b", after)
            if code is None:
                kills.append(after)
                continue
            assert code == 0
            break
        killed = figures(url, folder / "b", whole["lines_billed"], time.perf_counter() - start)
        same = pq.read_table(folder / "a" / "dataset.parquet").equals(
            pq.read_table(folder / "b" / "dataset.parquet")
        )
        print(json.dumps({"run": "killed", "kills_at_s": kills, **killed, "same_dataset": same}), flush=True)
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
