"""Stage 1, expand: each symptom becomes at least N sub-concepts that keep every seed description.

The result is `subconcepts.yaml` in the run directory: a file a clinician can review, edit and feed
back with `--subconcepts FILE` (the paper's released `symptom_sub_concepts.json` is accepted too;
synsym.core.subconcepts reads and writes both).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, PositiveInt, create_model, field_validator

from synsym.backends.base import ChatRequest
from synsym.core.config import StrictModel
from synsym.core.subconcepts import (
    Subconcepts,
    load_subconcepts,
    merge_with_seeds,
    normal_form,
    write_subconcepts,
)
from synsym.engine.engine import Task
from synsym.pipeline.context import StageContext
from synsym.pipeline.stage import (
    SUBCONCEPT_TOKENS,
    Inputs,
    Output,
    StagePlan,
    ValueStage,
    prompt_tokens,
    worst_cost,
)
from synsym.recipe.common.prompts import bullet_list, load_template


def _answer_model(n: int) -> type[BaseModel]:
    def distinct(items: list[str]) -> list[str]:
        seen: set[str] = set()
        for item in items:
            if normal_form(item) in seen:
                raise ValueError(f"sub-concepts must be distinct; {item!r} repeats an earlier one")
            seen.add(normal_form(item))
        return items

    return create_model(
        "SubconceptList",
        subconcepts=(list[str], Field(min_length=n, max_length=3 * n)),
        __validators__={"distinct": field_validator("subconcepts")(distinct)},
    )


class ExpandConfig(StrictModel):
    """Stage 1: sub-concepts per symptom."""

    method: Literal["llm", "seeds"] = Field(
        "llm", description="llm: ask the model; seeds: use the taxonomy's seed descriptions as sub-concepts"
    )
    n_subconcepts: PositiveInt = Field(20, description="at least this many sub-concepts per symptom")
    max_tokens: PositiveInt = Field(2048, description="answer length limit per request")
    temperature: float = Field(0.7, ge=0, le=2, description="sampling temperature")


class ExpandStage(ValueStage):
    """Sub-concepts per symptom: from a reviewed file, from the taxonomy's seeds, or from the model."""

    name = "expand"
    Config = ExpandConfig
    uses = ("seed", "taxonomy", "backend")
    inputs = ("subconcepts_file",)
    reads = ()

    def roles(self, config: Any) -> tuple[str, ...]:
        """The model proposes sub-concepts only with `expand.method: llm`."""
        return ("default",) if config.expand.method == "llm" else ()

    def artifact(self) -> str:
        return "subconcepts.yaml"

    def save(self, ctx: StageContext, path: Path, value: Subconcepts) -> None:
        write_subconcepts(path, value)

    def load(self, ctx: StageContext, path: Path) -> Subconcepts:
        return load_subconcepts(path, ctx.taxonomy)

    async def run(self, ctx: StageContext, inputs: Inputs, out: Output) -> None:
        if ctx.subconcepts_file is not None:
            out.close(load_subconcepts(ctx.subconcepts_file, ctx.taxonomy))
        elif ctx.config.expand.method == "seeds":
            out.close(from_seeds(ctx))
        else:
            out.close(await expand(ctx))

    async def estimate(self, ctx: StageContext, upstream: dict[str, list[StagePlan]]) -> StagePlan:
        if ctx.subconcepts_file is not None:
            return StagePlan(self.name, value=load_subconcepts(ctx.subconcepts_file, ctx.taxonomy))
        if ctx.config.expand.method == "seeds":
            return StagePlan(self.name, value=from_seeds(ctx))
        n = ctx.config.expand.n_subconcepts  # the model's answers are not known yet: n stand-ins each
        stand_in = {
            s.name: merge_with_seeds(s.seeds, [f"{s.name} {i}" for i in range(n)])
            for s in ctx.taxonomy.symptoms
        }
        tasks = expand_tasks(ctx)
        return StagePlan(
            self.name, len(tasks), worst_cost(ctx.engine, tasks), value=stand_in, known=False,
            prompt_tokens=prompt_tokens(tasks), answer_tokens=len(tasks) * n * SUBCONCEPT_TOKENS,
        )  # fmt: skip


def from_seeds(ctx: StageContext) -> Subconcepts:
    return {s.name: merge_with_seeds(s.seeds, []) for s in ctx.taxonomy.symptoms}


async def expand(ctx: StageContext) -> Subconcepts:
    """Sub-concepts per symptom; a symptom whose expansion failed keeps its seeds, with a note."""
    out = {}
    async for result in ctx.answers(expand_tasks(ctx), "expand"):
        s = result.task.payload
        proposed = getattr(result.value, "subconcepts", []) if result.ok else []
        if not result.ok:
            ctx.notes.append(
                f"{s.name}: expansion failed ({result.failure}: {result.error}); using its seeds only"
            )
        out[s.name] = merge_with_seeds(s.seeds, proposed)
    return out


def expand_tasks(ctx: StageContext) -> list[Task]:
    tax, cfg = ctx.taxonomy, ctx.config.expand
    template = load_template("expand")
    schema = _answer_model(cfg.n_subconcepts)
    tasks = [
        Task(
            id=s.name,
            request=ChatRequest(
                messages=template.render(
                    symptom=s.name,
                    definition=s.definition,
                    seeds=bullet_list(s.seeds),
                    n=cfg.n_subconcepts,
                    others=bullet_list(
                        [f"{o.name}: {o.definition}" for o in tax.symptoms if o.name != s.name]
                    ),
                ),
                temperature=cfg.temperature,
                max_tokens=cfg.max_tokens,
                json_schema=schema.model_json_schema(),
                schema_name="subconcepts",
            ),
            schema=schema,
            template=template.hash,
            payload=s,
        )
        for s in tax.symptoms
    ]
    return tasks
