"""Contrastive rewrites: kept positive posts rewritten to change exactly one dimension of what the label
means (synsym.core.taxonomy.Convention): someone else's state, a resolved past, a hypothetical, feared or
denied one, quoted speech, a non-clinical use of the same words; or, for a multi-symptom post, the same
post without one of its symptoms. A classifier learns the symptom from the difference between a post and
its rewrite, where negatives in another voice teach it the voice.

A rewrite is a negative (all-zero; `removed` lists the source's symptoms) unless it is partial (labels:
the source's minus the one removed). Which kinds are negatives follows from the taxonomy's convention: a
kind whose change the convention counts is refused before anything is asked. Model-written rewrites must
be minimal and make the change their kind names, checked in the words whatever the judge
(synsym.recipe.contrast.checks; else re-asked, then dropped); rule-made rewrites need no judge (they are
minimal and make their change by construction); every model-written rewrite is then judged: the LLM
judge requires what was removed to score under `judge.negative_threshold` and what was kept to reach
`judge.threshold`; the embedding judge, which cannot hear person or tense, checks what a partial rewrite
kept.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from pydantic import BaseModel, Field

from synsym.backends.base import ChatRequest
from synsym.core.columns import DropClass, Post, dropped, is_kept, new_post, post_id
from synsym.core.errors import InputError
from synsym.engine.engine import Result, Task
from synsym.engine.structured import InvalidAnswer
from synsym.pipeline.context import StageContext
from synsym.pipeline.stage import (
    POST_TOKENS,
    ROWS,
    Inputs,
    Output,
    RowsFile,
    StagePlan,
    prompt_tokens,
    rows_in,
    worst_cost,
)
from synsym.recipe.common.prompts import load_template
from synsym.recipe.common.requests import split_counts
from synsym.recipe.common.scoring import judge_block, load_embedding_judge
from synsym.recipe.common.statements import symptom_phrase
from synsym.recipe.contrast.checks import rewrite_problem
from synsym.recipe.contrast.config import ContrastConfig, ContrastKind
from synsym.recipe.contrast.rewrites import RULES

RULE_VERSION = "rules-1"  # bump when a rule's output changes


class Rewrite(BaseModel):
    rewrite: str = Field(min_length=4, max_length=1200)


class ContrastStage(RowsFile):
    name = "contrast"
    Config = ContrastConfig
    uses = ("seed", "taxonomy", "backend", "judge")
    reads = ("expand", ROWS)

    def roles(self, config: Any) -> tuple[str, ...]:
        """The default engine writes the model-made kinds' rewrites; the judge's scores them when it asks
        a model (rule-made rewrites are never judged)."""
        if not any(kind.method == "llm" for kind in config.contrast.kinds):
            return ()
        return ("default", "judge") if config.judge.method in ("llm", "both") else ("default",)

    def check(self, ctx: StageContext) -> None:
        """Refuse, before anything is asked, a kind whose change the taxonomy's convention counts."""
        convention = ctx.taxonomy.convention
        for kind in ctx.config.contrast.kinds:
            if kind.dimension != "partial" and not convention.negative(kind.dimension):
                raise InputError(
                    f"contrast.kinds: {kind.name} changes {kind.dimension}, but taxonomy {ctx.taxonomy.name} "
                    f"counts that change ({'; '.join(convention.describe())}), so its rewrites would not be "
                    "negatives; remove the kind or declare the taxonomy's convention"
                )

    async def estimate(self, ctx: StageContext, upstream: dict[str, list[StagePlan]]) -> StagePlan:
        rows, _ = rows_in(upstream)
        cfg = ctx.config.contrast
        n = cfg.n or round((cfg.share or 0) * rows)
        llm = sum(c for k, c in zip(cfg.kinds, split_counts(n, [k.share for k in cfg.kinds]), strict=True)
                  if k.method == "llm")  # fmt: skip
        judged = llm if ctx.config.judge.method in ("llm", "both") else 0  # rule-made ones need none
        example = [rewrite_task(ctx, _PLACEHOLDER, cfg.kinds[0], [], 0)] if llm else []
        per = worst_cost(ctx.engine, example) if example else 0.0
        cost = None if per is None else per * llm
        return StagePlan(
            self.name, llm + judged, cost, rows + n, exact=False, known=False,
            prompt_tokens=prompt_tokens(example) * (llm + judged), answer_tokens=llm * POST_TOKENS,
        )  # fmt: skip

    async def run(self, ctx: StageContext, inputs: Inputs, out: Output) -> None:
        rows = await inputs.rows()
        out.extend(rows)
        plan = assign(ctx, rows)
        made: list[Post] = []
        tasks: list[Task] = []
        for kind, source, removed in plan:
            if kind.method == "rules":
                made.append(rule_rewrite(ctx, kind, source, removed))
            else:
                tasks.append(rewrite_task(ctx, source, kind, removed, len(tasks)))
        async for result in ctx.answers(tasks, "contrast"):
            made.append(from_answer(ctx, result))
        ruled = [r for r in made if r["backend"] == "rules"]  # minimal and changed by construction
        out.extend(ruled + await self._judge(ctx, inputs, [r for r in made if r["backend"] != "rules"]))
        out.close()

    async def _judge(self, ctx: StageContext, inputs: Inputs, rows: list[Post]) -> list[Post]:
        if ctx.config.judge.method == "none" or not rows:
            return rows
        embedding = None
        if ctx.config.judge.method in ("embedding", "both"):
            embedding = await asyncio.to_thread(load_embedding_judge, ctx, await inputs.value("expand"))
        bar = ctx.progress.bar("contrast: judge", 0)
        return await judge_block(ctx, rows, self.name, embedding, asyncio.Lock(), bar)


_PLACEHOLDER = new_post(
    id="x", text="x" * 300, style="", symptoms=[], stage="plan", backend="", model="", template="",
    request_key="",
)  # fmt: skip


def assign(ctx: StageContext, rows: list[Post]) -> list[tuple[ContrastKind, Post, list[str]]]:
    """(kind, source, symptoms it removes) per rewrite: each kept positive is rewritten at most once; a
    partial rewrite takes a multi-symptom source and removes one of its symptoms, drawn with the seed."""
    cfg = ctx.config.contrast
    positives = [r for r in rows if is_kept(r) and r["symptoms"] and r["negative_kind"] is None]
    n = cfg.n or round((cfg.share or 0) * len(positives))
    if n > len(positives):
        raise InputError(
            f"contrast.n is {n} but the run kept only {len(positives)} positive posts to rewrite; lower "
            "contrast.n (or use contrast.share), then rerun: answers already paid for come from the cache"
        )
    rng = ctx.rng("contrast", "sources")
    pool = rng.sample(positives, len(positives))
    counts = split_counts(n, [k.share for k in cfg.kinds])
    plan: list[tuple[ContrastKind, Post, list[str]]] = []
    used: set[str] = set()
    for kind, count in sorted(
        zip(cfg.kinds, counts, strict=True), key=lambda kc: kc[0].dimension != "partial"
    ):
        fits = [
            r for r in pool if r["id"] not in used and (kind.dimension != "partial" or len(r["symptoms"]) > 1)
        ]
        if count > len(fits):
            raise InputError(
                f"contrast: {count} {kind.name} rewrites asked for, but only {len(fits)} kept posts fit "
                f"({'multi-symptom posts' if kind.dimension == 'partial' else 'positives left'}); lower "
                "contrast.n or that kind's share"
            )
        for source in fits[:count]:
            used.add(source["id"])
            removed = (
                [rng.choice(source["symptoms"])] if kind.dimension == "partial" else list(source["symptoms"])
            )
            plan.append((kind, source, removed))
    order = {r["id"]: i for i, r in enumerate(rows)}
    return sorted(plan, key=lambda p: order[p[1]["id"]])


def rewrite_row(source: Post, text: str, kind: ContrastKind, removed: list[str], **provenance: Any) -> Post:
    symptoms = [s for s in source["symptoms"] if s not in removed]
    return new_post(
        id=post_id(source["id"], 0, f"{kind.name}:{text}"),
        text=text,
        style=source["style"],
        symptoms=symptoms,
        stage="contrast",
        subconcept=source["subconcept"] if symptoms else None,
        severity=source["severity"] if len(symptoms) > 1 else None,
        persona=source["persona"],
        contrast_of=source["id"],
        contrast_kind=kind.name,
        removed=removed,
        **provenance,
    )


def rule_rewrite(ctx: StageContext, kind: ContrastKind, source: Post, removed: list[str]) -> Post:
    rng = random.Random(f"{ctx.config.seed}:contrast:{kind.name}:{source['id']}")
    text = RULES[kind.name](source["text"], rng)
    prov = {"backend": "rules", "model": RULE_VERSION, "template": f"rule:{kind.name}", "request_key": ""}
    return rewrite_row(source, text, kind, removed, **prov)


def rewrite_task(ctx: StageContext, source: Post, kind: ContrastKind, removed: list[str], j: int) -> Task:
    cfg = ctx.config.contrast
    template = load_template("contrast")
    change = kind.description
    if kind.dimension == "partial":
        change = change.replace("{symptom}", symptom_phrase(ctx.taxonomy.symptom(removed[0])))
    examples = "".join(f"Post: {e.post}\nRewrite: {e.rewrite}\n\n" for e in kind.examples)
    request = ChatRequest(
        messages=template.render(change=change, examples=examples, post=source["text"]),
        temperature=cfg.temperature,
        max_tokens=cfg.max_tokens,
        json_schema=Rewrite.model_json_schema(),
        schema_name="rewrite",
        seed=ctx.request_seed(j),
    )
    bounds = (cfg.min_similarity, cfg.max_similarity)
    pairs = [(e.post, e.rewrite) for e in kind.examples]

    def verified(answer: BaseModel) -> None:
        problem = rewrite_problem(
            kind.dimension, source["text"], str(getattr(answer, "rewrite", "")), pairs, bounds
        )
        if problem is not None:
            raise InvalidAnswer(f"{problem[1]}; {change}", problem[0])

    payload = {"kind": kind, "source": source, "removed": removed}
    return Task(f"contrast|{kind.name}|{source['id']}", request, Rewrite, 0, template.hash, payload, verified)


def from_answer(ctx: StageContext, result: Result) -> Post:
    kind, source, removed = (result.task.payload[k] for k in ("kind", "source", "removed"))
    if not result.ok:
        failure = DropClass(result.failure)
        cls = (
            DropClass.NOT_MINIMAL
            if failure is DropClass.INVALID_OUTPUT and "similarity" in (result.error or "")
            else failure
        )
        row = rewrite_row(source, result.text or "", kind, removed, **ctx.provenance(result))
        return dropped(row, "contrast", cls, result.error or "")
    text = " ".join(str(result.value.rewrite).split())  # type: ignore[union-attr]
    return rewrite_row(source, text, kind, removed, **ctx.provenance(result))
