"""The paper-size plan (the built-in depression-14 config) through each provider's batch fake (OpenAI,
Azure OpenAI, Anthropic) with every documented fault on at once, plus SIGKILLs of `synsym generate` at
random moments, each run resumed until it finishes. The faults (see testing/openai_batch_server.py and
testing/anthropic_server.py for the documentation each one quotes):

- a full queue: OpenAI's per-model enqueued-token limit (a created batch fails `token_limit_exceeded`),
  Anthropic's processing-queue limit (create answers 429);
- uploaded files `processed` only after a while (a create before then: 400 "Cannot find file");
- other clients' batches of the same size in the listing, made a second before each of ours;
- creates that make the batch and drop the reply;
- Azure's preview shapes (ISO `created_at`, capitalised statuses);
- 3% of lines failing transiently (5xx lines, `api_error` results), sent again;
- an account that runs out of quota half-way (429 `insufficient_quota`): the run stops, the benchmark
  tops the account up and runs the command again (OpenAI and Azure);
- result retention at the documented 30 / 29 days (not reached in a run: deleting results a run has not
  downloaded makes paying for them twice unavoidable; tests/test_batch_failures.py covers that case).

The faulty fakes run on the wall clock (batches take seconds: a simulated clock pumped ahead of the
wall clock would put every batch outside the time window a lost Anthropic batch is looked for in), and
each fake outlives the kills. Prints one JSON line per provider: lines needed (billed by a clean run),
lines billed, lines billed twice, batches created, duplicate batches (ones that billed a line another
batch had already billed),
tokens created twice, creates refused for a full queue, kills and stops, and whether the dataset equals
the clean run's. Asserts nothing.

    python benchmarks/batch_faults.py [--scale 1.0] [--kills 3] [--seed 0] [--providers openai,azure,...]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from _generate import generate as run_generate

KEY, ENV = "sk-benchmark", "SYNSYM_BENCH_KEY"
OPENAI_FAULTS = [
    "--no-simulated-clock", "--validating-s", "0.5", "--in-progress-s", "2", "--finalizing-s", "0.5",
    "--p-5xx", "0.03", "--max-enqueued-tokens", "1500000", "--file-processing-s", "1",
    "--foreign-batches", "1", "--p-drop-create", "0.3",
]  # fmt: skip
ANTHROPIC_FAULTS = [
    "--no-simulated-clock", "--processing-s", "2", "--p-errored", "0.03", "--max-processing-requests",
    "5000", "--foreign-batches", "1", "--p-drop-create", "0.3",
]  # fmt: skip


class Fake:
    """One provider fake in its own process, with a thread that moves its simulated clock."""

    def __init__(self, provider: str, args: list[str], step: float) -> None:
        module = "anthropic_server" if provider == "anthropic" else "openai_batch_server"
        cmd = [sys.executable, "-m", f"synsym.testing.{module}", "--port", "0", "--api-key", KEY, *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        self.origin = self.url.removesuffix("/v1")
        self._stop = threading.Event()
        self._pump = threading.Thread(target=self._run, args=(step,), daemon=True)
        self._pump.start()

    def _run(self, step: float) -> None:
        while step and not self._stop.wait(0.05):
            self.post("/_clock", {"advance_s": step})

    def post(self, path: str, body: Any) -> Any:
        req = urllib.request.Request(
            self.origin + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as response:
            return json.loads(response.read())

    def stats(self) -> Any:
        with urllib.request.urlopen(self.origin + "/_stats", timeout=120) as response:
            return json.loads(response.read())

    def close(self) -> None:
        self._stop.set()
        self._pump.join()
        self.proc.terminate()
        self.proc.wait(10)


def overrides(provider: str, fake: Fake, scale: float) -> list[str]:
    sets = [f"backend.api_key_env={ENV}", "backend.poll_interval_s=0.2", "backend.collect_s=0.5",
            "backend.max_requests_per_batch=2000", "export.formats=[parquet]"]  # fmt: skip
    if provider == "anthropic":
        sets += [
            "backend.name=anthropic-batch",
            f"backend.base_url={fake.origin}",
            "backend.model=claude-fake",
        ]
    elif provider == "azure":
        sets += ["backend.name=openai-batch", f"backend.base_url={fake.origin}/openai",
                 "backend.model=fake-model", "backend.query={api-version: 2024-07-01-preview}",
                 "backend.api_key_header=api-key"]  # fmt: skip
    else:
        sets += ["backend.name=openai-batch", f"backend.base_url={fake.url}", "backend.model=fake-model"]
    if scale < 1:
        sets += [
            f"generate.max_subconcepts={max(1, round(18 * scale))}",
            f"compose.n_combinations={round(590 * scale)}",
        ]
    return [flag for s in sets for flag in ("--set", s)]


def generate(sets: list[str], out: Path, kill_after: float | None = None) -> tuple[int | None, str]:
    return run_generate(sets, out, {ENV: KEY}, kill_after)


def clean(provider: str, folder: Path, scale: float, seed: int) -> tuple[float, int]:
    """An undisturbed run: its wall time and the lines it needed (the fake answers as the faulty one)."""
    args = ["--validating-s", "0", "--in-progress-s", "0", "--finalizing-s", "0"]
    args = ["--processing-s", "0"] if provider == "anthropic" else args
    fake = Fake(provider, [*args, "--seed", str(seed)], 0)
    try:
        start = time.perf_counter()
        code, err = generate(overrides(provider, fake, scale), folder / f"{provider}-clean")
        assert code == 0, err[-2000:]
        return time.perf_counter() - start, int(fake.stats()["lines_billed"])
    finally:
        fake.close()


def faulty(
    provider: str, folder: Path, args: argparse.Namespace, seconds: float, needed: int
) -> dict[str, Any]:
    """Every fault on, `args.kills` SIGKILLs, runs again until one finishes."""
    faults = ANTHROPIC_FAULTS if provider == "anthropic" else OPENAI_FAULTS
    if provider == "azure":
        faults = [*faults, "--azure-preview"]
    if provider != "anthropic":
        faults = [*faults, "--quota-lines", str(needed // 2)]
    fake = Fake(provider, [*faults, "--seed", str(args.seed)], 0)
    rng, kills, stops = random.Random(f"{args.seed}:{provider}"), [], []
    try:
        sets, start = overrides(provider, fake, args.scale), time.perf_counter()
        while True:
            after = round(rng.uniform(4.0, max(5.0, 0.7 * seconds)), 1) if len(kills) < args.kills else None
            code, err = generate(sets, folder / f"{provider}-faults", after)
            if code is None:
                kills.append(after)
            elif code and "quota" in err and len(stops) < 3:
                stops.append("insufficient_quota")
                fake.post("/_quota", {"lines": None})  # the account is topped up
            elif code:
                raise SystemExit(f"{provider}: exit {code}: {err[-2000:]}")
            else:
                break
        wall = time.perf_counter() - start
        s = fake.stats()
    finally:
        fake.close()
    same = pq.read_table(folder / f"{provider}-clean" / "dataset.parquet").equals(
        pq.read_table(folder / f"{provider}-faults" / "dataset.parquet")
    )
    return {
        "provider": provider, "lines_needed": needed, "lines_billed": s["lines_billed"],
        "lines_billed_twice": len(s["double_billed"]), "batches_created": s["batches_created"],
        "duplicate_batches": s["duplicate_batches"],
        "tokens_created_twice": sum(n > 1 for n in s["batches_by_metadata"].values()),
        "creates_refused_queue_full": s["creates_refused"], "create_answers_dropped": s["creates_dropped"],
        "foreign_batches_adopted_then_rejected": _rejected(folder / f"{provider}-faults"),
        "kills_at_s": kills, "stops": stops,
        "identical_dataset": same, "seconds": round(wall, 1), "clean_seconds": round(seconds, 1),
    }  # fmt: skip


def _rejected(run_dir: Path) -> int:
    """Batches the run adopted on size alone and whose results proved them another client's."""
    with sqlite3.connect(run_dir / "batches.sqlite") as db:
        return int(db.execute("SELECT COUNT(*) FROM foreign_batches").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the paper's sizes")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs at random moments")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--providers", default="openai,azure,anthropic")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="synsym-batch-faults-"))
    print(f"runs in {folder}", file=sys.stderr)
    for provider in args.providers.split(","):
        seconds, needed = clean(provider, folder, args.scale, args.seed)
        print(
            json.dumps({"scale": args.scale, **faulty(provider, folder, args, seconds, needed)}), flush=True
        )


if __name__ == "__main__":
    main()
