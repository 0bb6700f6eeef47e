"""Realism benchmark: do synsym's posts beat a no-LLM control, and do hard negatives and realistic form
(long posts, a tweet style, personas, surface noise) help a classifier on real text?

Generates three datasets with one backend and one shared response cache (nothing is paid for twice):
  paper-recipe         generate + compose + judge, as in the paper (the config's plain styles only)
  +negatives           the same, plus hard negatives and negated statements
  +negatives+realism   plus long posts, every declared style, personas and surface transformations
and builds `control` from the taxonomy alone (definitions, seeds, the run's sub-concepts: no LLM).
The three generated sets are subsampled to one size (`--size`, default the smallest); the control keeps
its natural size. Each set trains the same classifiers (`--models`, default embed and finetune) and is
tested on the real data available: the C-SSRS users (Suicidal_ideas), the 24 ReDSM5 sample sentences
(a smoke test, in the DSM-5 space), and cross-generator: the paper's released posts (`paper-release`);
the reverse, a model trained on the paper's release, is tested on each generated set.

One JSON line per (training set, model): macro-F1, mean ROC-AUC and mean AP per test set.

Usage:
  python benchmarks/realism.py                         # the fake backend: runs anywhere, in minutes
  python benchmarks/realism.py --backend llamacpp      # SmolLM2 in-process, demo sizes (about 30 min)
  python benchmarks/realism.py --config my-full.yaml   # any run config: it is the full variant
With the fake backend the posts are templates, so its figures check the machinery, not the ideas.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from _data import CSSRS, PAPER, REDSM5

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")


REALISM = {
    "styles_extra": [
        {
            "name": "tweet",
            "description": "a tweet: under 280 characters, fragments and abbreviations are fine",
            "max_words": 50,
        }
    ],
    "personas": [
        {
            "name": "student",
            "age_band": "18-24",
            "situation": "a university student in a shared flat",
            "register": "lowercase, slang, few commas",
        },
        {
            "name": "nurse",
            "age_band": "30-39",
            "situation": "a nurse working night shifts",
            "register": "plain, practical sentences",
        },
        {
            "name": "parent",
            "age_band": "35-49",
            "situation": "a single parent with an office job",
            "register": "full sentences, rushed",
        },
        {
            "name": "retiree",
            "age_band": "65+",
            "situation": "a widowed retiree living alone",
            "register": "careful, formal sentences",
        },
    ],
    "transforms": {"lowercase": 0.3, "typos": 0.2, "slang": 0.2, "no_punctuation": 0.15},
}
SIZES: dict[str, dict[str, Any]] = {
    "fake": {
        "backend": {"name": "fake", "max_concurrency": 32},
        "expand": {"n_subconcepts": 8},
        "generate": {"calls": 2, "statements_per_style": 4, "max_subconcepts": 8},
        "compose": {"n_combinations": 150, "statements_per_style": 4},
        "judge": {"method": "embedding"},
        "negatives": {"n": 500, "negated": 150},
        "realism": {"long_posts": {"n": 1500, "min_words": 80, "max_words": 300}},
    },
    "llamacpp": {
        "backend": {"name": "llamacpp", "n_ctx": 1024},
        "expand": {"method": "seeds"},
        "generate": {"statements_per_call": 1, "calls": 1, "statements_per_style": 1, "max_subconcepts": 3},
        "compose": {"n_combinations": 24, "statements_per_style": 1},
        "judge": {"method": "embedding"},
        "negatives": {"n": 70, "negated": 20},
        "realism": {"long_posts": {"n": 40, "min_words": 60, "max_words": 200, "max_tokens": 320}},
    },
}


def emit(**row: object) -> None:
    print(json.dumps(row), flush=True)


def variants(full: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The three run configs, derived from the full one by switching additions off."""
    base = copy.deepcopy(full)
    base["styles"] = [s for s in full.get("styles") or [] if not s.get("max_words")] or None
    base["personas"] = []
    base["negatives"] = {**full.get("negatives", {}), "n": 0, "negated": 0}
    base["realism"] = {}
    if base["styles"] is None:
        del base["styles"]
    negatives = {**copy.deepcopy(base), "negatives": full.get("negatives", {})}
    return {"paper-recipe": base, "+negatives": negatives, "+negatives+realism": full}


def full_config(args: argparse.Namespace) -> dict[str, Any]:
    if args.config:
        return yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    cfg = copy.deepcopy(SIZES[args.backend])
    from synsym.pipeline.config import DEFAULT_STYLES

    cfg["styles"] = [s.model_dump() for s in DEFAULT_STYLES] + REALISM["styles_extra"]
    cfg["personas"] = REALISM["personas"]
    cfg["realism"]["transforms"] = REALISM["transforms"]
    return cfg


def generate(full: dict[str, Any], out: Path) -> dict[str, Path]:
    from synsym.pipeline.config import run_config
    from synsym.pipeline.runner import run_pipeline

    paths = {}
    for name, raw in variants(full).items():
        raw = {**raw, "cache": str(out / "cache.sqlite")}
        t0 = time.perf_counter()
        run_dir = out / name.strip("+")  # reruns redo what a changed config changes, from the cache
        result = run_pipeline(run_config(raw), run_dir, restart=True, progress=False)
        emit(section="generate", variant=name, seconds=round(time.perf_counter() - t0, 1), **result.counts)
        paths[name] = result.run_dir
    return paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=sorted(SIZES), default="fake")
    ap.add_argument(
        "--config", help="a full run config (the +negatives+realism variant); overrides --backend"
    )
    ap.add_argument("--out", default="runs/bench-realism")
    ap.add_argument("--size", type=int, default=None, help="rows per generated set (default: the smallest)")
    ap.add_argument("--models", default="embed,finetune")
    ap.add_argument("--paper-test", type=int, default=2000, help="rows of the paper's release to test on")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from synsym.classify.api import score_on
    from synsym.classify.control import control_set
    from synsym.classify.models import create_model
    from synsym.classify.sources import load_dataset
    from synsym.classify.texts import LabelledTexts
    from synsym.core import encoders
    from synsym.core.taxonomy import load_taxonomy

    encoders.set_threads()
    out = Path(args.out)
    full = full_config(args)
    taxonomy = load_taxonomy(full.get("taxonomy", "depression-14"))
    names = list(taxonomy.names)
    runs = generate(full, out)
    rng = np.random.default_rng(args.seed)

    def sample(ds: LabelledTexts, n: int) -> LabelledTexts:
        return ds.subset(np.sort(rng.permutation(len(ds))[:n])) if n < len(ds) else ds

    generated = {k: load_dataset(p / "dataset.parquet", "synsym").align(names) for k, p in runs.items()}
    size = args.size or min(len(d) for d in generated.values())
    train_sets = {"control": control_set(taxonomy.name if not args.config else full["taxonomy"],
                                         runs["paper-recipe"] / "subconcepts.yaml")}  # fmt: skip
    train_sets.update({k: sample(d, size) for k, d in generated.items()})
    tests: dict[str, tuple[LabelledTexts, str | None]] = {}
    if CSSRS.exists():
        tests["cssrs-users"] = (load_dataset(CSSRS, "cssrs"), None)
    if REDSM5.exists():
        tests["redsm5-sample"] = (load_dataset(REDSM5, "d2s"), "dsm5")
    paper = load_dataset(PAPER).align(names) if PAPER.exists() else None
    if paper is not None:
        tests["paper-release"] = (sample(paper, args.paper_test), None)
        train_sets["paper-release"] = sample(paper, size)
    missing = [p.name for p in (CSSRS, REDSM5, PAPER) if not p.exists()]
    emit(
        section="setup",
        train_sizes={k: len(v) for k, v in train_sets.items()},
        negatives_in_train={k: int((v.labels.sum(1) == 0).sum()) for k, v in train_sets.items()},
        tests={k: len(v[0]) for k, v in tests.items()},
        missing_real_data=missing,
        cores=os.cpu_count(),
    )
    for train_name, train in train_sets.items():
        for kind in args.models.split(","):
            encoders.clear_cache()
            t0 = time.perf_counter()
            model = create_model(kind, {}).fit(train, seed=args.seed)
            against = dict(tests)
            if train_name == "paper-release":  # the reverse direction: tested on each generated set
                against = {f"synsym:{k}": (sample(d, args.paper_test), None) for k, d in generated.items()}
            results = {}
            for test_name, (test, space) in against.items():
                m = score_on(model, test, space)
                results[test_name] = {
                    "macro_f1": round(m["macro_f1"], 4),
                    "mean_auc": _round(m.get("macro_roc_auc")),
                    "mean_ap": _round(m.get("macro_average_precision")),
                }
            emit(section="realism", train_set=train_name, model=kind, n_train=len(train),
                 seconds=round(time.perf_counter() - t0, 1), **results)  # fmt: skip
    return 0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


if __name__ == "__main__":
    sys.exit(main())
