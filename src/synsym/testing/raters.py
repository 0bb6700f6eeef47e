"""Simulated clinicians for testing and benchmarking `synsym review calibrate` without real ones.

A simulated panel rates the posts of a review sample (its `sample.json`) by an accept rule that differs
from the judge's: its own threshold per symptom on the judge's scores (stricter for some symptoms,
looser for others), plus item noise (the panel's decision flips with probability `noise`, something the
judge's scores cannot see) and two raters, neither of them the truth, who each flip the panel's
decision on their own with the probability that makes them disagree with each other at rate
`disagree`. An accepted post gets 4 or 5, a rejected one 1 to 3, so the consensus (the mean) accepts
when both accept and, now and then, when they split.
"""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from synsym.core.calibration import Calibration, KindFit, Rule, decide
from synsym.core.columns import Post


@dataclass(frozen=True)
class Panel:
    """The panel's accept rule: `stated[s]` (default `threshold`) a stated symptom must reach, and
    `negative` a negative's symptoms must stay under."""

    stated: dict[str, float] = field(default_factory=dict)
    threshold: float = 4.0
    negative: float = 3.0
    noise: float = 0.05
    disagree: float = 0.1  # at most 0.5: independent raters cannot disagree more often

    def accepts(self, row: dict[str, Any]) -> bool:
        """The panel's noiseless decision on a post of `sample.json`'s judge rows."""
        fit = KindFit(pooled=self.threshold, symptoms=self.stated, default=self.threshold)
        rule = Rule(self.threshold, self.negative, Calibration.of({"positive": fit}))
        return decide(cast(Post, row), row["scores"], rule) is None


def _likert(accept: bool, rng: random.Random) -> int:
    return rng.choice((4, 5)) if accept else rng.choice((1, 2, 3, 3))


def rate(sample: dict[str, Any], panel: Panel, seed: int = 0) -> dict[str, dict[str, int]]:
    """{rater: {item_id: score}} for raters `a` and `b` on every post with judge scores."""
    rng = random.Random(seed)
    flip = (1 - math.sqrt(1 - 2 * panel.disagree)) / 2  # 2 flip (1 - flip) = disagree
    a: dict[str, int] = {}
    b: dict[str, int] = {}
    for item_id, row in sorted(sample["judge"]["rows"].items()):
        truth = panel.accepts(row) != (rng.random() < panel.noise)
        first, second = (truth != (rng.random() < flip) for _ in range(2))
        a[item_id], b[item_id] = _likert(first, rng), _likert(second, rng)
    return {"a": a, "b": b}


def write_ratings(review_dir: Path, ratings: dict[str, dict[str, int]], out: Path) -> list[Path]:
    """One filled-in items.csv per rater under `out`, ready for `synsym review import`."""
    items = json.loads((review_dir / "sample.json").read_text(encoding="utf-8"))["items"]
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for rater, scores in ratings.items():
        path = out / f"{rater}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["item_id", "text", "score", "comment"])
            writer.writerows([it["item_id"], it["text"], scores.get(it["item_id"], ""), ""] for it in items)
        paths.append(path)
    return paths
