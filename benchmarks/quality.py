"""Quality benchmark: how long `synsym inspect` takes on the paper's 18,254 released posts, against
MiniLM's raw encode rate measured in the same run on the same machine.

Measured, each printed as one JSON line (timings are wall-clock on a shared machine; every line carries
the 1-minute load average):
1. MiniLM's raw encode rate (posts/s) on a seeded sample of the paper's posts, model already loaded.
2. `inspect_dataset` without embeddings (lexical figures, balance, shortcuts) on all posts.
3. `inspect_dataset` with embedding figures on the default seeded sample of 3,000 posts.
4. The limit: inspect (3) should cost less than encoding every post once at the raw rate (1), because
   it encodes a sample and its lexical work is cheap beside a transformer pass; the ratio is printed.
Optionally (--leakage) the leakage check against the 25 ReDSM5 sample sentences, which encodes every
synthetic post once.

Skips cleanly (exit 0, a JSON line saying why) when ../shared is absent.
Usage: python benchmarks/quality.py [--encode-sample 2000] [--embed-sample 3000] [--leakage]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PAPER = SHARED / "synsym-kdd2026" / "synth_all_dsm5.csv"
REDSM5 = SHARED / "redsm5-sample" / "redsm5_sample.csv"


def emit(**fields: Any) -> None:
    fields["load_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(fields), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encode-sample", type=int, default=2000)
    parser.add_argument("--embed-sample", type=int, default=3000)
    parser.add_argument("--leakage", action="store_true")
    args = parser.parse_args()
    if not PAPER.is_file():
        emit(skipped=f"{PAPER} not found: the paper's dataset lives in ../shared, absent in a fresh clone")
        return

    from synsym.core.encoders import clear_cache, load_encoder
    from synsym.quality import inspect_dataset, load_quality_data
    from synsym.quality.diversity import default_embedder

    data = load_quality_data(PAPER)
    n = len(data)
    model = load_encoder("minilm", 128)
    model.encode(["warm up"] * 8)
    texts = random.Random(1).sample(data.texts, min(args.encode_sample, n))
    start = time.perf_counter()
    model.encode(texts, batch_size=64, show_progress_bar=False)
    raw = time.perf_counter() - start
    rate = len(texts) / raw
    emit(
        measure="minilm_raw_encode",
        posts=len(texts),
        seconds=round(raw, 2),
        posts_per_s=round(rate, 1),
        all_posts_seconds=round(n / rate, 1),
    )

    start = time.perf_counter()
    inspect_dataset(data, embed=False)
    lexical = time.perf_counter() - start
    emit(measure="inspect_no_embed", posts=n, seconds=round(lexical, 2))

    clear_cache()
    start = time.perf_counter()
    result = inspect_dataset(data, embedder=default_embedder(), embed_sample=args.embed_sample)
    full = time.perf_counter() - start
    emit(
        measure="inspect",
        posts=n,
        embed_sample=args.embed_sample,
        seconds=round(full, 2),
        vs_encoding_every_post=round(full / (n / rate), 3),
        within_limit=full < n / rate,
        distinct_2=result["diversity"]["overall"]["distinct_2"],
        mean_nn_similarity=result["diversity"]["overall"].get("mean_nn_similarity"),
        keyword_macro_f1=result["shortcuts"]["macro_f1"],
    )

    if args.leakage and REDSM5.is_file():
        from synsym.classify.data import read_texts
        from synsym.quality.leakage import leakage

        _, real = read_texts(REDSM5)
        start = time.perf_counter()
        out = leakage(data.texts, real, default_embedder())
        emit(
            measure="leakage_vs_redsm5_sample",
            posts=n,
            real=len(real),
            seconds=round(time.perf_counter() - start, 2),
            **out.get("embedding", {}) | {"closest_pairs": None},
        )


if __name__ == "__main__":
    main()
