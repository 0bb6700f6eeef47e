"""Classifier benchmark: speed and macro-F1 on the paper's released posts, transfer to real text, and a
real-only C-SSRS cross-validation. Prints one JSON line per measurement; asserts nothing.

1. The paper's 14-label dataset (../shared/data/synsym-kdd2026), seeded 80/20 multilabel-stratified split:
   training examples/s, inference sentences/s and held-out macro-F1 for tfidf, embed, the naive fine-tune
   (lr 5e-5, random head: the recipe the issue measured) and the default `finetune` (LP-FT: the head is
   fitted on frozen embeddings first, then everything but the token embeddings trains at lr 5e-5).
   The same models, trained on synthetic posts only, are scored on real text: C-SSRS users (ROC-AUC of
   Suicidal_ideas; Ideation/Behavior/Attempt vs Supportive)
   and the 24 ReDSM5 sample sentences (mean ROC-AUC in the ReDSM5 label space). Both real sets are small:
   read differences of a few hundredths as noise.
2. Real text only: 5-fold multilabel-stratified cross-validation on the C-SSRS users.
3. Style shift, a large stand-in for "transfers to text unlike the training text": train on clinical-style
   posts only, test on colloquial-style posts (the released `type` column), macro-F1 and ROC-AUC.

Timings are wall-clock on a shared machine: every line carries the 1-minute load average.

Usage: python benchmarks/classifier.py [--train-limit 3000] [--models tfidf,embed,finetune-naive,finetune]
Takes about 14 minutes on 2 CPU cores with the defaults (the naive fine-tune is left out of the style
shift; add it with --style-models embed,finetune-naive,finetune).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

from _data import CSSRS, PAPER, REDSM5, SHARED

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")


VARIANTS: dict[str, tuple[str, dict[str, object]]] = {
    "tfidf": ("tfidf", {}),
    "embed": ("embed", {}),
    "finetune-naive": (
        "finetune",
        {"lr": 5e-5, "head_lr": 5e-5, "lp_init": False, "freeze_layers": 0, "l2sp": 0.0, "wise_alpha": 1.0},
    ),
    "finetune": ("finetune", {}),
    # ablations (pass with --models / --style-models)
    "finetune-naive-headlr": (
        "finetune",
        {"lr": 5e-5, "head_lr": 1e-3, "lp_init": False, "freeze_layers": 0, "l2sp": 0.0, "wise_alpha": 1.0},
    ),
    "finetune-conservative": (
        "finetune",
        {"lr": 1e-5, "head_lr": 1e-3, "lp_init": True, "freeze_layers": 3, "l2sp": 0.1, "wise_alpha": 0.5},
    ),
    "finetune-conservative-no-wise": (
        "finetune",
        {"lr": 1e-5, "head_lr": 1e-3, "lp_init": True, "freeze_layers": 3, "l2sp": 0.1, "wise_alpha": 1.0},
    ),
    "finetune-lpft-wise": (
        "finetune",
        {"lr": 5e-5, "head_lr": 5e-5, "lp_init": True, "freeze_layers": 0, "l2sp": 0.0, "wise_alpha": 0.5},
    ),
}


def emit(**row: object) -> None:
    row["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(row), flush=True)


def style_split(ds: object, limit: int, seed: int) -> tuple[object, object]:
    """(clinical rows, colloquial rows) of the released CSV, each a seeded subsample of `limit`."""
    import csv

    csv.field_size_limit(sys.maxsize)
    with PAPER.open(newline="", encoding="utf-8") as fh:
        styles = np.array([r["type"] for r in csv.DictReader(fh)])
    rng = np.random.default_rng(seed)
    out = []
    for style in ("clinical", "colloquial"):
        idx = np.flatnonzero(styles == style)
        out.append(ds.subset(np.sort(rng.permutation(idx)[:limit])))  # type: ignore[attr-defined]
    return out[0], out[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--train-limit", type=int, default=3000, help="training rows for embed/finetune (tfidf: all)"
    )
    ap.add_argument(
        "--test-limit", type=int, default=None, help="held-out rows scored (default: all of the 20%%)"
    )
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--models", default="tfidf,embed,finetune-naive,finetune")
    ap.add_argument("--cv-models", default="tfidf,embed", help="models for the C-SSRS 5-fold CV")
    ap.add_argument("--style-models", default="embed,finetune", help="models for the style shift")
    ap.add_argument("--style-limit", type=int, default=1500, help="rows per style in the style-shift section")
    ap.add_argument("--sections", default="paper,cssrs,style")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    if not PAPER.exists():
        print(f"skip: {PAPER} is absent (the benchmark needs ../shared beside the repository)")
        return 0
    from synsym.classify.api import score_on
    from synsym.classify.metrics import mean_std
    from synsym.classify.models import create_model
    from synsym.classify.sources import load_dataset
    from synsym.classify.splits import holdout, kfold
    from synsym.core import encoders

    encoders.set_threads()
    ds = load_dataset(PAPER)
    keep, held = holdout(ds, 0.2, args.seed)
    train_all, test = ds.subset(keep), ds.subset(held)
    rng = np.random.default_rng(args.seed)
    train_small = train_all.subset(np.sort(rng.permutation(len(train_all))[: args.train_limit]))
    if args.test_limit:
        test = test.subset(np.sort(rng.permutation(len(test))[: args.test_limit]))
    cssrs = load_dataset(CSSRS) if CSSRS.exists() else None
    redsm5 = load_dataset(REDSM5, "d2s") if REDSM5.exists() else None
    emit(
        section="setup",
        dataset=str(PAPER.relative_to(SHARED)),
        rows=len(ds),
        train_rows_tfidf=len(train_all),
        train_rows_encoders=len(train_small),
        test_rows=len(test),
        epochs=args.epochs,
        cores=os.cpu_count(),
        torch_threads=__import__("torch").get_num_threads(),
        real_text={
            "cssrs_users": len(cssrs) if cssrs else None,
            "redsm5_sentences": len(redsm5) if redsm5 else None,
        },
    )
    sections = set(args.sections.split(","))
    for name in args.models.split(",") if "paper" in sections else []:
        kind, params = VARIANTS[name]
        params = dict(params, epochs=args.epochs) if kind == "finetune" else params
        train = train_all if kind == "tfidf" else train_small
        encoders.clear_cache()  # every model pays for its own encoding
        t0 = time.perf_counter()
        model = create_model(kind, params).fit(train, seed=args.seed)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        probs = model.predict_proba(test.texts)
        infer_s = time.perf_counter() - t0
        m = score_on(model, test, probs=probs)
        row: dict[str, object] = {
            "section": "paper-14",
            "model": name,
            "train_rows": len(train),
            "train_ex_per_s": round(len(train) / fit_s, 1),
            "infer_sent_per_s": round(len(test) / infer_s, 1),
            "macro_f1": round(m["macro_f1"], 4),
            "micro_f1": round(m["micro_f1"], 4),
            "macro_roc_auc": round(m["macro_roc_auc"], 4),
        }
        if cssrs is not None:
            row["real_cssrs_suicidal_auc"] = round(score_on(model, cssrs)["macro_roc_auc"], 4)
        if redsm5 is not None:
            row["real_redsm5_mean_auc"] = round(score_on(model, redsm5, "dsm5")["macro_roc_auc"], 4)
        if model.history:
            row["steps"] = model.history.get("steps")
            row["best_step"] = model.history.get("best_step")
        emit(**row)
    if cssrs is None:
        print(f"skip: {CSSRS} is absent; no C-SSRS cross-validation")
        sections.discard("cssrs")
    for name in args.cv_models.split(",") if "cssrs" in sections else []:
        kind, params = VARIANTS[name]
        encoders.clear_cache()
        f1s, aucs, t0 = [], [], time.perf_counter()
        for train_idx, test_idx in kfold(cssrs, 5, args.seed):
            model = create_model(kind, params).fit(cssrs.subset(train_idx), seed=args.seed)
            m = score_on(model, cssrs.subset(test_idx))
            f1s.append(m["macro_f1"])
            aucs.append(m["macro_roc_auc"])
        f1, f1_sd = mean_std(f1s)
        auc, auc_sd = mean_std(aucs)
        emit(
            section="cssrs-5fold-real-only",
            model=name,
            users=len(cssrs),
            positive_rate=round(float(cssrs.labels.mean()), 3),
            f1=round(f1, 4),
            f1_sd=round(f1_sd, 4),
            roc_auc=round(auc, 4),
            roc_auc_sd=round(auc_sd, 4),
            seconds=round(time.perf_counter() - t0, 1),
        )
    if "style" in sections:
        clinical, colloquial = style_split(ds, args.style_limit, args.seed)
        for name in args.style_models.split(","):
            kind, params = VARIANTS[name]
            params = dict(params, epochs=args.epochs) if kind == "finetune" else params
            encoders.clear_cache()
            t0 = time.perf_counter()
            model = create_model(kind, params).fit(clinical, seed=args.seed)
            m = score_on(model, colloquial)
            row = {
                "section": "style-shift-clinical-to-colloquial",
                "model": name,
                "train_rows": len(clinical),
                "test_rows": len(colloquial),
                "macro_f1": round(m["macro_f1"], 4),
                "macro_roc_auc": round(m["macro_roc_auc"], 4),
                "seconds": round(time.perf_counter() - t0, 1),
            }
            if cssrs is not None:
                row["real_cssrs_suicidal_auc"] = round(score_on(model, cssrs)["macro_roc_auc"], 4)
            if redsm5 is not None:
                row["real_redsm5_mean_auc"] = round(score_on(model, redsm5, "dsm5")["macro_roc_auc"], 4)
            emit(**row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
