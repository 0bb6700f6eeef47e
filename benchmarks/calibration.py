"""The judge calibrated to (simulated) clinicians: does a calibrated judge agree with the raters better
than the default threshold, on posts it was not fitted on, and how far can it get?

One fake-backend run judged by the LLM (`--backend fake`: scores lean high, 0-5 in whole points). Its
judged posts (kept, and dropped for their scores) are split in two disjoint halves by a seeded shuffle:
- calibration half: a near-threshold sample (`review export --near-threshold`'s draw), rated by a
  simulated panel (`synsym.testing.raters`), imported and calibrated with `synsym review calibrate`;
- held-out half: a plain random sample, rated by the same panel with fresh noise, where the default
  thresholds (4; negatives 3) and the calibrated ones are compared: Cohen's kappa and precision/recall
  of the kept set against the raters' consensus, with 95% bootstrap intervals, and the paired gain.
The panel's accept rule differs from the judge's: a 5 for four symptoms (stricter), a 3 for four others
(looser), 4 for the rest; a negative may score up to 3 on a symptom (looser than the judge's < 3); the
panel's decision flips with probability `--noise` (what the judge's scores cannot see), and raters a and
b, neither of them the truth, each flip it on their own so that they disagree at rate `--disagree`.
Then the same with the raters disagreeing at 0, 10, 20 and 30%: the raters' own kappa (a vs b, held out)
bounds what the calibrated judge reaches against either rater. With two raters who each err on their
own, a judge that knew the panel's rule exactly would agree with one rater at about the square root of
their kappa with each other (the reliability ceiling of test theory); item noise, which both raters see
and the judge cannot, keeps it under that.

Prints JSON lines (and a table); does not assert.

    python benchmarks/calibration.py [--n-cal 300] [--n-test 400] [--noise 0.05] [--disagree 0.1]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from synsym.core.calibration import Calibration, Rule
from synsym.core.columns import Post
from synsym.pipeline.config import load_run_config
from synsym.pipeline.runner import run_pipeline
from synsym.review import import_ratings
from synsym.review.calibrate import Rated, calibrate, keeps
from synsym.review.figures import compare, single
from synsym.review.judged import default_rule, judge_key, judge_settings, judged_rows, near_threshold
from synsym.review.sample import SCALE_RANGE, post_item
from synsym.testing.raters import Panel, rate, write_ratings

STRICT = ("Depressed_Mood", "Suicidal_ideas", "Worthlessness_and_guilty", "Sleep_disturbance")
LOOSE = ("Anger_Irritability", "Inattention", "Indecisiveness", "Poor_memory")


def run_config() -> dict[str, Any]:
    """A fake-backend run with every symptom, multi-symptom posts and hard negatives, judged by the LLM."""
    return {
        "seed": 7,
        "backend": {"name": "fake", "max_concurrency": 16},
        "expand": {"n_subconcepts": 8},
        "generate": {"calls": 1, "statements_per_style": 5, "max_subconcepts": 8},
        "compose": {"n_combinations": 80, "statements_per_style": 3},
        "negatives": {"n": 200},
        "judge": {"method": "llm"},
    }


def write_sample(folder: Path, export: Any, rows: list[Post], mode: str) -> dict[str, Any]:
    """A review folder holding `rows` as `review export` writes it (sample.json is what matters here)."""
    folder.mkdir(parents=True)
    items = [post_item(r["id"], list(r["symptoms"]), r["style"], r["text"]) for r in rows]
    key = {"source": "benchmark", "seed": 0, "scale": list(SCALE_RANGE), "mode": mode, "items": items}
    key["judge"] = judge_key(export, rows)
    (folder / "sample.json").write_text(json.dumps(key), encoding="utf-8")
    return key


def held_out_items(key: dict[str, Any], ratings: dict[str, dict[str, int]]) -> list[Rated]:
    """The held-out posts as calibrate sees them, with the consensus and each rater's decision."""
    out = []
    for item_id, row in key["judge"]["rows"].items():
        got = {r: s[item_id] for r, s in ratings.items()}
        accept = float(np.mean(list(got.values()))) >= 4
        out.append(Rated(item_id, row, row["scores"], accept, {r: s >= 4 for r, s in got.items()}))
    return out


def one_round(
    work: Path, export: Any, halves: tuple[list[Post], list[Post]], args: argparse.Namespace, disagree: float
) -> dict[str, Any]:
    """Calibrate on the calibration half's near-threshold sample; measure on the held-out sample."""
    panel = Panel(stated={**dict.fromkeys(STRICT, 5.0), **dict.fromkeys(LOOSE, 3.0)}, negative=4.0,
                  noise=args.noise, disagree=disagree)  # fmt: skip
    settings = judge_settings(export)
    rule = default_rule(settings)
    cal_rows = near_threshold(halves[0], rule, args.n_cal, seed=1, step=1.0)
    cal_dir = work / f"cal-{disagree}"
    cal_key = write_sample(cal_dir, export, cal_rows, "near_threshold")
    filled = write_ratings(cal_dir, rate(cal_key, panel, seed=2), work / f"filled-{disagree}")
    import_ratings(cal_dir, filled)
    result = calibrate(cal_dir, work / f"calibration-{disagree}.yaml", reps=args.reps)
    cal: Calibration = result["calibration"]
    test_rows = random.Random(3).sample(halves[1], min(args.n_test, len(halves[1])))
    test_key = write_sample(work / f"test-{disagree}", export, test_rows, "random")
    items = held_out_items(test_key, rate(test_key, panel, seed=4))
    before, after = keeps(items, rule), keeps(items, Rule(rule.threshold, rule.negative_threshold, cal))
    accept = np.array([it.accept for it in items])
    a, b = (np.array([it.by_rater[r] for it in items]) for r in ("a", "b"))
    return {
        "disagree": disagree,
        "fitted": {k: {"pooled": f.pooled, **f.symptoms} for k, f in cal.kinds.items()},
        "in_sample": result["figures"]["all"],
        "held_out": compare(before, after, accept, args.reps, seed=5),
        "raters_a_vs_b": single(b, a, args.reps, seed=6),
        "after_vs_a": single(after, a, args.reps, seed=7),
        "after_vs_b": single(after, b, args.reps, seed=8),
    }


def fmt(f: dict[str, Any], name: str = "kappa") -> str:
    lo, hi = f[f"{name}_ci"]
    return f"{f[name]:.3f} [{lo:.3f}, {hi:.3f}]"


def print_held_out(held: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"\nheld-out sample ({held['n']} posts, noise {args.noise}, raters disagree {args.disagree}):")
    for name in ("kappa", "precision", "recall"):
        lo, hi = held["gain"][f"{name}_ci"]
        print(
            f"  {name:9s} before {fmt(held['before'], name)}  after {fmt(held['after'], name)}  "
            f"gain {held['gain'][name]:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        )


def print_bound(rounds: list[dict[str, Any]]) -> None:
    print("\nraters' disagreement bounds the calibrated judge (held-out kappa, 95% CI):")
    heads = ("rater a vs b", "judge vs a", "judge vs b", "judge vs consensus")
    print(
        f"  {'disagree':>8s}  {heads[0]:>22s}  {'ceiling':>7s}  " + "  ".join(f"{h:>22s}" for h in heads[1:])
    )
    for r in rounds:
        ceiling = np.sqrt(max(r["raters_a_vs_b"]["kappa"], 0.0))
        cells = [fmt(r["after_vs_a"]), fmt(r["after_vs_b"]), fmt(r["held_out"]["after"])]
        print(
            f"  {r['disagree']:8.1f}  {fmt(r['raters_a_vs_b']):>22s}  {ceiling:7.3f}  "
            + "  ".join(f"{c:>22s}" for c in cells)
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-cal", type=int, default=300)
    ap.add_argument("--n-test", type=int, default=400)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--disagree", type=float, default=0.1)
    ap.add_argument("--reps", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "run.yaml").write_text(yaml.safe_dump(run_config()))
        run_pipeline(load_run_config(work / "run.yaml", []), work / "run", progress=False)
        export, rows = judged_rows(work / "run")
        order = random.Random(0).sample(rows, len(rows))
        halves = (order[: len(order) // 2], order[len(order) // 2 :])
        kept = sum(not r["drop_class"] for r in rows)
        print(json.dumps({"judged_posts": len(rows), "kept_by_default": kept, "halves": len(halves[0])}))
        main_round = one_round(work, export, halves, args, args.disagree)
        print(json.dumps({"round": "main", **main_round}))
        print_held_out(main_round["held_out"], args)
        rounds = []
        for d in (0.0, 0.1, 0.2, 0.3):
            r = main_round if d == args.disagree else one_round(work, export, halves, args, d)
            rounds.append(r)
            keys = ("raters_a_vs_b", "after_vs_a", "after_vs_b")
            print(json.dumps({"round": "bound", "disagree": d, **{k: r[k] for k in keys}}))
        print_bound(rounds)


if __name__ == "__main__":
    main()
