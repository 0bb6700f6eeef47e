"""Hard negatives, negated statements and long-post contexts: the text around symptoms that SynSym's
posts lack, so a classifier learns the symptom rather than its topic's keywords.

- hard negatives (`negatives.n`): posts close to one symptom's topic that express no symptom (someone
  else's insomnia, a resolved past, advice, hyperbole, everyday life); all-zero rows, their kind and the
  symptom they stay near recorded.
- negated statements (`negatives.negated`): "I don't feel hopeless, just tired", labelled as the
  taxonomy's `negation` says (stated_only: the stated symptom, not the denied one).
- contexts (`realism.long_posts.n`): neutral Reddit-length passages about a situation; the realism stage
  embeds judged statements in them.

Every request is one plain-text post from a few-shot prompt, which any model, down to a 135M one, can
answer; the judge checks each afterwards (a negative that does express a symptom is dropped).
"""

from __future__ import annotations

from typing import Any

from synsym.backends.base import ChatRequest
from synsym.engine.engine import Result, Task
from synsym.pipeline.context import StageContext
from synsym.pipeline.prompts import load_template
from synsym.pipeline.records import Post, new_post, post_id
from synsym.pipeline.statements import Plan, clean_passage, rows_from_result, symptom_phrase

MIN_CONTEXT_WORDS = 8


def split_counts(total: int, shares: list[float]) -> list[int]:
    """`total` split in proportion to `shares` by largest remainder: the counts sum to `total` exactly."""
    raw = [total * s / sum(shares) for s in shares]
    counts = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: counts[i] - raw[i])[: total - sum(counts)]:
        counts[i] += 1
    return counts


def plan_negatives(ctx: StageContext) -> Plan:
    return Plan.joined([_hard_negatives(ctx), _negated(ctx), _contexts(ctx)])


def _request(
    ctx: StageContext, messages: tuple[tuple[str, str], ...], sample: int, max_tokens: int
) -> ChatRequest:
    cfg = ctx.config.negatives
    return ChatRequest(
        messages=messages, temperature=cfg.temperature, max_tokens=max_tokens, seed=ctx.request_seed(sample)
    )


def _hard_negatives(ctx: StageContext) -> Plan:
    cfg, styles, names = ctx.config.negatives, ctx.config.styles, list(ctx.taxonomy.names)
    template = load_template("negative_single")
    tasks: list[Task] = []
    meta: list[tuple[str, str, str, str | None]] = []  # (kind, near symptom, style, persona)
    for kind, count in zip(cfg.kinds, split_counts(cfg.n, [k.share for k in cfg.kinds]), strict=True):
        order = ctx.rng("negatives", kind.name, "symptoms").sample(names, len(names))
        for j in range(count):
            rng = ctx.rng("negatives", kind.name, j)
            near, style = order[j % len(order)], rng.choice(styles)  # not j % len(styles): that pairs them
            ex1, ex2 = rng.sample(kind.examples, 2)
            persona, who = ctx.persona("negatives", kind.name, j)
            messages = template.render(
                style_description=style.description,
                persona=who,
                kind_description=kind.description,
                topic=symptom_phrase(ctx.taxonomy.symptom(near)),
                example1=ex1,
                example2=ex2,
            )
            request = _request(ctx, messages, j, cfg.max_tokens)
            tasks.append(Task(f"negative|{kind.name}|{j}", request, sample=j, template=template.hash))
            meta.append((kind.name, near, style.name, persona))

    def finish(results: list[Result]) -> list[Post]:
        rows: list[Post] = []
        for (kind, near, style, persona), result in zip(meta, results, strict=True):
            rows += rows_from_result(
                ctx, result, "negatives", styles, 1, style,
                symptoms=[], negative_kind=kind, near_symptom=near, persona=persona,
            )  # fmt: skip
        return rows

    return Plan(tasks, finish)


def _negated(ctx: StageContext) -> Plan:
    cfg, styles, tax = ctx.config.negatives, ctx.config.styles, ctx.taxonomy
    if tax.negation == "unsupported" or len(tax.names) < 2:
        return Plan([], lambda results: [])
    template = load_template("negated_single")
    tasks: list[Task] = []
    meta: list[tuple[str, str, str, str | None]] = []  # (denied, stated, style, persona)
    for j in range(cfg.negated):
        denied, stated = ctx.rng("negated", j).sample(list(tax.names), 2)
        style = styles[j % len(styles)]
        persona, who = ctx.persona("negated", j)
        messages = template.render(
            style_description=style.description,
            persona=who,
            denied=symptom_phrase(tax.symptom(denied)),
            stated=symptom_phrase(tax.symptom(stated)),
        )
        tasks.append(
            Task(f"negated|{j}", _request(ctx, messages, j, cfg.max_tokens), sample=j, template=template.hash)
        )
        meta.append((denied, stated, style.name, persona))

    def finish(results: list[Result]) -> list[Post]:
        rows: list[Post] = []
        for (denied, stated, style, persona), result in zip(meta, results, strict=True):
            rows += rows_from_result(
                ctx, result, "negatives", styles, 1, style,
                symptoms=[stated], negative_kind="negated", near_symptom=denied, persona=persona,
            )  # fmt: skip
        return rows

    return Plan(tasks, finish)


def _contexts(ctx: StageContext) -> Plan:
    cfg = ctx.config.realism.long_posts
    template = load_template("context")
    tasks: list[Task] = []
    meta: list[str | None] = []  # persona
    for j in range(cfg.n):
        rng = ctx.rng("context", j)
        words = rng.randint(cfg.min_words, cfg.max_words)
        persona, who = ctx.persona("context", j)
        messages = template.render(persona=who, words=words, situation=rng.choice(cfg.situations))
        request = ChatRequest(
            messages=messages,
            temperature=cfg.temperature,
            max_tokens=min(cfg.max_tokens, 2 * words),
            seed=ctx.request_seed(j),
        )
        tasks.append(Task(f"context|{j}", request, sample=j, template=template.hash))
        meta.append(persona)

    def finish(results: list[Result]) -> list[Post]:
        rows: list[Post] = []
        for persona, result in zip(meta, results, strict=True):
            fields: dict[str, Any] = {
                "style": "", "symptoms": [], "negative_kind": "context", "persona": persona
            }  # fmt: skip
            text = clean_passage(result.text or "", MIN_CONTEXT_WORDS) if result.ok else None
            if text is None:
                reason = (
                    None if not result.ok else f"unusable_output: no passage of {MIN_CONTEXT_WORDS}+ words"
                )
                rows.append(ctx.failed_post(result, "negatives", reason, **fields))
                continue
            rows.append(
                new_post(
                    id=post_id(result.key, 0, text),
                    text=text,
                    stage="negatives",
                    **ctx.provenance(result),
                    **fields,
                )
            )
        return rows

    return Plan(tasks, finish)
