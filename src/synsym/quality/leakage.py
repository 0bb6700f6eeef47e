"""Leakage: does the synthetic set contain (near) copies of the real evaluation set?

An LLM that saw a public benchmark can reproduce its posts; a synthetic set that holds them makes
"synthetic then real" scores look better than they are. Two views: verbatim word n-gram overlap (long
n-grams shared with any real text) and embedding similarity (each real text's closest synthetic post),
with the closest pairs listed so a person can judge them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from synsym.quality.balance import tokens
from synsym.quality.diversity import Embedder


def _gram_set(toks: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}


def ngram_overlap(synthetic: Sequence[str], real: Sequence[str], n: int) -> dict[str, float]:
    """Share of synthetic posts sharing an n-gram with the real set, of real texts sharing one with the
    synthetic set, and of the synthetic set's distinct n-grams that occur in the real set."""
    syn_sets = [_gram_set(tokens(t), n) for t in synthetic]
    real_sets = [_gram_set(tokens(t), n) for t in real]
    syn_all: set[tuple[str, ...]] = set().union(*syn_sets) if syn_sets else set()
    real_all: set[tuple[str, ...]] = set().union(*real_sets) if real_sets else set()
    return {
        "n": n,
        "synthetic_posts_sharing": round(
            sum(bool(s & real_all) for s in syn_sets) / max(len(syn_sets), 1), 4
        ),
        "real_texts_sharing": round(sum(bool(s & syn_all) for s in real_sets) / max(len(real_sets), 1), 4),
        "synthetic_ngrams_in_real": round(len(syn_all & real_all) / max(len(syn_all), 1), 4),
    }


def leakage(
    synthetic: Sequence[str],
    real: Sequence[str],
    embedder: Embedder | None = None,
    ns: Sequence[int] = (4, 8),
    threshold: float = 0.9,
    top: int = 10,
    max_synthetic: int = 20000,
) -> dict[str, Any]:
    """N-gram overlap for each n in `ns`; with an embedder, each real text's nearest synthetic post:
    mean and max similarity, share at or above `threshold`, and the `top` closest pairs."""
    out: dict[str, Any] = {
        "n_synthetic": len(synthetic),
        "n_real": len(real),
        "ngram": [ngram_overlap(synthetic, real, n) for n in ns],
    }
    if embedder is None or not synthetic or not real:
        return out
    syn = list(synthetic)[:max_synthetic]
    s_vec, r_vec = embedder(syn), embedder(list(real))
    best_sim = np.full(len(real), -1.0)
    best_idx = np.zeros(len(real), dtype=int)
    for start in range(0, len(syn), 4096):
        sims = r_vec @ s_vec[start : start + 4096].T
        arg = sims.argmax(axis=1)
        val = sims[np.arange(len(real)), arg]
        better = val > best_sim
        best_sim[better], best_idx[better] = val[better], arg[better] + start
    order = np.argsort(-best_sim)[:top]
    out["embedding"] = {
        "mean_nearest_similarity": round(float(best_sim.mean()), 4),
        "max_nearest_similarity": round(float(best_sim.max()), 4),
        "threshold": threshold,
        "real_share_at_or_above": round(float((best_sim >= threshold).mean()), 4),
        "closest_pairs": [
            {
                "similarity": round(float(best_sim[i]), 4),
                "real": real[i][:300],
                "synthetic": syn[best_idx[i]][:300],
            }
            for i in order
        ],
    }
    return out
