"""`synsym review calibrate`: fit the judge's thresholds to the raters' decisions.

A rated post is accepted when its rating reaches `accept_score` (4, "mostly: clear", by default): the
mean of every rater's rating (`rule: consensus`) or one rater's (`rule: <name>`). The judge keeps a post
by `synsym.core.calibration.decide`, the rule the judge stage applies, so the fitted thresholds make in
a run exactly the decisions they were fitted on. Per kind of row (positive, negative, contrast) a pooled
threshold is fitted first, then one per symptom where at least `min_items` rated posts with both
decisions decide it; the rest keep the pooled one and are listed as such. The fit maximises Cohen's
kappa (accuracy where the raters' decisions are one-sided) over whole points (the LLM judge's
scores) or a 0.25 grid (the embedding judge's), ties going to the value
nearest the run's own threshold; symptoms of a multi-symptom post are refitted in turn, twice.

The figures `calibrate` prints are in-sample (the thresholds were fitted on those ratings), so they are
optimistic; `benchmarks/calibration.py` measures agreement on a separate sample.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import yaml

from synsym.core.atomic import write_json, write_text
from synsym.core.calibration import FORMAT, KINDS, Calibration, Kind, KindFit, Rule, decide, row_kind
from synsym.core.columns import Post
from synsym.core.errors import InputError, suggest
from synsym.review.figures import compare, curve, single

GRID = tuple(float(t) for t in np.round(np.arange(0, 5.001, 0.25), 2))  # the embedding judge's scores
LLM_GRID = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)  # the LLM judge scores in whole points


def grid_for(judged: dict[str, Any]) -> tuple[float, ...]:
    return LLM_GRID if judged["judge"] == "llm" else GRID


MIN_ITEMS = 12


@dataclass(frozen=True)
class Rated:
    """One rated post: what decides the judge's verdict on it, and the raters' decision."""

    item_id: str
    row: Post
    scores: dict[str, float]
    accept: bool
    by_rater: dict[str, bool]


def _sample(review_dir: Path) -> dict[str, Any]:
    path = review_dir / "sample.json"
    if not path.is_file():
        raise InputError(f"{review_dir} -> no sample.json; run `synsym review export RUN --out {review_dir}`")
    key = cast(dict[str, Any], json.loads(path.read_text(encoding="utf-8")))
    if not key.get("judge", {}).get("rows"):
        raise InputError(
            f"{path} -> holds no judge scores (not a synsym run's sample, or exported by an earlier "
            f"synsym); re-export it: `synsym review export RUN --near-threshold --out DIR`"
        )
    return key


def _check_ratings(key: dict[str, Any], ratings: dict[str, dict[str, int]], review_dir: Path) -> None:
    lo, hi = key.get("scale") or (1, 5)
    items = {it["item_id"] for it in key["items"]}
    for rater, scores in ratings.items():
        for item, score in scores.items():
            where = review_dir / "ratings" / f"{rater}.csv"
            if item not in items:
                raise InputError(f"{where} -> item {item!r} is not in this review's sample; re-import")
            if not lo <= score <= hi:
                raise InputError(
                    f"{where} -> score {score} for {item} is outside the exported {lo}-{hi} scale; re-rate"
                )


def rated_items(review_dir: Path, rule: str, accept_score: int) -> tuple[dict[str, Any], list[Rated]]:
    """The sample's judge key and every post the rule has a decision for; InputError on bad input."""
    from synsym.review.agreement import load_ratings

    key = _sample(review_dir)
    ratings = load_ratings(review_dir)
    _check_ratings(key, ratings, review_dir)
    lo, hi = key.get("scale") or (1, 5)
    if not lo <= accept_score <= hi:
        raise InputError(f"--accept {accept_score} is outside the exported {lo}-{hi} scale")
    if rule != "consensus" and rule not in ratings:
        raise InputError(f"--rule {rule!r}: no such rater{suggest(rule, ['consensus', *sorted(ratings)])}")
    judged = key["judge"]
    items = []
    for item_id, jr in judged["rows"].items():
        got = {r: s[item_id] for r, s in ratings.items() if item_id in s}
        pick = got if rule == "consensus" else {rule: got[rule]} if rule in got else {}
        row = cast(
            Post, {**jr, "negative_kind": jr.get("negative_kind"), "contrast_of": jr.get("contrast_of")}
        )
        if not pick or (judged["judge"] == "embedding" and row_kind(row) != "positive"):
            continue  # unrated; or a negative, which the embedding judge does not check
        accept = float(np.mean(list(pick.values()))) >= accept_score
        items.append(
            Rated(item_id, row, jr["scores"], accept, {r: s >= accept_score for r, s in got.items()})
        )
    if len(items) < 10:
        raise InputError(
            f"{review_dir} -> only {len(items)} rated posts with judge scores; calibration needs at least 10"
        )
    return key, items


def default_rule(judged: dict[str, Any]) -> Rule:
    return Rule(judged["threshold"], judged["negative_threshold"])


def with_fits(base: Rule, fits: dict[Kind, KindFit]) -> Rule:
    """`base` with these fitted kinds (built without validation: this runs thousands of times)."""
    cal = Calibration.of(fits)
    return Rule(base.threshold, base.negative_threshold, cal)


def keeps(items: list[Rated], rule: Rule) -> np.ndarray:
    return np.array([decide(it.row, it.scores, rule) is None for it in items], dtype=bool)


def _objective(keep: np.ndarray, accept: np.ndarray) -> float:
    from sklearn.metrics import cohen_kappa_score

    if accept.all() or not accept.any():
        return float(np.mean(keep == accept)) - 1  # below any kappa a two-sided sample would give
    return float(cohen_kappa_score(accept, keep, labels=[False, True]))


def _best(
    items: list[Rated],
    base: Rule,
    fits: dict[Kind, KindFit],
    kind: Kind,
    symptom: str | None,
    grid: tuple[float, ...],
) -> float:
    """The grid value for `symptom` (None: the pooled one) that agrees best, nearest the default on ties."""
    accept = np.array([it.accept for it in items])
    fit = fits[kind]
    scored = []
    for t in grid:
        trial = fit.model_copy(
            update={"pooled": t} if symptom is None else {"symptoms": {**fit.symptoms, symptom: t}}
        )
        got = _objective(keeps(items, with_fits(base, {**fits, kind: trial})), accept)
        scored.append((round(got, 9), -abs(t - fit.default), t))
    return max(scored)[2]


def _deciders(items: list[Rated], kind: Kind) -> dict[str, list[int]]:
    """symptom -> the items whose verdict its `kind` threshold takes part in."""
    out: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        stated = set(it.row["symptoms"])
        if kind == "positive":
            names = stated
        elif row_kind(it.row) == kind:
            names = set(it.scores) - stated
        else:
            continue
        for s in names:
            out.setdefault(s, []).append(i)
    return out


def fit(items: list[Rated], judged: dict[str, Any], min_items: int = MIN_ITEMS) -> dict[Kind, KindFit]:
    """Every kind the sample decides: a pooled threshold, then per-symptom ones (see the module)."""
    base, grid = default_rule(judged), grid_for(judged)
    fits: dict[Kind, KindFit] = {}
    for kind in KINDS:
        deciders = _deciders(items, kind)
        if not deciders or (kind != "positive" and base.negative_threshold is None):
            continue
        default = base.threshold if kind == "positive" else cast(float, base.negative_threshold)
        mine = sorted({i for idx in deciders.values() for i in idx})
        fits[kind] = KindFit(pooled=default, default=default, n_items=len(mine))
        sub = [items[i] for i in mine]
        fits[kind] = fits[kind].model_copy(update={"pooled": _best(sub, base, fits, kind, None, grid)})
        own = [
            s for s, idx in deciders.items()
            if len(idx) >= min_items and 0 < sum(items[i].accept for i in idx) < len(idx)
        ]  # fmt: skip
        for _ in range(2 if own else 0):
            for s in sorted(own):
                t = _best([items[i] for i in deciders[s]], base, fits, kind, s, grid)
                fits[kind] = fits[kind].model_copy(update={"symptoms": {**fits[kind].symptoms, s: t}})
        names = judged.get("symptoms") or sorted(deciders)
        fits[kind].pooled_symptoms.extend(s for s in names if s not in fits[kind].symptoms)
    return fits


def _kind_items(items: list[Rated], kind: Kind) -> list[int]:
    return sorted({i for idx in _deciders(items, kind).values() for i in idx})


def agreement(items: list[Rated], before: Rule, after: Rule, reps: int, seed: int = 0) -> dict[str, Any]:
    """Judge vs raters before and after, per kind and over every post, with bootstrap intervals."""
    accept = np.array([it.accept for it in items])
    b, a = keeps(items, before), keeps(items, after)
    out = {"all": compare(b, a, accept, reps, seed)}
    for kind in KINDS:
        idx = _kind_items(items, kind)
        if idx and (kind == "positive" or before.negative_threshold is not None):
            out[kind] = compare(b[idx], a[idx], accept[idx], reps, seed)
    return out


def raters_agreement(items: list[Rated], reps: int, seed: int = 0) -> dict[str, Any]:
    """Each pair of raters' accept decisions against each other: the ceiling a judge can reach."""
    raters = sorted({r for it in items for r in it.by_rater})
    out = {}
    for i, r1 in enumerate(raters):
        for r2 in raters[i + 1 :]:
            both = [it for it in items if r1 in it.by_rater and r2 in it.by_rater]
            one = np.array([it.by_rater[r1] for it in both], dtype=bool)
            two = np.array([it.by_rater[r2] for it in both], dtype=bool)
            out[f"{r1} vs {r2}"] = single(one, two, reps, seed)
    return out


def threshold_curve(items: list[Rated], base: Rule, grid: tuple[float, ...]) -> list[dict[str, float | None]]:
    """Positive posts: agreement at every pooled threshold of the grid, one threshold for all symptoms."""
    idx = _kind_items(items, "positive")
    sub = [items[i] for i in idx]
    accept = np.array([it.accept for it in sub], dtype=bool)
    decisions = [keeps(sub, Rule(t, base.negative_threshold)) for t in grid]
    return curve(grid, decisions, accept)


def calibrate(
    review_dir: Path,
    out: Path,
    rule: str = "consensus",
    accept_score: int = 4,
    min_items: int = MIN_ITEMS,
    reps: int = 1000,
) -> dict[str, Any]:
    """Fit, measure and write the calibration file to `out`, and the figures, the raters' own agreement
    and the curve to REVIEW_DIR/calibration.json (nothing is written on bad input); return them."""
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; name the calibration file, e.g. calibration.yaml")
    key, items = rated_items(review_dir, rule, accept_score)
    judged = key["judge"]
    fits = fit(items, judged, min_items)
    before = default_rule(judged)
    after = with_fits(before, fits)
    figures = agreement(items, before, after, reps)
    raters = sorted({r for it in items for r in it.by_rater})
    curve_rows = threshold_curve(items, before, grid_for(judged))
    cal = Calibration(
        synsym_calibration=FORMAT,
        taxonomy=judged.get("taxonomy") or "",
        symptoms=list(judged.get("symptoms") or []),
        judge=judged["judge"],
        rule=rule,
        accept_score=accept_score,
        scale=tuple(key.get("scale") or (1, 5)),
        raters=raters,
        n_posts=len(items),
        review=str(review_dir),
        kinds=fits,
        agreement={"in_sample": True, **_short(figures), "curve": curve_rows},
    )
    result = {
        "calibration": cal,
        "figures": figures,
        "raters": raters_agreement(items, reps),
        "curve": curve_rows,
    }
    text = yaml.safe_dump(cal.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    write_text(out, text)
    write_json(review_dir / "calibration.json", {k: v for k, v in result.items() if k != "calibration"})
    return result


def _short(figures: dict[str, Any]) -> dict[str, Any]:
    """Kappa, precision and recall before and after per kind, with intervals: the card's figures."""
    keys = ("kappa", "kappa_ci", "precision", "precision_ci", "recall", "recall_ci")
    return {
        kind: {"n": f["n"], **{side: {k: f[side][k] for k in keys} for side in ("before", "after")}}
        for kind, f in figures.items()
    }
