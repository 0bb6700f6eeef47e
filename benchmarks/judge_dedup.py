"""Embedding judge and dedup throughput, each against its limit, measured in one run.

- judge: posts/s of `EmbeddingJudge.score` on N posts vs raw MiniLM `encode` sentences/s on the same posts
  and batch size (the limit: the judge encodes each post once, plus ~500 prototypes once per judge).
  With the paper's data present it also prints the calibration figures on those posts: AUC of the margin
  for (post, true symptom) vs (post, random wrong symptom) pairs, and pass rates at the default threshold.
- dedup: rows/s of `deduplicate` on the paper's 18k posts (when present) and on a synthetic 20k set with
  planted exact and near duplicates (how many it found).
Prints JSON lines; does not assert.

    python benchmarks/judge_dedup.py [--n 2000] [--all] [--data PATH] [--skip-judge]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from pathlib import Path

import numpy as np

from synsym.core.taxonomy import Taxonomy, load_taxonomy
from synsym.pipeline.dedup import deduplicate
from synsym.pipeline.judge_embedding import DEFAULT_THRESHOLD, EmbeddingJudge
from synsym.pipeline.records import Post, new_post

DATA = Path(__file__).resolve().parents[1].parent / "shared/data/synsym-kdd2026/synth_all_dsm5.csv"


def read_paper(path: Path, tax: Taxonomy) -> list[tuple[str, list[str]]] | None:
    """(post, symptoms) from the paper's CSV (`label` is a 14-dim multi-hot in taxonomy order)."""
    if not path.is_file():
        print(json.dumps({"skipped": "paper data", "reason": f"{path} not found; pass --data PATH"}))
        return None
    with path.open(newline="", encoding="utf-8") as f:
        return [(r["post"], tax.decode(json.loads(r["label"]))) for r in csv.DictReader(f)]


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(random positive > random negative), ties half: the Mann-Whitney form of ROC AUC."""
    both = np.concatenate([pos, neg])
    order = both.argsort(kind="mergesort")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    for v in np.unique(both[np.r_[False, np.diff(both[order]) == 0]] if len(both) else []):
        ranks[both == v] = ranks[both == v].mean()
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def wrong_rows(
    labels: list[list[str]], names: tuple[str, ...], seed: int
) -> tuple[list[list[str]], list[str]]:
    """Per post, its symptom list with one true symptom swapped for a random wrong one (a mislabel)."""
    rng = random.Random(seed)
    rows, targets = [], []
    for symptoms in labels:
        wrong = rng.choice([n for n in names if n not in symptoms])
        out = rng.choice(symptoms)
        rows.append([s for s in symptoms if s != out] + [wrong])
        targets.append(wrong)
    return rows, targets


def bench_judge(tax: Taxonomy, paper: list[tuple[str, list[str]]] | None, n: int) -> None:
    from synsym.classify.encoders import load_encoder

    encoder = load_encoder("minilm")
    if paper:
        sample = random.Random(0).sample(paper, min(n, len(paper)))
    else:
        words = ["sleep", "night", "tired", "eat", "weight", "sad", "guilt", "future", "focus", "forget"]
        rng = random.Random(0)
        sample = [(" ".join(rng.choice(words) for _ in range(16)), ["Sleep_disturbance"]) for _ in range(n)]
    texts, labels = [t for t, _ in sample], [s for _, s in sample]
    encoder.encode(texts[:64], batch_size=64)  # warm-up
    t0 = time.perf_counter()
    encoder.encode(texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False)
    encode_rate = len(texts) / (time.perf_counter() - t0)

    judge = EmbeddingJudge(tax, encoder=encoder)
    t0 = time.perf_counter()
    judge.prototype_vectors()
    proto_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    judge.score(texts, labels)
    judge_rate = len(texts) / (time.perf_counter() - t0)
    line = {
        "bench": "embedding_judge", "posts": len(texts), "source": "paper" if paper else "synthetic",
        "judge_posts_per_s": round(judge_rate, 1), "encode_sentences_per_s": round(encode_rate, 1),
        "ratio": round(judge_rate / encode_rate, 3),
        "prototypes": sum(len(p) for p in judge.prototype_vectors()),
        "prototype_encode_s": round(proto_s, 2),
    }  # fmt: skip
    print(json.dumps(line), flush=True)
    if paper:
        print(json.dumps(calibration_figures(judge, texts, labels)), flush=True)


def calibration_figures(
    judge: EmbeddingJudge, texts: list[str], labels: list[list[str]]
) -> dict[str, object]:
    """AUC and pass rates at the default threshold, true pairs vs mislabelled pairs."""
    sims = judge.similarities(judge.encode(texts))
    bad_rows, bad_targets = wrong_rows(labels, judge.names, seed=1)
    true_m = [
        (m, len(row) > 1) for row in judge.margins_from_similarities(sims, labels) for m in row.values()
    ]
    pos = np.array([m for m, _ in true_m])
    multi = np.array([m for m, is_multi in true_m if is_multi])
    bad = judge.margins_from_similarities(sims, bad_rows)
    neg = np.array([row[t] for row, t in zip(bad, bad_targets, strict=True)])
    score = judge.calibration.score
    return {
        "bench": "judge_calibration", "posts": len(texts), "true_pairs": len(pos), "wrong_pairs": len(neg),
        "auc": round(auc(pos, neg), 4), "threshold": DEFAULT_THRESHOLD,
        "true_pass": round(float((score(pos) >= DEFAULT_THRESHOLD).mean()), 4),
        "true_pass_multi_symptom_posts": round(float((score(multi) >= DEFAULT_THRESHOLD).mean()), 4)
        if len(multi) else None,
        "wrong_pass": round(float((score(neg) >= DEFAULT_THRESHOLD).mean()), 4),
        "wrong_below_2": round(float((score(neg) < 2).mean()), 4),
        "true_margin_p07_p50": np.round(np.quantile(pos, [0.07, 0.5]), 3).tolist(),
        "wrong_margin_p50_p95": np.round(np.quantile(neg, [0.5, 0.95]), 3).tolist(),
    }  # fmt: skip


def rows_from(texts: list[str]) -> list[Post]:
    return [
        new_post(id=f"r{i}", text=t, style="s", symptoms=[], stage="generate", backend="b", model="m",
                 template="t", request_key=f"k{i}")
        for i, t in enumerate(texts)
    ]  # fmt: skip


def synthetic_texts(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """n posts: 80% distinct random 16-30 word sentences, then (shuffled) 10% exact repeats with case and
    punctuation changes and 10% near repeats (last word changed: word 3-shingle Jaccard >= 0.87). Returns
    the texts and, per text, what was planted: "distinct", "exact" or "near"."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(3000)]
    base = [" ".join(rng.choice(vocab) for _ in range(rng.randint(16, 30))) for _ in range(int(n * 0.8))]
    copies = [(rng.choice(base).upper() + "!", "exact") for _ in range(n // 10)]
    for _ in range(n - len(base) - len(copies)):
        words = rng.choice(base).split()
        words[-1] = rng.choice(vocab)
        copies.append((" ".join(words), "near"))
    rng.shuffle(copies)
    planted = [(t, "distinct") for t in base] + copies
    return [t for t, _ in planted], [k for _, k in planted]


def bench_dedup(paper: list[tuple[str, list[str]]] | None, n: int) -> None:
    sets: list[tuple[str, list[str], list[str] | None]] = []
    if paper:
        sets.append(("paper", [t for t, _ in paper], None))
    texts, kinds = synthetic_texts(n)
    sets.append(("synthetic", texts, kinds))
    for name, texts, planted in sets:
        rows = rows_from(texts)
        t0, c0 = time.perf_counter(), time.process_time()
        kept, dropped = deduplicate(rows)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        reasons = [r["drop_reason"] or "" for r in dropped]
        line: dict[str, object] = {
            "bench": "dedup", "source": name, "rows": len(rows), "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2), "rows_per_s": round(len(rows) / seconds), "kept": len(kept),
            "exact": sum(r.startswith("exact") for r in reasons),
            "near": sum(r.startswith("near") for r in reasons),
        }  # fmt: skip
        if planted:  # originals come first, so every planted copy should be the one dropped
            gone = {int(r["id"][1:]) for r in dropped}
            line["planted"] = {k: planted.count(k) for k in ("exact", "near")}
            line["planted_found"] = {k: sum(planted[i] == k for i in gone) for k in ("exact", "near")}
            line["distinct_dropped"] = sum(planted[i] == "distinct" for i in gone)
        print(json.dumps(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="posts to judge (a sample of the paper's)")
    parser.add_argument("--all", action="store_true", help="judge all the paper's posts (slow on CPU)")
    parser.add_argument("--data", type=Path, default=DATA, help="the paper's synth_all_dsm5.csv")
    parser.add_argument("--dedup-rows", type=int, default=20000)
    parser.add_argument("--skip-judge", action="store_true")
    args = parser.parse_args()
    tax = load_taxonomy("depression-14")
    paper = read_paper(args.data, tax)
    bench_dedup(paper, args.dedup_rows)
    if not args.skip_judge:
        bench_judge(tax, paper, len(paper) if (args.all and paper) else args.n)


if __name__ == "__main__":
    main()
