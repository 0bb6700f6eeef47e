"""The judge's side of a review sample: what `review calibrate` needs to refit the judge's thresholds
(each post's judge scores, kind and fate, the thresholds the run used), and the near-threshold sample.

Stored in `sample.json` under `judge` when the sample comes from a synsym run, so calibration needs
neither the run nor the pipeline: review reads exports through `synsym.core.dataset.read_export` only.

The near-threshold sample (`review export --near-threshold`) draws from kept posts and from posts the
judge dropped for their scores, nearest the threshold first, round-robin over the symptom that is
nearest its threshold: a rating there says most about where the threshold belongs, and a rated drop is
the only way to learn that a threshold is too strict.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from synsym.core.calibration import Rule, row_kind
from synsym.core.columns import DropClass, Post
from synsym.core.dataset import Export, read_export
from synsym.core.errors import InputError

# the embedding judge's thresholds when the config leaves them unset (synsym.recipe.common.embedding_judge)
EMBEDDING_ALONE, EMBEDDING_PREFILTER = 4.0, 2.0
JUDGE_DROPS = (DropClass.BELOW_THRESHOLD.value, DropClass.EXPRESSED_IN_NEGATIVE.value)


def judge_settings(export: Export) -> dict[str, Any]:
    """The judge the run used and its thresholds, from the run's manifest (defaults without one)."""
    cfg = ((export.manifest or {}).get("config") or {}).get("judge") or {}
    method = cfg.get("method") or next((r["judge_method"] for r in export.rows if r["judge_method"]), "llm")
    emb = cfg.get("embedding_threshold")
    if emb is None:
        emb = EMBEDDING_PREFILTER if method == "both" else EMBEDDING_ALONE
    llm = method in ("llm", "both")
    return {
        "method": method,
        "judge": "llm" if llm else "embedding",
        "threshold": float(cfg.get("threshold", 4.0)) if llm else float(emb),
        "negative_threshold": float(cfg.get("negative_threshold", 3.0)) if llm else None,
        "calibration": cfg.get("calibration"),
    }


def default_rule(settings: dict[str, Any]) -> Rule:
    return Rule(settings["threshold"], settings["negative_threshold"])


def judged_rows(run: Path | str) -> tuple[Export, list[Post]]:
    """The export and its posts the judge decided on its scores: kept ones, and dropped ones whose drop
    was the judge's threshold (`dropped.parquet` beside it). Posts without the final judge's scores
    (dropped before judging, or by a pre-filter) are left out."""
    export = read_export(run)
    rows = list(export.rows)
    dropped_file = export.path.parent / "dropped.parquet"
    if dropped_file.is_file() and export.path.name != "dropped.parquet":
        rows += [r for r in read_export(dropped_file).rows if r["drop_class"] in JUDGE_DROPS]
    wanted = ("llm", "both") if judge_settings(export)["judge"] == "llm" else ("embedding",)
    return export, [r for r in rows if r["judge_method"] in wanted and scores_of(r)]


def scores_of(row: Post) -> dict[str, float]:
    """The final judge's scores on the post's own text (an `embedding:` key is the pre-filter's); none
    for a long post (its scores are its embedded statements') or a transformed one (scored before)."""
    if row["parts"] or row["transforms"]:
        return {}
    return {k: float(v) for k, v in (row["judge_scores"] or {}).items() if ":" not in k}


def margin(row: Post, rule: Rule, step: float = 0.0) -> tuple[float, str]:
    """How far the post is from flipping, and the symptom nearest its threshold. `step`: the scores'
    resolution (1 for the LLM judge's whole points), so a 3 and a 4 are equally near a threshold of 4."""
    scores, stated = scores_of(row), set(row["symptoms"])
    kind = "negative" if row_kind(row) == "positive" else row_kind(row)
    best = (float("inf"), next(iter(scores), ""))
    for k, v in scores.items():
        t = rule.stated(k) if k in stated else rule.expressed(kind, k)
        if t is not None:
            best = min(best, (abs(v - (t - step / 2)), k))
    return best


def near_threshold(rows: list[Post], rule: Rule, n: int, seed: int, step: float = 0.0) -> list[Post]:
    """Up to n posts nearest the threshold, taken in turn per symptom (nearest first, ties at random)."""
    rng = random.Random(seed)
    by_symptom: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for i, row in enumerate(rows):
        gap, symptom = margin(row, rule, step)
        by_symptom[symptom].append((gap, rng.random(), i))
    pools = [sorted(v, reverse=True) for _, v in sorted(by_symptom.items())]
    picked: list[int] = []
    while len(picked) < n and any(pools):
        for pool in pools:
            if pool and len(picked) < n:
                picked.append(pool.pop()[2])
    return [rows[i] for i in sorted(picked)]


def judge_key(export: Export, rows: list[Post]) -> dict[str, Any]:
    """`sample.json`'s `judge` entry: the run's judge settings and, per sampled post, what calibration
    refits (its stated and scored symptoms, its kind, its scores, whether the run kept it)."""
    return {
        **judge_settings(export),
        "taxonomy": export.taxonomy or "",
        "symptoms": list(export.symptoms),
        "rows": {
            f"p-{r['id']}": {
                "symptoms": list(r["symptoms"]),
                "negative_kind": r["negative_kind"],
                "contrast_of": r["contrast_of"],
                "scores": scores_of(r),
                "kept": r["drop_class"] is None,
            }
            for r in rows
            if scores_of(r)
        },
    }


def near_source(path: Path | str) -> tuple[Export, list[Post]]:
    """`judged_rows`, or InputError when the source cannot give a near-threshold sample."""
    export, rows = judged_rows(path)
    if not rows:
        raise InputError(
            f"{path} -> no judge scores to sample near the threshold; pass a run judged by `llm`, `both` "
            "or `embedding`, or drop --near-threshold"
        )
    return export, rows
