"""Balance: how the posts spread over symptoms, styles, combination sizes and lengths, and which symptoms
appear together.

A classifier learns the label distribution it is shown, so a skew here is a skew in every model trained
on the set. For a run directory the observed pair co-occurrence is compared with the configured prior
(sampled with the same walk the compose stage uses), because a compose stage that drifts from its prior
produces combinations nobody asked for.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

import numpy as np

from synsym.quality.data import QualityData

TOKEN = re.compile(r"[a-z0-9']+")


def tokens(text: str) -> list[str]:
    """Lowercased word tokens; apostrophes kept so `can't` stays one word."""
    return TOKEN.findall(text.lower())


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "median": 0.0, "p5": 0.0, "p95": 0.0, "min": 0, "max": 0}
    arr = np.asarray(values, dtype=float)
    return {
        "mean": round(float(arr.mean()), 2),
        "median": round(float(np.median(arr)), 1),
        "p5": round(float(np.percentile(arr, 5)), 1),
        "p95": round(float(np.percentile(arr, 95)), 1),
        "min": int(arr.min()),
        "max": int(arr.max()),
    }


def cooccurrence(labels: np.ndarray) -> np.ndarray:
    """(k, k) counts of posts holding both labels; the diagonal is each label's post count."""
    lab = (labels > 0).astype(np.int64)
    return lab.T @ lab


def balance(data: QualityData) -> dict[str, Any]:
    """Counts per symptom, style and size; the co-occurrence matrix; word-length distributions."""
    lab = data.labels > 0
    sizes = lab.sum(axis=1).astype(int)
    lengths = [len(tokens(t)) for t in data.texts]
    by_style: dict[str, list[int]] = {}
    for style, n in zip(data.styles, lengths, strict=True):
        by_style.setdefault(style or "(none)", []).append(n)
    per_symptom = {name: int(lab[:, j].sum()) for j, name in enumerate(data.label_names)}
    counts = np.array(list(per_symptom.values()) or [0])
    out: dict[str, Any] = {
        "n_posts": len(data),
        "per_symptom": per_symptom,
        "per_symptom_single": {
            n: int((lab[:, j] & (sizes == 1)).sum()) for j, n in enumerate(data.label_names)
        },
        "per_style": dict(Counter(s or "(none)" for s in data.styles)) if data.has_styles else {},
        "single": int((sizes == 1).sum()),
        "multi": int((sizes > 1).sum()),
        "no_label": int((sizes == 0).sum()),
        "size_counts": {str(k): v for k, v in sorted(Counter(sizes.tolist()).items())},
        "labels_per_post": round(float(sizes.mean()), 3) if len(sizes) else 0.0,
        "imbalance_ratio": round(float(counts.max() / max(counts.min(), 1)), 2),
        "cooccurrence": cooccurrence(data.labels).tolist(),
        "length_words": _summary(lengths),
        "length_words_by_style": {s: _summary(v) for s, v in sorted(by_style.items())},
        "length_histogram": np.histogram(lengths, bins=20)[0].tolist() if lengths else [],
        "length_bins": np.histogram(lengths, bins=20)[1].round(1).tolist() if lengths else [],
    }
    return out


def _pair_distribution(combos: list[tuple[str, ...]], names: list[str]) -> np.ndarray:
    index = {n: j for j, n in enumerate(names)}
    m = np.zeros((len(names), len(names)))
    for combo in combos:
        idx = [index[s] for s in combo if s in index]
        for a in idx:
            for b in idx:
                if a < b:
                    m[a, b] += 1
    total = m.sum()
    return m / total if total else m


def prior_difference(data: QualityData, n_samples: int = 500, top: int = 8) -> dict[str, Any] | None:
    """Observed pair shares among multi-symptom posts vs the configured prior's, for a run directory.

    The prior's pair shares come from `sample_combinations` with the run's prior, taxonomy, sizes and
    seed. Reported: total variation distance between the two pair distributions (0 = same, 1 = disjoint),
    the pairs most over- and under-represented, and pairs observed that the prior never draws.
    """
    cfg = (data.manifest or {}).get("config") or {}
    if not cfg.get("prior") or not cfg.get("taxonomy"):
        return None
    from synsym.core.cooccurrence import load_prior, sample_combinations
    from synsym.core.errors import SynsymError
    from synsym.core.taxonomy import load_taxonomy

    compose = cfg.get("compose") or {}
    try:
        taxonomy = load_taxonomy(cfg["taxonomy"])
        prior = load_prior(cfg["prior"])
        lo, hi = int(compose.get("min_symptoms", 2)), int(compose.get("max_symptoms", 5))
        combos: list[tuple[str, ...]] = []
        for n in (n_samples, n_samples // 4, 100):
            try:
                drawn = sample_combinations(prior, taxonomy, n, random.Random(cfg.get("seed", 0)), lo, hi)
                combos = [c.symptoms for c in drawn]
                break
            except SynsymError:
                continue
    except SynsymError as exc:
        return {"error": str(exc)}
    names = list(data.label_names)
    observed = [tuple(data.symptoms_of(i)) for i in range(len(data)) if data.labels[i].sum() > 1]
    if not observed or not combos:
        return {"prior": cfg["prior"], "observed_multi": len(observed), "tvd": None}
    p_obs, p_prior = _pair_distribution(observed, names), _pair_distribution(combos, names)
    diff = p_obs - p_prior
    pairs = [
        (names[a], names[b], float(diff[a, b])) for a in range(len(names)) for b in range(a + 1, len(names))
    ]
    pairs.sort(key=lambda p: p[2])
    return {
        "prior": cfg["prior"],
        "observed_multi": len(observed),
        "prior_samples": len(combos),
        "tvd": round(float(np.abs(diff).sum() / 2), 4),
        "over": [{"pair": [a, b], "diff": round(d, 4)} for a, b, d in pairs[::-1][:top] if d > 0],
        "under": [{"pair": [a, b], "diff": round(d, 4)} for a, b, d in pairs[:top] if d < 0],
        "outside_prior": sorted(
            {
                f"{names[a]} + {names[b]}"
                for a, b in zip(*np.nonzero((p_obs > 0) & (p_prior == 0)), strict=True)
            }
        ),
        "prior_pair_share": p_prior.round(5).tolist(),
        "observed_pair_share": p_obs.round(5).tolist(),
    }
