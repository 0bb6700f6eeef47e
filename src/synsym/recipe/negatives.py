"""Hard negatives and negated statements: the text around symptoms that SynSym's posts lack, so a
classifier learns the symptom rather than its topic's keywords.

- hard negatives (`negatives.n`): posts close to one symptom's topic that express no symptom (someone
  else's insomnia, a resolved past, advice, hyperbole, everyday life); all-zero rows, their kind and the
  symptom they stay near recorded.
- negated statements (`negatives.negated`): "I don't feel hopeless, just tired", labelled as the
  taxonomy's `negation` says (stated_only: the stated symptom, not the denied one).

Every request is one plain-text post from a few-shot prompt, which any model, down to a 135M one, can
answer; the judge checks each afterwards (a negative that does express a symptom is dropped).
"""

from __future__ import annotations

from importlib import resources

import yaml
from pydantic import Field, PositiveInt, model_validator

from synsym.core.columns import Post
from synsym.core.config import StrictModel
from synsym.engine.engine import Result, Task
from synsym.pipeline.context import StageContext
from synsym.pipeline.stage import Inputs, LLMStage
from synsym.recipe.common.prompts import load_template
from synsym.recipe.common.requests import plain_request, split_counts
from synsym.recipe.common.statements import rows_from_result, symptom_phrase


class NegativeKind(StrictModel):
    """One kind of hard negative: a post close to a symptom's topic that expresses no symptom."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="lowercase name, e.g. third_person")
    share: float = Field(gt=0, description="relative share of `negatives.n`")
    description: str = Field(min_length=1, description="what such a post is; goes into the prompt")
    examples: list[str] = Field(min_length=2, description="few-shot posts of this kind")


def default_negative_kinds() -> list[NegativeKind]:
    """The six kinds of `data/negative_kinds.yaml`: third person, past and resolved, advice, hyperbole,
    questions about someone else, everyday posts."""
    text = resources.files("synsym").joinpath("data", "negative_kinds.yaml").read_text(encoding="utf-8")
    return [NegativeKind.model_validate(k) for k in yaml.safe_load(text)]


class NegativesConfig(StrictModel):
    """Hard negatives and negated statements (off by default)."""

    n: int = Field(0, ge=0, description="hard negatives to write: all-zero rows (0: none)")
    kinds: list[NegativeKind] = Field(
        default_factory=default_negative_kinds,
        min_length=1,
        description="the kinds of hard negative and their shares",
    )
    negated: int = Field(
        0, ge=0, description="negated statements to write ('I don't feel hopeless, just tired')"
    )
    temperature: float = Field(0.9, ge=0, le=2, description="sampling temperature")
    max_tokens: PositiveInt = Field(160, description="answer length limit per request")

    @model_validator(mode="after")
    def _unique(self) -> NegativesConfig:
        names = [k.name for k in self.kinds]
        if len(set(names)) != len(names):
            raise ValueError(f"negatives.kinds: names must be unique, got {names}")
        return self


class NegativesStage(LLMStage):
    name = "negatives"
    Config = NegativesConfig
    uses = ("seed", "taxonomy", "backend", "styles", "personas")

    async def plan(self, ctx: StageContext, inputs: Inputs) -> list[Task]:
        return [*hard_negative_tasks(ctx), *negated_tasks(ctx)]

    def finish(self, ctx: StageContext, result: Result) -> list[Post]:
        return rows_from_result(ctx, result, self.name, ctx.config.styles, 1)


def hard_negative_tasks(ctx: StageContext) -> list[Task]:
    cfg, styles, names = ctx.config.negatives, ctx.config.styles, list(ctx.taxonomy.names)
    template = load_template("negative_single")
    tasks: list[Task] = []
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
            request = plain_request(ctx, messages, j, cfg.max_tokens, cfg.temperature)
            payload: dict[str, object] = {
                "symptoms": [], "negative_kind": kind.name, "near_symptom": near, "persona": persona,
                "style": style.name,
            }  # fmt: skip
            tasks.append(Task(f"negative|{kind.name}|{j}", request, None, j, template.hash, payload))
    return tasks


def negated_tasks(ctx: StageContext) -> list[Task]:
    cfg, styles, tax = ctx.config.negatives, ctx.config.styles, ctx.taxonomy
    if tax.negation == "unsupported" or len(tax.names) < 2:
        return []
    template = load_template("negated_single")
    tasks: list[Task] = []
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
        request = plain_request(ctx, messages, j, cfg.max_tokens, cfg.temperature)
        payload: dict[str, object] = {
            "symptoms": [stated], "negative_kind": "negated", "near_symptom": denied, "persona": persona,
            "style": style.name,
        }  # fmt: skip
        tasks.append(Task(f"negated|{j}", request, None, j, template.hash, payload))
    return tasks
