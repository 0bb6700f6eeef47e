"""The whole pipeline at the paper's sizes (configs/depression-14.yaml) against the local test server.

Server: fake answers, latency L = 200 ms, concurrency cap C = 64, so at best C / L = 320 requests/s.
The run's requests/s over that limit is `ratio`: what stage barriers, local work (dedup, export) and
the client cost together. Prints one JSON line; does not assert.

    python benchmarks/pipeline_throughput.py [--latency 0.2] [--concurrency 64] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _server import server_process
from synsym.pipeline.config import load_run_config
from synsym.pipeline.runner import run_pipeline

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the paper's sizes (for a quick look)"
    )
    args = parser.parse_args()
    with server_process("--latency", str(args.latency), "--concurrency", str(args.concurrency)) as url:
        overrides = [
            f"backend.base_url={url}",
            "backend.api_key_env=null",
            "backend.model=fake-model",
            f"backend.max_concurrency={args.concurrency}",
            "export.formats=[parquet]",
        ]
        if args.scale < 1:
            overrides += [
                f"generate.max_subconcepts={max(1, round(18 * args.scale))}",
                f"compose.n_combinations={round(590 * args.scale)}",
            ]
        config = load_run_config(ROOT / "configs/depression-14.yaml", overrides)
        run_dir = Path(tempfile.mkdtemp(prefix="synsym-pipeline-bench-"))
        start = time.perf_counter()
        result = run_pipeline(config, run_dir, progress=False)
        seconds = time.perf_counter() - start
    manifest = json.loads((run_dir / "manifest.json").read_text())
    requests = sum(
        u["calls"] + u["cache_hits"] for u in {json.dumps(v): v for v in manifest["usage"].values()}.values()
    )
    limit = args.concurrency / args.latency
    print(
        json.dumps(
            {
                "posts": result.counts["kept"],
                "generated": sum(
                    s["made"] for s in result.counts["stages"] if s["stage"] in ("generate", "compose")
                ),
                "requests": requests,
                "seconds": round(seconds, 1),
                "posts_per_s": round(result.counts["kept"] / seconds, 1),
                "rps": round(requests / seconds, 1),
                "limit_rps": limit,
                "ratio": round(requests / seconds / limit, 3),
                "stage_seconds": manifest["stage_seconds"],
            }
        )
    )


if __name__ == "__main__":
    main()
