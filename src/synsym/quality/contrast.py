"""Contrastive rewrites in a dataset: how many of each kind, which symptoms they removed, and pairs of a
post and its rewrite side by side, for a person to read."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from synsym.quality.data import QualityData


def contrast_summary(data: QualityData, n_pairs: int = 20, seed: int = 0) -> dict[str, Any] | None:
    """Rewrites per kind and per (kind, removed symptom), and a seeded sample of (source, rewrite) pairs;
    None when the data holds no rewrite."""
    rewrites = [r for r in data.rows if r["contrast_of"]]
    if not rewrites:
        return None
    by_id = {r["id"]: r for r in data.rows}
    removed: Counter[str] = Counter()
    for r in rewrites:
        removed.update(f"{r['contrast_kind']}: {s}" for s in r["removed"])
    sample = random.Random(seed).sample(rewrites, min(n_pairs, len(rewrites)))
    pairs = [
        {
            "kind": r["contrast_kind"],
            "removed": r["removed"],
            "kept": r["symptoms"],
            "source": by_id[r["contrast_of"]]["text"] if r["contrast_of"] in by_id else None,
            "rewrite": r["text"],
        }
        for r in sample
    ]
    return {
        "rewrites": len(rewrites),
        "share_of_rows": round(len(rewrites) / len(data.rows), 4),
        "by_kind": dict(Counter(r["contrast_kind"] for r in rewrites).most_common()),
        "by_kind_and_removed": dict(sorted(removed.items())),
        "pairs": pairs,
    }
