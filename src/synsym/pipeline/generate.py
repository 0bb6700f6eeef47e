"""Stage 2, generate: single-symptom statements for every symptom and sub-concept, in every style.

Two modes (`generate.statements_per_call`): capable models answer one structured call with m
statements per style; small local models write one plain-text post per call from a few-shot prompt
built from the taxonomy's example posts, which is what a 135M model can do well.
"""

from __future__ import annotations

from synsym.backends.base import ChatRequest
from synsym.engine.engine import Result, Task
from synsym.pipeline.context import StageContext
from synsym.pipeline.expand import Subconcepts
from synsym.pipeline.prompts import load_template
from synsym.pipeline.records import Post
from synsym.pipeline.statements import (
    Plan,
    answer_shape,
    example_pool,
    rows_from_result,
    statements_model,
    styles_block,
    symptom_phrase,
)


def generation_items(ctx: StageContext, subconcepts: Subconcepts) -> list[tuple[str, str | None]]:
    """(symptom, sub-concept or None for the symptom itself), in taxonomy order."""
    cfg = ctx.config.generate
    items: list[tuple[str, str | None]] = []
    for name in ctx.taxonomy.names:
        if cfg.include_symptom:
            items.append((name, None))
        items += [(name, sub) for sub in subconcepts.get(name, [])[: cfg.max_subconcepts]]
    return items


def plan_generate(ctx: StageContext, subconcepts: Subconcepts) -> Plan:
    cfg, styles = ctx.config.generate, ctx.config.styles
    items = generation_items(ctx, subconcepts)
    tasks: list[Task] = []
    meta: list[
        tuple[str, str | None, str | None, str | None]
    ] = []  # (symptom, sub-concept, plain style, persona)
    if cfg.statements_per_call is None:
        template = load_template("generate")
        schema = statements_model(styles, cfg.statements_per_style)
        json_schema = schema.model_json_schema()
        for symptom, sub in items:
            definition = ctx.taxonomy.symptom(symptom).definition
            for call in range(cfg.calls):
                persona, who = ctx.persona("generate", symptom, sub, call)
                messages = template.render(
                    symptom=symptom,
                    definition=definition,
                    subconcept=sub or definition,
                    m=cfg.statements_per_style,
                    styles=styles_block(styles),
                    shape=answer_shape(styles),
                    persona=who,
                )
                request = ChatRequest(
                    messages=messages,
                    temperature=cfg.temperature,
                    max_tokens=cfg.max_tokens,
                    json_schema=json_schema,
                    schema_name="statements",
                    seed=ctx.request_seed(call),
                )
                tasks.append(
                    Task(f"{symptom}|{sub}|{call}", request, schema, sample=call, template=template.hash)
                )
                meta.append((symptom, sub, None, persona))
    else:
        template = load_template("generate_single")
        for symptom, sub in items:
            s = ctx.taxonomy.symptom(symptom)
            for style in styles:
                examples = example_pool(s, style.name)
                for j in range(cfg.calls * cfg.statements_per_style):
                    ex1, ex2 = ctx.rng("generate", symptom, sub, style.name, j).sample(examples * 2, 2)
                    persona, who = ctx.persona("generate", symptom, sub, style.name, j)
                    messages = template.render(
                        persona=who,
                        style_description=style.description,
                        phrase1=symptom_phrase(s),
                        phrase2=symptom_phrase(s),
                        subconcept=sub or symptom_phrase(s),
                        example1=ex1,
                        example2=ex2,
                    )
                    request = ChatRequest(
                        messages=messages,
                        temperature=cfg.temperature,
                        max_tokens=min(cfg.max_tokens, 96),  # one or two sentences
                        seed=ctx.request_seed(j),
                    )
                    tasks.append(
                        Task(f"{symptom}|{sub}|{style.name}|{j}", request, sample=j, template=template.hash)
                    )
                    meta.append((symptom, sub, style.name, persona))

    def finish(results: list[Result]) -> list[Post]:
        rows: list[Post] = []
        for (symptom, sub, plain_style, persona), result in zip(meta, results, strict=True):
            rows += rows_from_result(
                ctx,
                result,
                "generate",
                styles,
                cfg.statements_per_style,
                plain_style,
                symptoms=[symptom],
                subconcept=sub,
                persona=persona,
            )
        return rows

    return Plan(tasks, finish)
