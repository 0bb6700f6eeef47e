"""Stage 2, generate: single-symptom statements for every symptom and sub-concept, in every style.

Two modes (`generate.statements_per_call`): capable models answer one structured call with m
statements per style; small local models write one plain-text post per call from a few-shot prompt
built from the taxonomy's example posts, which is what a 135M model can do well.
"""

from __future__ import annotations

from pydantic import Field, PositiveInt, model_validator

from synsym.backends.base import ChatRequest
from synsym.core.columns import Post
from synsym.core.config import StrictModel
from synsym.core.subconcepts import Subconcepts
from synsym.engine.engine import Result, Task
from synsym.pipeline.context import StageContext
from synsym.pipeline.stage import Inputs, LLMStage
from synsym.recipe.common.prompts import load_template
from synsym.recipe.common.statements import (
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


class GenerateConfig(StrictModel):
    """Stage 2: single-symptom posts for every symptom and sub-concept, in every style."""

    calls: int = Field(
        4, ge=0, description="k: calls per (symptom or sub-concept); 0: no single-symptom posts"
    )
    statements_per_style: PositiveInt = Field(5, description="m: statements per style per call")
    statements_per_call: PositiveInt | None = Field(
        None,
        description="None: all m statements of every style in one structured call (capable models); "
        "1: one few-shot, plain-text statement per call (small local models)",
    )
    include_symptom: bool = Field(
        True, description="also generate for each symptom itself, not only sub-concepts"
    )
    max_subconcepts: PositiveInt | None = Field(
        None, description="use at most this many sub-concepts per symptom"
    )
    temperature: float = Field(0.9, ge=0, le=2, description="sampling temperature")
    max_tokens: PositiveInt = Field(1024, description="answer length limit per request")

    @model_validator(mode="after")
    def _per_call(self) -> GenerateConfig:
        if self.statements_per_call not in (None, 1):
            raise ValueError("statements_per_call must be 1 (plain text) or left unset (all in one call)")
        return self


class GenerateStage(LLMStage):
    name = "generate"
    Config = GenerateConfig
    uses = ("seed", "taxonomy", "backend", "styles", "personas")
    reads = ("expand",)

    async def plan(self, ctx: StageContext, inputs: Inputs) -> list[Task]:
        subconcepts: Subconcepts = await inputs.value("expand")
        items = generation_items(ctx, subconcepts)
        if ctx.config.generate.statements_per_call is None:
            return structured_tasks(ctx, items)
        return single_tasks(ctx, items)

    def finish(self, ctx: StageContext, result: Result) -> list[Post]:
        cfg = ctx.config.generate
        return rows_from_result(ctx, result, self.name, ctx.config.styles, cfg.statements_per_style)

    def rows_per_answer(self, ctx: StageContext, task: Task) -> int:
        return ctx.config.generate.statements_per_style * len(ctx.config.styles) if task.schema else 1


def structured_tasks(ctx: StageContext, items: list[tuple[str, str | None]]) -> list[Task]:
    """One call per (item, draw) asking for m statements in every style."""
    cfg, styles = ctx.config.generate, ctx.config.styles
    template = load_template("generate")
    schema = statements_model(styles, cfg.statements_per_style)
    json_schema = schema.model_json_schema()
    tasks: list[Task] = []
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
            payload = {"symptoms": [symptom], "subconcept": sub, "persona": persona}
            tasks.append(Task(f"{symptom}|{sub}|{call}", request, schema, call, template.hash, payload))
    return tasks


def single_tasks(ctx: StageContext, items: list[tuple[str, str | None]]) -> list[Task]:
    """One few-shot, plain-text post per call: what a small local model can write well.

    What is fixed comes first and what varies last, in the prompt and in the call order: the few-shot
    turns are drawn per (symptom, style, draw), the sub-concept and persona are in the last turn, and
    the calls go symptom, style, draw, sub-concept. So consecutive calls share all but the last turn, and
    llama.cpp, which keeps the previous prompt's KV state for a common prefix, evaluates only that."""
    cfg, styles = ctx.config.generate, ctx.config.styles
    template = load_template("generate_single")
    subs_of: dict[str, list[str | None]] = {}
    for symptom, sub in items:
        subs_of.setdefault(symptom, []).append(sub)
    draws = range(cfg.calls * cfg.statements_per_style)
    tasks: list[Task] = []
    for symptom, subs in subs_of.items():
        s = ctx.taxonomy.symptom(symptom)
        phrase = symptom_phrase(s)
        for style, j in ((style, j) for style in styles for j in draws):
            ex1, ex2 = ctx.rng("generate", symptom, style.name, j).sample(example_pool(s, style.name) * 2, 2)
            for sub in subs:
                persona, who = ctx.persona("generate", symptom, sub, style.name, j)
                messages = template.render(
                    persona=who,
                    style_description=style.description,
                    phrase1=phrase,
                    phrase2=phrase,
                    subconcept=sub or phrase,
                    example1=ex1,
                    example2=ex2,
                )
                request = ChatRequest(
                    messages=messages,
                    temperature=cfg.temperature,
                    max_tokens=min(cfg.max_tokens, 96),  # one or two sentences
                    seed=ctx.request_seed(j),
                )
                payload = {"symptoms": [symptom], "subconcept": sub, "persona": persona, "style": style.name}
                tasks.append(
                    Task(f"{symptom}|{sub}|{style.name}|{j}", request, None, j, template.hash, payload)
                )
    return tasks
