"""Stage 3, compose: multi-symptom posts for clinically plausible combinations of 2-5 symptoms.

Combinations come from the declared co-occurrence prior (`compose.source: prior`) or are proposed by
the LLM (`compose.source: llm`); duplicates are removed. The symptom order in each prompt is
shuffled, so position in the prompt teaches nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, PositiveInt, model_validator

from synsym.backends.base import ChatRequest
from synsym.core.atomic import write_text
from synsym.core.columns import Post
from synsym.core.config import StrictModel
from synsym.core.cooccurrence import Combination, load_prior, sample_combinations
from synsym.engine.engine import Result, Task
from synsym.pipeline.context import StageContext
from synsym.pipeline.settings import Style
from synsym.pipeline.stage import POST_TOKENS, Inputs, LLMStage, StagePlan
from synsym.recipe.common.prompts import PromptTemplate, bullet_list, load_template
from synsym.recipe.common.statements import (
    answer_shape,
    example_pool,
    rows_from_result,
    statements_model,
    styles_block,
    symptom_phrase,
)

_PER_CALL = 20  # combinations asked for in one `compose.source: llm` call
_PROMPT_TOKENS = 400  # a compose prompt: instructions, the symptoms' definitions and examples


class ProposedCombination(BaseModel):
    symptoms: list[str] = Field(min_length=2, max_length=5)
    severity: Literal["mild", "moderate", "severe"]


class ProposedCombinations(BaseModel):
    combinations: list[ProposedCombination] = Field(min_length=1)


async def combinations(ctx: StageContext) -> list[Combination]:
    """The combinations to write posts for; proposals set aside get a note."""
    cfg, tax = ctx.config.compose, ctx.taxonomy
    if cfg.n_combinations == 0:
        return []
    if cfg.source == "prior":
        prior = load_prior(ctx.config.prior)
        rng = ctx.rng("compose", "combinations")
        return sample_combinations(prior, tax, cfg.n_combinations, rng, cfg.min_symptoms, cfg.max_symptoms)
    template = load_template("combinations")
    tasks = [
        Task(
            f"combinations|{i}",
            ChatRequest(
                messages=template.render(
                    symptoms=bullet_list(list(tax.names)),
                    n=_PER_CALL,
                    min_size=cfg.min_symptoms,
                    max_size=cfg.max_symptoms,
                ),
                temperature=1.0,
                max_tokens=4 * 40 * _PER_CALL,
                json_schema=ProposedCombinations.model_json_schema(),
                schema_name="combinations",
            ),
            ProposedCombinations,
            sample=i,
            template=template.hash,
        )
        for i in range(-(-cfg.n_combinations * 3 // 2 // _PER_CALL))  # ask for 50% more: some are duplicates
    ]
    found: dict[Combination, None] = {}
    async for result in ctx.answers(tasks, "compose: combinations"):
        if not result.ok:
            ctx.notes.append(f"combination proposal failed: {result.failure}: {result.error}")
            continue
        for proposal in result.value.combinations:  # type: ignore[union-attr]
            unknown = [s for s in proposal.symptoms if s not in tax.names]
            names = tax.order(s for s in proposal.symptoms if s in tax.names)
            if unknown or not cfg.min_symptoms <= len(names) <= cfg.max_symptoms:
                ctx.notes.append(
                    f"set aside proposal {proposal.symptoms}: unknown names or size out of range"
                )
                continue
            found.setdefault(Combination(names, proposal.severity))
    return list(found)[: cfg.n_combinations]


class ComposeConfig(StrictModel):
    """Stage 3: multi-symptom posts for clinically plausible combinations."""

    source: Literal["prior", "llm"] = Field(
        "prior", description="prior: sample the co-occurrence prior; llm: the model proposes combinations"
    )
    n_combinations: int = Field(590, ge=0, description="symptom combinations to write posts for (0: none)")
    statements_per_style: PositiveInt = Field(5, description="posts per combination and style")
    min_symptoms: int = Field(2, ge=2, description="fewest symptoms in a combination")
    max_symptoms: int = Field(5, ge=2, description="most symptoms in a combination")
    temperature: float = Field(0.9, ge=0, le=2, description="sampling temperature")
    max_tokens: PositiveInt = Field(1536, description="answer length limit per request")

    @model_validator(mode="after")
    def _range(self) -> ComposeConfig:
        if self.min_symptoms > self.max_symptoms:
            raise ValueError("compose.min_symptoms must not exceed compose.max_symptoms")
        return self


class ComposeStage(LLMStage):
    name = "compose"
    Config = ComposeConfig
    uses = ("seed", "taxonomy", "backend", "styles", "personas", "prior")

    async def plan(self, ctx: StageContext, inputs: Inputs) -> list[Task]:
        combos = await combinations(ctx)
        text = yaml.safe_dump([c.to_dict() for c in combos], sort_keys=False)
        await asyncio.to_thread(write_text, ctx.run_dir / "combinations.yaml", text)
        return compose_tasks(ctx, combos)

    def finish(self, ctx: StageContext, result: Result) -> list[Post]:
        cfg = ctx.config.compose
        return rows_from_result(ctx, result, self.name, ctx.config.styles, cfg.statements_per_style)

    def rows_per_answer(self, ctx: StageContext, task: Task) -> int:
        return ctx.config.compose.statements_per_style * len(ctx.config.styles) if task.schema else 1

    async def estimate(self, ctx: StageContext, upstream: dict[str, list[StagePlan]]) -> StagePlan:
        """Combinations the model proposes are not known before it answers: count `n_combinations`."""
        cfg = ctx.config.compose
        if cfg.source == "prior":
            return await super().estimate(ctx, upstream)
        proposals = -(-cfg.n_combinations * 3 // 2 // _PER_CALL)
        per = (
            1
            if ctx.config.generate.statements_per_call is None
            else len(ctx.config.styles) * cfg.statements_per_style
        )
        rows = cfg.n_combinations * cfg.statements_per_style * len(ctx.config.styles)
        requests = proposals + cfg.n_combinations * per
        names = proposals * _PER_CALL * cfg.max_symptoms * 6  # a symptom's name, about 6 tokens
        return StagePlan(
            self.name, requests, None, rows, exact=False, known=False,
            prompt_tokens=requests * _PROMPT_TOKENS, answer_tokens=names + rows * POST_TOKENS,
        )  # fmt: skip


def compose_tasks(ctx: StageContext, combos: list[Combination]) -> list[Task]:
    """One structured call per combination for every style at once, or (`statements_per_call: 1`) one
    few-shot call per combination, style and statement."""
    cfg, styles = ctx.config.compose, ctx.config.styles
    batch = ctx.config.generate.statements_per_call is None
    template = load_template("compose" if batch else "compose_single")
    schema = statements_model(styles, cfg.statements_per_style)
    json_schema = schema.model_json_schema()
    tasks: list[Task] = []
    # style outermost: consecutive few-shot calls share their system turn (a local model reuses its KV)
    for style in styles if not batch else [None]:
        for i, combo in enumerate(combos):
            for j in range(1 if batch else cfg.statements_per_style):
                shuffled = list(combo.symptoms)
                ctx.rng("compose", "order", i, style and style.name, j).shuffle(shuffled)
                persona, who = ctx.persona("compose", i, style and style.name, j)
                if style is None:
                    request = _all_styles_request(ctx, template, combo, shuffled, who, json_schema, j)
                else:
                    request = _one_style_request(ctx, template, combo, shuffled, who, style, (i, j))
                payload = {"symptoms": list(combo.symptoms), "severity": combo.severity, "persona": persona}
                if style is not None:
                    payload["style"] = style.name
                key = f"compose|{i}|{style and style.name}|{j}"
                tasks.append(
                    Task(
                        key,
                        request,
                        schema if batch else None,
                        sample=j,
                        template=template.hash,
                        payload=payload,
                    )
                )
    return tasks


def _all_styles_request(
    ctx: StageContext,
    template: PromptTemplate,
    combo: Combination,
    shuffled: list[str],
    who: str,
    json_schema: dict[str, Any],
    j: int,
) -> ChatRequest:
    """m posts in every style for one combination, as JSON (capable models)."""
    cfg, styles, tax = ctx.config.compose, ctx.config.styles, ctx.taxonomy
    listed = bullet_list([f"{s}: {tax.symptom(s).definition}" for s in shuffled])
    messages = template.render(
        persona=who,
        severity=combo.severity,
        symptoms=listed,
        m=cfg.statements_per_style,
        styles=styles_block(styles),
        shape=answer_shape(styles),
    )
    return ChatRequest(
        messages=messages,
        temperature=cfg.temperature,
        max_tokens=cfg.max_tokens,
        json_schema=json_schema,
        schema_name="statements",
        seed=ctx.request_seed(j),
    )


def _one_style_request(
    ctx: StageContext,
    template: PromptTemplate,
    combo: Combination,
    shuffled: list[str],
    who: str,
    style: Style,
    draw: tuple[int, int],
) -> ChatRequest:
    """One plain-text post in one style (small local models): few-shot turns, one example post for each
    of the first two symptoms, then all of them."""
    (i, j), tax = draw, ctx.taxonomy
    rng = ctx.rng("compose", "examples", i, style.name, j)
    ex1, ex2 = (rng.choice(example_pool(tax.symptom(s), style.name)) for s in shuffled[:2])
    messages = template.render(
        persona=who,
        style_description=style.description,
        severity=combo.severity,
        example1=ex1,
        example2=ex2,
        phrase1=symptom_phrase(tax.symptom(shuffled[0])),
        phrase2=symptom_phrase(tax.symptom(shuffled[1])),
        symptoms_inline="; ".join(symptom_phrase(tax.symptom(s)) for s in shuffled),
    )
    return ChatRequest(
        messages=messages,
        temperature=ctx.config.compose.temperature,
        max_tokens=128,
        seed=ctx.request_seed(j),
    )
