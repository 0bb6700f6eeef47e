"""Embedding judge and dedup throughput, each against its limit, measured in one run.

- judge: posts/s of `EmbeddingJudge.score` on N posts vs raw MiniLM `encode` sentences/s on the same posts
  and batch size (the limit: the judge encodes each post once, plus the parts of multi-symptom posts,
  plus ~190 prototypes once per judge).
  With the paper's data present it also prints the calibration figures on those posts: AUC of the score
  for (post, true symptom) vs (post, random wrong symptom) pairs, and pass rates at thresholds 4, 3, 2;
  then, on the sample's multi-symptom posts, the old scoring (a label rivalled only by the symptoms the
  post is not labelled with, on the best of the post and its sentences) against the part-by-part one, for
  two kinds of wrong pair: one label swapped for an absent symptom, and one absent symptom added to the
  true labels (the user report's case: a label the text does not support, among ones it does); overall and
  by post size (2, 3, 4-5 symptoms), with the knots the calibration rule would fit on this sample.
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
from typing import Any

import numpy as np

from synsym.core.columns import Post, new_post
from synsym.core.taxonomy import Taxonomy, load_taxonomy
from synsym.recipe.common.embedding_judge import DEFAULT_THRESHOLD, EmbeddingJudge, parts
from synsym.recipe.dedup.stage import deduplicate

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


def added_rows(
    labels: list[list[str]], names: tuple[str, ...], seed: int
) -> tuple[list[list[str]], list[str]]:
    """Per post, its symptom list plus one random absent symptom (a label the text does not support)."""
    rng = random.Random(seed)
    extra = [rng.choice([n for n in names if n not in symptoms]) for symptoms in labels]
    return [[*s, w] for s, w in zip(labels, extra, strict=True)], extra


class Memo:
    """An encoder that keeps what it encoded, so the figures after the timed run reuse its embeddings."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.seen: dict[str, np.ndarray] = {}

    def encode(self, sentences: list[str], **kwargs: Any) -> np.ndarray:
        todo = [s for s in sentences if s not in self.seen]  # as the judge sends them, repeats included
        if todo:
            self.seen.update(zip(todo, np.asarray(self.encoder.encode(todo, **kwargs)), strict=True))
        return np.stack([self.seen[s] for s in sentences])


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

    judge = EmbeddingJudge(tax, encoder=Memo(encoder))
    t0 = time.perf_counter()
    judge.prototype_vectors()
    proto_s = time.perf_counter() - t0
    before = raw_encode()
    t0, c0 = time.perf_counter(), time.process_time()
    true_scores = judge.score(texts, labels)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    after = raw_encode()  # encode before and after the judge: a shared machine's load drifts
    enc_wall, enc_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    n_parts = sum(len(parts(t)) - 1 for t, s in zip(texts, labels, strict=True) if len(s) > 1)
    line = {
        "bench": "embedding_judge", "posts": len(texts), "source": "paper" if paper else "synthetic",
        "parts": n_parts, "judge_posts_per_s": round(len(texts) / wall, 1),
        "encode_sentences_per_s": round(len(texts) / enc_wall, 1), "ratio": round(enc_wall / wall, 3),
        "ratio_cpu": round(enc_cpu / cpu, 3),
        "ratio_per_encoded_text": round(enc_wall / wall * (len(texts) + n_parts) / len(texts), 3),
        "prototypes": sum(len(p) for p in judge.prototype_vectors()), "prototype_encode_s": round(proto_s, 2),
    }  # fmt: skip
    print(json.dumps(line), flush=True)
    if not paper:
        reason = "the calibration figures need the paper's data (see the 'paper data' line)"
        print(json.dumps({"skipped": "judge_calibration, judge_multi_calibration", "reason": reason}))
        return
    print(json.dumps(calibration_figures(judge, texts, labels, true_scores)), flush=True)
    multi = [i for i, s in enumerate(labels) if len(s) > 1]
    if not multi:
        print(json.dumps({"skipped": "judge_multi_calibration", "reason": "no multi-symptom post in sample"}))
    for line in multi_calibration(judge, [texts[i] for i in multi], [labels[i] for i in multi]):
        print(json.dumps(line), flush=True)


def pass_rates(pos: np.ndarray, neg: np.ndarray) -> dict[str, object]:
    """AUC of true vs wrong scores and the share of each at or above thresholds 4, 3 and 2."""
    return {
        "auc": round(auc(pos, neg), 4),
        "true_pass_at": {k: round(float((pos >= k).mean()), 4) for k in (4, 3, 2)},
        "wrong_pass_at": {k: round(float((neg >= k).mean()), 4) for k in (4, 3, 2)},
    }


def calibration_figures(
    judge: EmbeddingJudge, texts: list[str], labels: list[list[str]], true_scores: list[dict[str, float]]
) -> dict[str, object]:
    """The judge as shipped: AUC of the score and pass rates, true pairs vs mislabelled pairs (one of a
    post's symptoms swapped for a random other one); all posts, then single- and multi-symptom ones."""
    bad_rows, bad_targets = wrong_rows(labels, judge.names, seed=1)
    bad = judge.score(texts, bad_rows)
    size = np.array([len(s) for s in labels])
    pos = [np.array(list(r.values())) for r in true_scores]
    neg = np.array([row[t] for row, t in zip(bad, bad_targets, strict=True)])
    out: dict[str, object] = {
        "bench": "judge_calibration", "posts": len(labels), "true_pairs": sum(map(len, pos)),
        "wrong_pairs": len(neg), "threshold": DEFAULT_THRESHOLD,
    }  # fmt: skip
    for name, keep in (("all", size > 0), ("single_symptom", size == 1), ("multi_symptom", size > 1)):
        if keep.any():
            out[name] = pass_rates(
                np.concatenate([p for p, k in zip(pos, keep, strict=True) if k]), neg[keep]
            )
    return out


def multi_calibration(
    judge: EmbeddingJudge, texts: list[str], labels: list[list[str]]
) -> list[dict[str, object]]:
    """Multi-symptom posts, old scoring vs part by part, for swapped and for added wrong labels; overall
    and by post size. The old scores come from `post_similarities` + `scores_from_similarities`, which keep
    the whole-post margin and `DEFAULT_CALIBRATION`."""
    old_sims = judge.post_similarities(texts)
    new_margins = judge.margins(texts, labels)
    size = np.array([len(s) for s in labels])
    out: list[dict[str, object]] = []
    for kind, (bad_rows, bad_targets) in (
        ("swapped", wrong_rows(labels, judge.names, seed=1)),
        ("added", added_rows(labels, judge.names, seed=1)),
    ):
        for scoring in ("old", "new"):
            if scoring == "old":
                true, bad = (judge.scores_from_similarities(old_sims, r) for r in (labels, bad_rows))
            else:
                true, bad = judge.score(texts, labels), judge.score(texts, bad_rows)
            pos = [np.array([row[s] for s in symptoms]) for row, symptoms in zip(true, labels, strict=True)]
            neg = np.array([row[t] for row, t in zip(bad, bad_targets, strict=True)])
            line: dict[str, object] = {
                "bench": "judge_multi_calibration", "wrong": kind, "scoring": scoring, "posts": len(texts),
                "true_pairs": sum(map(len, pos)), **pass_rates(np.concatenate(pos), neg),
            }  # fmt: skip
            by_size = {}
            for name, lo, hi in (("2", 2, 2), ("3", 3, 3), ("4-5", 4, 5)):
                keep = (size >= lo) & (size <= hi)
                if keep.any():
                    p = np.concatenate([p for p, k in zip(pos, keep, strict=True) if k])
                    by_size[name] = {"posts": int(keep.sum()), **pass_rates(p, neg[keep])}
            line["by_size"] = by_size
            if scoring == "new" and kind == "swapped":
                line["refit_knots"] = refit_knots(new_margins, judge.margins(texts, bad_rows), bad_targets)
            out.append(line)
    return out


def refit_knots(
    true: list[dict[str, float]], bad: list[dict[str, float]], bad_targets: list[str]
) -> list[float]:
    """The margins of scores 0/2/4/5 by `MULTI_CALIBRATION`'s rule: the median wrong margin, then the 2nd
    and 7th percentiles and the median of true margins (to compare with the shipped knots)."""
    pos = np.array([v for row in true for v in row.values()])
    neg = np.array([row[t] for row, t in zip(bad, bad_targets, strict=True)])
    return [round(float(v), 3) for v in (np.median(neg), *np.percentile(pos, [2, 7, 50]))]


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
