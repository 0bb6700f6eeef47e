"""Stage 4, judge and filter: score every (post, target symptom) 0-5 and drop what falls short (the
runner drops exact and near duplicates just before, so none is paid for). Scores stay on every row,
kept or dropped, and every drop says why.

`judge.method`: `llm` (a rubric prompt; the judge may be another backend), `embedding` (offline MiniLM
margins, for runs without a capable model), `both` (embedding as a cheap pre-filter, then the LLM), `none`.
Hard negatives and denied symptoms are checked by the LLM judge only (see `run_judge`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from synsym.backends.base import ChatRequest
from synsym.engine.engine import Task
from synsym.pipeline.context import StageContext
from synsym.pipeline.expand import Subconcepts
from synsym.pipeline.prompts import bullet_list, load_template
from synsym.pipeline.records import Post, with_fields


@lru_cache(maxsize=4096)
def _scores_model(targets: tuple[str, ...]) -> tuple[type[BaseModel], dict[str, Any]]:
    """`{"<symptom>": 0-5, ...}` with exactly the target symptoms as required keys: a JSON-schema grammar
    or a strict server cannot leave one out, and a missing one is re-asked."""
    fields: dict[str, Any] = {f"s{i}": (int, Field(ge=0, le=5, alias=name)) for i, name in enumerate(targets)}
    model = create_model("JudgeScores", __config__=ConfigDict(extra="forbid"), **fields)
    return model, model.model_json_schema()


def targets(row: Post, names: tuple[str, ...]) -> list[str]:
    """The symptoms a row is judged on: its own; a negated statement's stated and denied ones; every
    symptom for a negative (none may be expressed)."""
    if row["negative_kind"] == "negated":
        return [*row["symptoms"], *([row["near_symptom"]] if row["near_symptom"] else [])]
    return list(row["symptoms"]) if row["symptoms"] else list(names)


def verdict(row: Post, scores: dict[str, float], threshold: float, negative_threshold: float | None) -> str:
    """'' to keep, else why not: every stated symptom must reach `threshold`; a denied symptom, or any
    symptom of a negative, must stay under `negative_threshold` (None: not checked)."""
    stated = set(row["symptoms"])
    low = {k: v for k, v in scores.items() if k in stated and v < threshold}
    if low:
        return _below(low, threshold)
    if negative_threshold is None:
        return ""
    high = [
        f"{k} {v:g} >= {negative_threshold:g}"
        for k, v in scores.items()
        if k not in stated and v >= negative_threshold
    ]
    if high:
        what = "denies" if row["negative_kind"] == "negated" else "is a negative"
        return f"expressed_in_negative: {what} but expresses {'; '.join(high)}"
    return ""


def llm_scores(ctx: StageContext, rows: list[Post]) -> list[dict[str, float] | str]:
    """Per row: the scores, or the failure reason when the judge gave none."""
    template = load_template("judge")
    cfg = ctx.config.judge
    tasks = []
    for row in rows:
        names = targets(row, ctx.taxonomy.names)
        schema, json_schema = _scores_model(tuple(names))
        listed = bullet_list([f"{s}: {ctx.taxonomy.symptom(s).definition}" for s in names])
        request = ChatRequest(
            messages=template.render(post=row["text"], symptoms=listed),
            temperature=0.0,
            max_tokens=cfg.max_tokens,
            json_schema=json_schema,
            schema_name="judge_scores",
        )
        tasks.append(Task(f"judge|{row['id']}", request, schema, template=template.hash))
    out: list[dict[str, float] | str] = []
    for result in ctx.judge_engine.run_sync(tasks, label="judge"):
        if result.ok:
            out.append({k: float(v) for k, v in result.value.model_dump(by_alias=True).items()})  # type: ignore[union-attr]
        else:
            out.append(f"judge_failed: {result.failure}: {result.error}")
    return out


def run_judge(ctx: StageContext, rows: list[Post], subconcepts: Subconcepts) -> tuple[list[Post], list[Post]]:
    """Return (kept, dropped) in input order; dropped rows carry `drop_reason`."""
    cfg = ctx.config.judge
    kept: list[Post] = []
    dropped: list[Post] = []
    if cfg.method in ("embedding", "both"):
        from synsym.pipeline.judge_embedding import (
            DEFAULT_THRESHOLD,
            PREFILTER_THRESHOLD,
            EmbeddingJudge,
        )

        threshold = cfg.embedding_threshold
        if threshold is None:  # calibrated on the paper's posts: 4 keeps 93% of true pairs, 8% of wrong ones
            threshold = PREFILTER_THRESHOLD if cfg.method == "both" else DEFAULT_THRESHOLD
        judge = EmbeddingJudge(ctx.taxonomy, subconcepts)
        embedding = judge.score_targets(
            [r["text"] for r in rows], [targets(r, ctx.taxonomy.names) for r in rows]
        )
        for row, scores in zip(rows, embedding, strict=True):
            row = with_fields(row, judge_scores=scores, judge_method="embedding")
            # Embeddings cannot tell whose symptom it is, when, or whether it is denied: they score a true
            # hard negative ("my roommate hasn't slept in days") 4.5-5. So they check what a row states,
            # and record, without acting on, the scores of what a negative must not express.
            reason = verdict(row, scores, threshold, None)
            if reason:
                dropped.append(with_fields(row, drop_reason=f"embedding_judge: {reason}"))
            else:
                kept.append(row)
        rows, kept = kept, []
    if cfg.method in ("llm", "both"):
        method = "both" if cfg.method == "both" else "llm"
        for row, answer in zip(rows, llm_scores(ctx, rows), strict=True):
            if isinstance(answer, str):
                dropped.append(with_fields(row, judge_method=method, drop_reason=answer))
                continue
            earlier = {f"embedding:{k}": v for k, v in row["judge_scores"].items()}
            row = with_fields(row, judge_scores={**earlier, **answer}, judge_method=method)
            reason = verdict(row, answer, cfg.threshold, cfg.negative_threshold)
            if reason:
                dropped.append(with_fields(row, drop_reason=f"llm_judge: {reason}"))
            else:
                kept.append(row)
        rows = kept
    return rows, dropped


def _below(scores: dict[str, float], threshold: float) -> str:
    """`Sleep_disturbance 2 < 4; ...` for every target under the threshold, or '' when none is."""
    low = [f"{name} {score:g} < {threshold:g}" for name, score in scores.items() if score < threshold]
    return "; ".join(low)
