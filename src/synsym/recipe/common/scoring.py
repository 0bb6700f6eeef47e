"""The judge's settings and scoring, shared by the judge stage and by the contrast stage (which judges
its rewrites the same way): a rubric question per post scoring exactly its target symptoms, the
first-person and incoherence checks every judge runs first, the embedding judge, and what to drop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from synsym.backends.base import ChatRequest
from synsym.core.calibration import Rule, decide
from synsym.core.columns import GIVEN_STAGE, DropClass, Post, dropped, is_kept, with_fields
from synsym.core.subconcepts import Subconcepts
from synsym.engine.engine import Task
from synsym.engine.progress import Bar
from synsym.pipeline.context import StageContext
from synsym.recipe.common.calibrated import drop, rules
from synsym.recipe.common.garbage import garbage
from synsym.recipe.common.judge_config import JudgeConfig
from synsym.recipe.common.prompts import bullet_list, load_template


@lru_cache(maxsize=4096)
def _scores_model(targets: tuple[str, ...]) -> tuple[type[BaseModel], dict[str, Any]]:
    """`{"<symptom>": 0-5, ...}` with exactly the target symptoms as required keys: a JSON-schema grammar
    or a strict server cannot leave one out, and a missing one is re-asked."""
    fields: dict[str, Any] = {f"s{i}": (int, Field(ge=0, le=5, alias=name)) for i, name in enumerate(targets)}
    model = create_model("JudgeScores", __config__=ConfigDict(extra="forbid"), **fields)
    return model, model.model_json_schema()


def targets(row: Post, names: tuple[str, ...]) -> list[str]:
    """The symptoms a row is judged on: its own, and those a rewrite removed (they must be gone); a
    negated statement's stated and denied ones; every symptom for a negative (none may be expressed)."""
    if row["negative_kind"] == "negated":
        return [*row["symptoms"], *([row["near_symptom"]] if row["near_symptom"] else [])]
    if not row["symptoms"]:
        return list(names)
    return [n for n in names if n in row["symptoms"] or n in row["removed"]]


_FIRST_PERSON = re.compile(
    r"\b(?:i|i'm|im|i've|ive|i'd|i'll|me|my|mine|myself|we|we're|us|our|ours|ourselves)\b", re.IGNORECASE
)


def first_person(text: str) -> bool:
    """Whether the writer speaks of themselves: a first-person pronoun anywhere (a cheap check of voice;
    "my sister can't sleep" passes it, the judge's scores decide whose state it is)."""
    return _FIRST_PERSON.search(text.replace("\u2019", "'")) is not None


def verdict(
    row: Post, scores: dict[str, float], threshold: float, negative_threshold: float | None
) -> tuple[DropClass, str] | None:
    """None to keep, else why not: every stated symptom must reach `threshold`; a denied symptom, or any
    symptom of a negative, must stay under `negative_threshold` (None: not checked). The uncalibrated
    form of `synsym.core.calibration.decide`, which the stage applies."""
    fate = decide(row, scores, Rule(threshold, negative_threshold))
    return None if fate is None else (fate.drop_class, fate.detail)


def judge_tasks(ctx: StageContext, rows: list[Post]) -> Iterator[Task]:
    """One rubric question per row, scoring exactly its target symptoms (built as they are queued)."""
    template = load_template("judge")
    cfg = ctx.config.judge
    listings: dict[tuple[str, ...], str] = {}
    for row in rows:
        names = tuple(targets(row, ctx.taxonomy.names))
        schema, json_schema = _scores_model(names)
        listed = listings.get(names)
        if listed is None:
            listed = listings[names] = bullet_list(
                [f"{s}: {ctx.taxonomy.symptom(s).definition}" for s in names]
            )
        request = ChatRequest(
            messages=template.render(post=row["text"], symptoms=listed),
            temperature=0.0,
            max_tokens=cfg.max_tokens,
            json_schema=json_schema,
            schema_name="judge_scores",
        )
        yield Task(f"judge|{row['id']}", request, schema, template=template.hash, payload=row)


async def judge_block(
    ctx: StageContext, rows: list[Post], stage: str, embedding: Any, lock: asyncio.Lock, bar: Bar | None
) -> list[Post]:
    """The rows in order, judged: scores on every row, dropped ones with their class, by `stage`.
    `embedding` is the loaded embedding judge (None when the method has none); `lock` keeps one block
    on the encoder at a time; `bar` counts the LLM questions."""
    cfg = ctx.config.judge
    embedding_rule, llm_rule = rules(cfg, embedding_threshold(cfg))  # a calibration's, else the config's
    out = list(rows)
    todo = [i for i, r in enumerate(rows) if is_kept(r) and r["stage"] != GIVEN_STAGE]  # a user's own: kept
    if cfg.first_person and cfg.method != "none":  # the recipe asks for first person: cheapest check first
        for i in todo:
            if rows[i]["symptoms"] and not first_person(rows[i]["text"]):
                out[i] = dropped(out[i], stage, DropClass.NO_FIRST_PERSON, "no I, me, my, we, ... in it")
        todo = [i for i in todo if is_kept(out[i])]
    if cfg.method != "none":  # no statement at all (a loop, cut off, word salad): no judge scores it
        for i in todo:
            if (wrong := garbage(rows[i]["text"])) is not None:
                out[i] = dropped(out[i], stage, DropClass.INCOHERENT, wrong)
        todo = [i for i in todo if is_kept(out[i])]
    if embedding is not None and todo:
        async with lock:
            ctx.progress.status(f"judging {len(todo)} posts with MiniLM embeddings")
            scores = await asyncio.to_thread(
                embedding.score_targets,
                [rows[i]["text"] for i in todo],
                [targets(rows[i], ctx.taxonomy.names) for i in todo],
            )
        passed = []
        for i, got in zip(todo, scores, strict=True):
            out[i] = with_fields(out[i], judge_scores=got, judge_method="embedding")
            # Embeddings cannot tell whose symptom it is, when, or whether it is denied: they score a true
            # hard negative ("my roommate hasn't slept in days") 4.5-5. So they check what a row states,
            # and record, without acting on, the scores of what a negative must not express.
            fate = decide(out[i], got, embedding_rule)
            if fate is None:
                passed.append(i)
            else:
                out[i] = drop(out[i], stage, fate, "embedding")
        todo = passed
    if cfg.method in ("llm", "both") and todo:
        method = "both" if cfg.method == "both" else "llm"
        tasks = judge_tasks(ctx, [out[i] for i in todo])
        if bar is not None:
            bar.add_total(len(todo))
        order = iter(todo)
        async for result in ctx.answers(tasks, engine=ctx.engine_for("judge"), bar=bar):
            i = next(order)
            if not result.ok:
                failed = with_fields(out[i], judge_method=method)
                out[i] = dropped(failed, stage, DropClass(result.failure), f"judge request: {result.error}")
                continue
            answer = {k: float(v) for k, v in result.value.model_dump(by_alias=True).items()}  # type: ignore[union-attr]
            earlier = {f"embedding:{k}": v for k, v in out[i]["judge_scores"].items()}
            out[i] = with_fields(out[i], judge_scores={**earlier, **answer}, judge_method=method)
            fate = decide(out[i], answer, llm_rule)
            if fate is not None:
                out[i] = drop(out[i], stage, fate, "llm")
    return out


def embedding_threshold(cfg: JudgeConfig) -> float:
    """The configured embedding threshold, else the calibrated default: 4 alone, 2 before an LLM judge."""
    from synsym.recipe.common.embedding_judge import DEFAULT_THRESHOLD, PREFILTER_THRESHOLD

    if cfg.embedding_threshold is not None:
        return cfg.embedding_threshold
    return PREFILTER_THRESHOLD if cfg.method == "both" else DEFAULT_THRESHOLD


def load_embedding_judge(ctx: StageContext, subconcepts: Subconcepts) -> Any:
    from synsym.recipe.common.embedding_judge import EmbeddingJudge

    judge = EmbeddingJudge(ctx.taxonomy, subconcepts)
    judge.prototype_vectors()  # load the encoder and encode the prototypes once, off the event loop
    return judge
