"""Contrast benchmark: do contrastive rewrites of the paper's posts make `embed` and `finetune` refuse
what only looks like a symptom (a third person's, a quoted one) without losing the posts that state one?

1. Rewrites: `synsym contrast` on the paper's release (../shared/data/synsym-kdd2026), rule-made kinds
   (person_swap, reported_speech; offline) and model-made kinds with `--backend` / `--config` (the fake
   backend by default: it runs the machinery, its text means nothing). Both runs live in `--work` and
   resume from their cache on a rerun.
2. One grouped 80/20 split of posts and rewrites together (a post and its rewrites on one side), the same
   for every row below. Training: the paper's training posts (finetune: a seeded subsample, `--ft-train`)
   plus the rewrites, of the kinds named by the row, of those posts only.
3. Per (kinds, model, variant) one JSON line: macro-F1 and micro recall on the paper's held-out posts and
   the recall change against the same variant without rewrites (it must not fall by more than 0.01);
   the false-positive rate on held-out rewrites of other posts (sources never trained on), per kind: a
   rewrite predicted positive on a symptom it removed; how often a held-out post outscores its rewrite;
   real text: the ReDSM5 sample (24 sentences, DSM-5 space) and C-SSRS users (Suicidal_ideas), ROC-AUC
   and AP. Variants: `old` (embed: c=10, the default before contrast), `new` (today's defaults), `auto`
   (embed: c chosen per run by the shift proxies), `c1` (finetune: its linear-probe head at embed's c=1,
   measured and not taken), `pairwise` (finetune: new defaults plus the source-above-rewrite term).

Timings and the load average are on a shared machine (every line carries the 1-minute load); the figures
are one seed: treat differences of about 0.01 on the real sets as noise. A markdown summary goes to stderr.

Usage: python benchmarks/contrast.py [--n 6000] [--ft-train 1500] [--backend fake] [--models embed,finetune]
About 35 minutes on 2 busy CPU cores with the defaults; `--quick` runs a small smoke version.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from _data import CSSRS, PAPER, REDSM5, SHARED

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

RULE_KINDS = ("person_swap", "reported_speech")
MODEL_KINDS = "other_person,past,hypothetical,denied,partial"
OLD_EMBED = {"c": 10.0}
ROWS: list[dict[str, Any]] = []


def emit(**row: Any) -> None:
    row["load_avg_1m"] = round(os.getloadavg()[0], 2)
    ROWS.append(row)
    print(json.dumps(row), flush=True)


def contrast_run(out: Path, n: int, kinds: str, extra: list[str]) -> Path:
    """`synsym contrast PAPER --out OUT ...` (a rerun resumes); the export's dataset.parquet."""
    cli = Path(sys.executable).with_name("synsym")
    cmd = [str(cli) if cli.exists() else "synsym", "contrast", str(PAPER), "--out", str(out)]
    cmd += ["--n", str(n), "--kinds", kinds, *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    emit(section="rewrites", kinds=kinds, n=n, out=str(out), seconds=round(time.perf_counter() - t0, 1))
    return out / "dataset.parquet"


def merged(rule: Path, model: Path | None) -> tuple[Any, np.ndarray]:
    """The rule run's posts and rewrites plus the model run's rewrites (same sources, same ids), and each
    row's contrast kind ('' for a post)."""
    from synsym.classify.sources import load_dataset
    from synsym.classify.texts import LabelledTexts
    from synsym.core.dataset import read_export

    a, a_rows = load_dataset(rule), read_export(rule).rows
    kinds = [r["contrast_kind"] or "" for r in a_rows]
    if model is None:
        return a, np.array(kinds, dtype=object)
    b, b_rows = load_dataset(model), read_export(model).rows
    where = {r["id"]: i for i, r in enumerate(a_rows)}
    new = [i for i, r in enumerate(b_rows) if r["contrast_of"] and r["contrast_of"] in where]
    into = {i: len(a) + k for k, i in enumerate(new)}
    b_pairs = [
        (where[b_rows[s]["id"]], into[r], j) for s, r, j in b.pairs if r in into and b_rows[s]["id"] in where
    ]
    both = LabelledTexts(
        a.texts + [b.texts[i] for i in new],
        np.vstack([a.labels, b.labels[new]]),
        a.label_names,
        np.vstack([a.mask, b.mask[new]]),
        "paper+rewrites",
        np.concatenate([a.groups, b.groups[new]]),
        np.vstack([a.pairs, np.array(b_pairs, dtype=np.int64).reshape(-1, 3)]),
        np.concatenate([a.styles, b.styles[new]]),
    )
    return both, np.array(kinds + [b_rows[i]["contrast_kind"] for i in new], dtype=object)


def training_set(train: Any, kinds: np.ndarray, posts: np.ndarray, use: set[str]) -> Any:
    """The given training posts plus the rewrites (of the kinds in `use`) whose root is one of them."""
    roots = set(train.groups[posts].astype(str))
    extra = [i for i in np.flatnonzero(kinds != "") if kinds[i] in use and str(train.groups[i]) in roots]
    return train.subset(np.sort(np.concatenate([posts, np.array(extra, dtype=int)])))


def measure(
    model: Any, test: Any, kinds: np.ndarray, paper_rows: np.ndarray, real: dict[str, Any]
) -> dict[str, Any]:
    """Held-out posts (macro-F1, recall), held-out rewrites (FP rate per kind, pair order), real sets."""
    from synsym.classify.api import score_on

    probs = model.predict_proba(test.texts)
    paper = test.subset(paper_rows)
    m = score_on(model, paper, probs=probs[paper_rows])
    pos = paper.labels > 0
    recall = float(((probs[paper_rows] >= model.thresholds) & pos).sum() / pos.sum())
    s, r, j = test.pairs.T
    flagged = probs[r, j] >= model.thresholds[j]
    fp = {k: round(float(flagged[kinds[r] == k].mean()), 4) for k in sorted(set(kinds[r]))}
    fp["all"] = round(float(flagged.mean()), 4)
    out: dict[str, Any] = {
        "paper_macro_f1": round(m["macro_f1"], 4),
        "paper_recall": round(recall, 4),
        "fp_heldout_rewrites": fp,
        "pair_order": round(float((probs[s, j] > probs[r, j]).mean()), 4),
    }
    for name, (data, space) in real.items():
        rm = score_on(model, data, space)
        out[f"{name}_auc"] = _round(rm.get("macro_roc_auc"))
        out[f"{name}_ap"] = _round(rm.get("macro_average_precision"))
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def variants(model: str, pairwise: float) -> dict[str, dict[str, Any]]:
    if model == "embed":
        return {"old": OLD_EMBED, "new": {}, "auto": {"c_grid": [0.1, 0.3, 1, 3, 10], "select": "shift"}}
    return {"new": {}, "c1": {"c": 1.0}, "pairwise": {"pairwise_weight": pairwise}}


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="runs/bench-contrast", help="where the contrast runs are kept")
    ap.add_argument("--n", type=int, default=6000, help="rule-made rewrites (person_swap + reported_speech)")
    ap.add_argument("--model-n", type=int, default=1500, help="model-made rewrites (0: none)")
    ap.add_argument("--model-kinds", default=MODEL_KINDS)
    ap.add_argument("--backend", default="fake", help="backend for the model-made kinds")
    ap.add_argument("--config", default=None, help="run config for the model-made kinds (backend, judge)")
    ap.add_argument("--judge", default="none", help="judge.method for the rewrites (none: keep them all)")
    ap.add_argument("--models", default="embed,finetune")
    ap.add_argument("--embed-train", type=int, default=None, help="paper training posts for embed (all)")
    ap.add_argument("--ft-train", type=int, default=1500, help="paper training posts for finetune")
    ap.add_argument("--test", type=int, default=1000, help="held-out paper posts scored")
    ap.add_argument("--test-rewrites", type=int, default=1000, help="held-out rewrites scored")
    ap.add_argument("--cssrs", type=int, default=None, help="C-SSRS users scored (all 401)")
    ap.add_argument("--pairwise", type=float, default=1.0, help="pairwise_weight of the pairwise variant")
    ap.add_argument("--ft-kinds", default="none,both,person_swap,reported_speech,model",
                    help="training sets for finetune (embed: all)")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="a small smoke run (minutes)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.quick:
        args.n, args.model_n, args.embed_train, args.ft_train = 600, 200, 1500, 200
        args.test, args.test_rewrites, args.cssrs, args.ft_kinds = 300, 300, 60, "none,both"
    return args


def sample(rows: np.ndarray, n: int | None, seed: int, purpose: str) -> np.ndarray:
    """A sorted seeded sample of `rows` (all of them when n is None), drawn independently per purpose."""
    if n is None or n >= len(rows):
        return rows
    rng = np.random.default_rng([seed, sum(purpose.encode())])
    return np.sort(rng.permutation(rows)[:n])


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Make (or resume) the rewrites, split posts and rewrites by groups, and pick what is scored."""
    from synsym.classify.sources import load_dataset
    from synsym.classify.splits import holdout

    work = Path(args.work)
    judge = ["--set", f"judge.method={args.judge}"]
    rule = contrast_run(work / "rules", args.n, ",".join(RULE_KINDS), judge)
    model_made = None
    if args.model_n:
        how = ["--config", args.config] if args.config else ["--backend", args.backend]
        name = "model-config" if args.config else f"model-{args.backend}"
        model_made = contrast_run(work / name, args.model_n, args.model_kinds, judge + how)
    data, kinds = merged(rule, model_made)
    keep, held = holdout(data, 0.2, args.seed)  # by groups: no post shares a side with its rewrite
    test_all, k_test = data.subset(held), kinds[held]
    # scored: a sample of the held-out posts, a sample of held-out rewrites, and those rewrites' sources
    paper_held = sample(np.flatnonzero(k_test == ""), args.test, args.seed, "test posts")
    rewrites_held = sample(np.flatnonzero(k_test != ""), args.test_rewrites, args.seed, "test rewrites")
    sources = test_all.pairs[np.isin(test_all.pairs[:, 1], rewrites_held), 0]
    scored = np.unique(np.concatenate([paper_held, rewrites_held, sources]))
    real: dict[str, Any] = {}
    if REDSM5.exists():
        real["redsm5"] = (load_dataset(REDSM5, "d2s"), "dsm5")
    if CSSRS.exists():
        cssrs = load_dataset(CSSRS)
        real["cssrs"] = (cssrs.subset(sample(np.arange(len(cssrs)), args.cssrs, args.seed, "cssrs")), None)
    sets = {"none": set(), "person_swap": {"person_swap"}, "reported_speech": {"reported_speech"},
            "both": set(RULE_KINDS)}  # fmt: skip
    if model_made is not None:
        sets["model"] = set(args.model_kinds.split(","))
    return {
        "data": data,
        "kinds": kinds,
        "train": data.subset(keep),
        "k_train": kinds[keep],
        "test": test_all.subset(scored),
        "k_test": k_test[scored],
        "paper_rows": np.flatnonzero(np.isin(scored, paper_held)),
        "real": real,
        "sets": sets,
    }


def main() -> int:
    args = arguments()
    if not PAPER.exists():
        print(json.dumps({"section": "skip", "reason": f"{PAPER} is absent; the benchmark needs ../shared"}))
        return 0
    from synsym.classify.models import create_model
    from synsym.core import encoders

    encoders.set_threads()
    p = prepare(args)
    posts = np.flatnonzero(p["k_train"] == "")
    test, k_test = p["test"], p["k_test"]
    emit(
        section="setup",
        dataset=str(PAPER.relative_to(SHARED)),
        rows=len(p["data"]),
        rewrites={k: int((p["kinds"] == k).sum()) for k in sorted(set(p["kinds"]) - {""})},
        train_posts=len(posts),
        held_out={
            "posts": len(p["paper_rows"]),
            "rewrites": int((k_test != "").sum()),
            "pairs": len(test.pairs),
        },
        real={k: len(v[0]) for k, v in p["real"].items()},
        cores=os.cpu_count(),
        torch_threads=__import__("torch").get_num_threads(),
    )
    recall_without: dict[tuple[str, str], float] = {}  # (model, variant) -> recall with no rewrites
    for model_kind in args.models.split(","):
        limit = args.embed_train if model_kind == "embed" else args.ft_train
        chosen = sample(posts, limit, args.seed, f"{model_kind} train")
        wanted = list(p["sets"]) if model_kind == "embed" else args.ft_kinds.split(",")
        for set_name in [k for k in wanted if k in p["sets"]]:
            ds = training_set(p["train"], p["k_train"], chosen, p["sets"][set_name])
            for variant, params in variants(model_kind, args.pairwise).items():
                if not _worth(model_kind, set_name, variant):
                    continue
                t0 = time.perf_counter()
                model = create_model(model_kind, params).fit(ds, seed=args.seed)
                fit_s = time.perf_counter() - t0
                row = measure(model, test, k_test, p["paper_rows"], p["real"])
                if set_name == "none":
                    recall_without[(model_kind, variant)] = row["paper_recall"]
                base = recall_without.get((model_kind, variant), recall_without.get((model_kind, "new")))
                delta = None if base is None or set_name == "none" else round(row["paper_recall"] - base, 4)
                chosen_c = model.history.get("c_selection", {}).get("c")
                emit(section="contrast", kinds=set_name, model=model_kind, variant=variant,
                     params={**params, **({"chosen_c": chosen_c} if chosen_c else {})},
                     train_posts=len(chosen), train_rewrites=len(ds) - len(chosen), **row,
                     recall_delta=delta, recall_ok=None if delta is None else delta >= -0.01,
                     steps=model.history.get("steps"), best_step=model.history.get("best_step"),
                     fit_seconds=round(fit_s, 1), seconds=round(time.perf_counter() - t0, 1))  # fmt: skip
    summary()
    return 0


def _worth(model: str, kinds: str, variant: str) -> bool:
    """Which (kinds, variant) cells run: every cell for embed but `auto` (several fits) on none and both;
    finetune's c1 on none and both, the pairwise term where there are pairs (both)."""
    if model == "embed":
        return variant != "auto" or kinds in ("none", "both")
    if variant == "c1":
        return kinds in ("none", "both")
    return variant != "pairwise" or kinds == "both"


def summary() -> None:
    """A markdown table of the contrast lines, on stderr (stdout stays one JSON object per line)."""
    rows = [r for r in ROWS if r.get("section") == "contrast"]
    if not rows:
        return
    kinds = sorted({k for r in rows for k in r["fp_heldout_rewrites"] if k != "all"})
    head = [
        "kinds",
        "model",
        "variant",
        "macro-F1",
        "recall",
        "Δrecall",
        "FP all",
        *[f"FP {k}" for k in kinds],
    ]
    head += ["pair order", "ReDSM5 AUC", "ReDSM5 AP", "C-SSRS AUC", "s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        fp = r["fp_heldout_rewrites"]
        cells = [r["kinds"], r["model"], r["variant"], r["paper_macro_f1"], r["paper_recall"],
                 "" if r["recall_delta"] is None else f"{r['recall_delta']:+.4f}", fp["all"],
                 *[fp.get(k, "") for k in kinds], r["pair_order"], r.get("redsm5_auc"), r.get("redsm5_ap"),
                 r.get("cssrs_auc"), r["seconds"]]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
