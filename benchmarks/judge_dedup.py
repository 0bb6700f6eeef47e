"""Embedding judge and dedup throughput, each against its limit, measured in one run.

- judge: posts/s of `EmbeddingJudge.score` on N posts vs raw MiniLM `encode` sentences/s on the same posts
  and batch size (the limit: the judge encodes each post once, plus the pieces of multi-symptom posts,
  plus ~190 prototypes once per judge).
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

from synsym.core.columns import Post, new_post
from synsym.core.taxonomy import Taxonomy, load_taxonomy
from synsym.pipeline.dedup import deduplicate
from synsym.pipeline.judge_embedding import DEFAULT_THRESHOLD, EmbeddingJudge, pieces

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
    _, inverse, counts = np.unique(np.concatenate([pos, neg]), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[inverse]  # average rank of tied values, 1-based
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
    from synsym.core.encoders import load_encoder

    encoder = load_encoder("minilm")
    if paper:
        sample = random.Random(0).sample(paper, min(n, len(paper)))
    else:
        words = ["sleep", "night", "tired", "eat", "weight", "sad", "guilt", "future", "focus", "forget"]
        rng = random.Random(0)
        sample = [(" ".join(rng.choice(words) for _ in range(16)), ["Sleep_disturbance"]) for _ in range(n)]
    texts, labels = [t for t, _ in sample], [s for _, s in sample]
    encoder.encode(texts[:64], batch_size=64)  # warm-up

    def raw_encode() -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        encoder.encode(texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False)
        return time.perf_counter() - t0, time.process_time() - c0

    judge = EmbeddingJudge(tax, encoder=encoder)
    t0 = time.perf_counter()
    judge.prototype_vectors()
    proto_s = time.perf_counter() - t0
    before = raw_encode()
    t0, c0 = time.perf_counter(), time.process_time()
    split = [len(s) > 1 for s in labels]  # what score() does; sims are kept for the calibration figures
    sims = judge.post_similarities(texts, split)
    judge.scores_from_similarities(sims, labels)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    after = raw_encode()  # encode before and after the judge: a shared machine's load drifts
    enc_wall, enc_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    n_pieces = sum(len(pieces(t)) for t, cut in zip(texts, split, strict=True) if cut)
    line = {
        "bench": "embedding_judge", "posts": len(texts), "source": "paper" if paper else "synthetic",
        "pieces": n_pieces, "judge_posts_per_s": round(len(texts) / wall, 1),
        "encode_sentences_per_s": round(len(texts) / enc_wall, 1), "ratio": round(enc_wall / wall, 3),
        "ratio_cpu": round(enc_cpu / cpu, 3),
        "ratio_per_encoded_text": round(enc_wall / wall * (len(texts) + n_pieces) / len(texts), 3),
        "prototypes": sum(len(p) for p in judge.prototype_vectors()), "prototype_encode_s": round(proto_s, 2),
    }  # fmt: skip
    print(json.dumps(line), flush=True)
    if paper:
        print(json.dumps(calibration_figures(judge, sims, labels)), flush=True)


def calibration_figures(
    judge: EmbeddingJudge, sims: np.ndarray, labels: list[list[str]]
) -> dict[str, object]:
    """AUC of the score and pass rates at the default threshold: true pairs vs mislabelled pairs (one of
    a post's symptoms swapped for a random other one)."""
    bad_rows, bad_targets = wrong_rows(labels, judge.names, seed=1)
    true_s = [(v, len(r) > 1) for r in judge.scores_from_similarities(sims, labels) for v in r.values()]
    pos = np.array([v for v, _ in true_s])
    multi = np.array([v for v, is_multi in true_s if is_multi])
    bad = judge.scores_from_similarities(sims, bad_rows)
    neg = np.array([row[t] for row, t in zip(bad, bad_targets, strict=True)])
    t = DEFAULT_THRESHOLD
    return {
        "bench": "judge_calibration", "posts": len(labels), "true_pairs": len(pos), "wrong_pairs": len(neg),
        "auc": round(auc(pos, neg), 4), "threshold": t, "true_pass": round(float((pos >= t).mean()), 4),
        "true_pass_multi_symptom_posts": round(float((multi >= t).mean()), 4) if len(multi) else None,
        "wrong_pass": round(float((neg >= t).mean()), 4),
        "true_pass_at": {k: round(float((pos >= k).mean()), 4) for k in (2, 3)},
        "wrong_pass_at": {k: round(float((neg >= k).mean()), 4) for k in (2, 3)},
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
        reasons = [r["drop_class"] or "" for r in dropped]
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
