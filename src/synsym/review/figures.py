"""Agreement between the judge's keep/drop decisions and the raters' accept/reject, with bootstrap
intervals: Cohen's kappa, and precision and recall of the kept set (precision: of the posts the judge
keeps, the share raters accept; recall: of the posts raters accept, the share the judge keeps).

Point figures are scikit-learn's. The bootstrap resamples item indices with numpy and computes the same
three figures from the resampled 2x2 counts, all resamples at once: scikit-learn's per-call validation
made 1,000 resamples of a few figures take half a minute, the counts take milliseconds (a test checks
they equal scikit-learn's). One set of resamples serves every figure and the paired gain (after minus
before on the same resampled items), which is what says whether calibration helped.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

FIGURES = ("kappa", "precision", "recall")


def figures(keep: np.ndarray, accept: np.ndarray) -> dict[str, float]:
    """kappa, precision and recall of one set of decisions (nan where undefined)."""
    from sklearn.metrics import cohen_kappa_score, precision_score, recall_score

    if len(keep) == 0:
        return dict.fromkeys(FIGURES, float("nan"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kappa = cohen_kappa_score(accept, keep, labels=[False, True])
        precision = precision_score(accept, keep, zero_division=np.nan)
        recall = recall_score(accept, keep, zero_division=np.nan)
    return {"kappa": float(kappa), "precision": float(precision), "recall": float(recall)}


def _r(x: float) -> float | None:
    return None if x is None or np.isnan(x) else round(float(x), 4)


def _interval(values: np.ndarray, level: float) -> list[float | None]:
    arr = values[~np.isnan(values)]
    if len(arr) < 10:
        return [None, None]
    lo, hi = np.percentile(arr, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return [_r(lo), _r(hi)]


def _counts_figures(keep: np.ndarray, accept: np.ndarray) -> dict[str, np.ndarray]:
    """kappa, precision and recall per row of 2-D boolean arrays (one resample a row; nan: undefined)."""
    n = keep.shape[1]
    tp = (keep & accept).sum(1)
    kept, accepted = keep.sum(1), accept.sum(1)
    agree = (keep == accept).sum(1) / n
    chance = (kept * accepted + (n - kept) * (n - accepted)) / n**2
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "kappa": np.where(chance < 1, (agree - chance) / (1 - chance), np.nan),
            "precision": np.where(kept > 0, tp / kept, np.nan),
            "recall": np.where(accepted > 0, tp / accepted, np.nan),
        }


def compare(
    before: np.ndarray,
    after: np.ndarray,
    accept: np.ndarray,
    reps: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Figures before and after with percentile intervals, and the paired gain (after - before)."""
    before, after, accept = (np.asarray(a, dtype=bool) for a in (before, after, accept))
    n = len(accept)
    out: dict[str, Any] = {"n": n, "accepted": int(accept.sum())}
    point = {"before": figures(before, accept), "after": figures(after, accept)}
    idx = np.random.default_rng(seed).integers(0, n, (reps if n else 0, n))
    draws = {
        "before": _counts_figures(before[idx], accept[idx]),
        "after": _counts_figures(after[idx], accept[idx]),
    }
    for side in ("before", "after"):
        out[side] = {
            **{f: _r(point[side][f]) for f in FIGURES},
            **{f"{f}_ci": _interval(draws[side][f], level) for f in FIGURES},
            "kept": int((before if side == "before" else after).sum()),
        }
    out["gain"] = {
        **{f: _r(point["after"][f] - point["before"][f]) for f in FIGURES},
        **{f"{f}_ci": _interval(draws["after"][f] - draws["before"][f], level) for f in FIGURES},
    }
    return out


def single(keep: np.ndarray, accept: np.ndarray, reps: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Figures of one set of decisions with intervals (e.g. one rater against another)."""
    both = compare(keep, keep, accept, reps, seed)
    return {"n": both["n"], **both["after"]}


def curve(
    grid: Sequence[float], decisions: Sequence[np.ndarray], accept: np.ndarray
) -> list[dict[str, float | None]]:
    """Per threshold: kappa, precision, recall and the share kept (the report's curve)."""
    rows = []
    for t, keep in zip(grid, decisions, strict=True):
        f = figures(keep, accept)
        rows.append({"threshold": float(t), **{k: _r(v) for k, v in f.items()}, "kept": _r(keep.mean())})
    return rows
