"""The judge with a calibration (`judge.calibration`, from `synsym review calibrate`): which thresholds
each judge applies, the check before a run sends anything, and the drop a threshold makes, recorded
with the threshold (`drop_thresholds` in `dropped.parquet`).

A calibration replaces the thresholds of the judge whose scores it was fitted on: the embedding judge's
for `method: embedding`, the LLM judge's for `llm` and `both` (the embedding pre-filter of `both` stays
as configured, so a calibrated rerun asks the LLM about exactly the rows it asked before: every answer
comes from the response cache, and only the filtering is redone).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from synsym.core.calibration import Calibration, Drop, Rule, decide, load_calibration
from synsym.core.columns import Post, dropped, with_fields
from synsym.core.errors import InputError
from synsym.core.taxonomy import Taxonomy
from synsym.recipe.common.judge_config import JudgeConfig


def calibration_of(cfg: JudgeConfig) -> Calibration | None:
    return load_calibration(cfg.calibration) if cfg.calibration else None


def rules(cfg: JudgeConfig, embedding_threshold: float) -> tuple[Rule, Rule]:
    """(the embedding judge's rule, the LLM judge's rule) for this config."""
    cal = calibration_of(cfg)
    emb = cal if cal is not None and cal.judge == "embedding" else None
    llm = cal if cal is not None and cal.judge == "llm" else None
    return Rule(embedding_threshold, None, emb), Rule(cfg.threshold, cfg.negative_threshold, llm)


def check_calibration(cfg: JudgeConfig, taxonomy: Taxonomy) -> None:
    """InputError, before anything is sent, for a calibration this run cannot use."""
    cal = calibration_of(cfg)
    if cal is None:
        return
    where = f"judge.calibration {cfg.calibration}"
    cal.check_taxonomy(taxonomy.name, taxonomy.names, where)
    wanted = "embedding" if cfg.method == "embedding" else "llm"
    if cfg.method == "none" or cal.judge != wanted:
        raise InputError(
            f"{where} -> fitted on the {cal.judge} judge's scores, but this run's judge.method is "
            f"{cfg.method}; calibrate on a review of a run judged the same way"
        )


def drop(row: Post, stage: str, fate: Drop, who: str) -> Post:
    """`row` dropped by `stage` for `fate`, with the thresholds that decided it."""
    out = dropped(row, stage, fate.drop_class, f"{who}: {fate.detail}")
    return with_fields(out, drop_thresholds=dict(fate.thresholds))


def card_summary(cfg: JudgeConfig) -> dict[str, Any] | None:
    """What the dataset card and manifest say about the calibration: who rated, how much, how well."""
    cal = calibration_of(cfg)
    if cal is None:
        return None
    fitted = {
        kind: {
            "pooled": fit.pooled,
            "default": fit.default,
            "symptoms": dict(fit.symptoms),
            "pooled_symptoms": list(fit.pooled_symptoms),
            "n_items": fit.n_items,
        }
        for kind, fit in cal.kinds.items()
    }
    return {
        "file": cfg.calibration,
        "judge": cal.judge,
        "rule": cal.rule,
        "accept_score": cal.accept_score,
        "raters": list(cal.raters),
        "n_posts": cal.n_posts,
        "kinds": fitted,
        "agreement": cal.agreement,
    }


def calibration_effect(rows: list[Post], cfg: JudgeConfig, embedding_threshold: float) -> dict[str, int]:
    """What the calibration did to this run: of the posts its judge decided on their scores, how many it
    dropped that the configured thresholds would have kept, and how many it kept that they would not."""
    cal = calibration_of(cfg)
    if cal is None:
        return {}
    emb, llm = rules(cfg, embedding_threshold)
    rule = emb if cal.judge == "embedding" else llm
    plain = Rule(rule.threshold, rule.negative_threshold)
    methods = ("embedding",) if cal.judge == "embedding" else ("llm", "both")
    judged = ("below_threshold", "expressed_in_negative")
    out = {"decided": 0, "dropped_not_by_default": 0, "kept_not_by_default": 0}
    for row in rows:
        if row["judge_method"] not in methods or row["drop_class"] not in (None, *judged):
            continue
        scores = {k: v for k, v in row["judge_scores"].items() if ":" not in k}
        now, then = decide(row, scores, rule) is None, decide(row, scores, plain) is None
        out["decided"] += 1
        out["dropped_not_by_default"] += int(then and not now)
        out["kept_not_by_default"] += int(now and not then)
    return out


def _figure(f: dict[str, Any], name: str) -> str:
    value, ci = f.get(name), f.get(f"{name}_ci") or [None, None]
    if value is None:
        return "undefined"
    return f"{value:.2f}" + (f" (95% CI {ci[0]:.2f}-{ci[1]:.2f})" if ci[0] is not None else "")


def calibration_text(summary: Mapping[str, Any]) -> str:
    """The card's section on the judge's calibration: who rated, how many posts, how well it agrees."""
    lines = [
        "## Judge calibration",
        f"The {summary['judge']} judge's thresholds were fitted to expert ratings (`{summary['file']}`): "
        f"{len(summary['raters'])} rater(s) ({', '.join(summary['raters'])}) rated {summary['n_posts']} "
        f"posts; a post counted as accepted when the {summary['rule']} rating was at least "
        f"{summary['accept_score']}.",
    ]
    for kind, fit in summary["kinds"].items():
        own = ", ".join(f"{s} {t:g}" for s, t in fit["symptoms"].items()) or "none"
        lines.append(
            f"- {kind} posts: threshold {fit['pooled']:g} for {len(fit['pooled_symptoms'])} symptoms "
            f"rated too little for their own (the default was {fit['default']:g}); fitted per symptom: {own}."
        )
    for kind, f in (summary.get("agreement") or {}).items():
        if isinstance(f, dict) and "before" in f:
            which = f"all {f['n']} rated posts" if kind == "all" else f"the {f['n']} rated {kind} posts"
            lines.append(
                f"- agreement with the raters on {which} (in-sample): Cohen's kappa "
                f"{_figure(f['before'], 'kappa')} before, {_figure(f['after'], 'kappa')} after; precision "
                f"of the kept set {_figure(f['after'], 'precision')}, recall {_figure(f['after'], 'recall')}."
            )
    effect = summary.get("effect") or {}
    if effect:
        lines.append(
            f"- in this run: of {effect['decided']} posts judged on their scores, "
            f"{effect['dropped_not_by_default']} were dropped that the default thresholds would have kept, "
            f"and {effect['kept_not_by_default']} kept that they would have dropped (`drop_thresholds` in "
            "`dropped.parquet` gives each drop's threshold)."
        )
    return "\n".join(lines)
