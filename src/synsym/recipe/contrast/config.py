"""The contrast stage's settings: the kinds of rewrite (`data/contrast_kinds.yaml` by default), how
many, and the similarity band a model's rewrite must fall in."""

from __future__ import annotations

from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import Field, PositiveInt, field_validator, model_validator

from synsym.core.config import StrictModel
from synsym.core.errors import suggest
from synsym.recipe.contrast.rewrites import RULES


class RewritePair(StrictModel):
    post: str = Field(min_length=1, description="a positive post")
    rewrite: str = Field(min_length=1, description="the same post with the kind's one change")


class ContrastKind(StrictModel):
    """One kind of contrastive rewrite: the one convention dimension it changes, and how."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="lowercase name, e.g. other_person")
    dimension: Literal[
        "whose", "time", "denied", "hypothetical", "feared", "reported", "figurative", "partial"
    ] = Field(
        description="what it changes; partial: removes one symptom of a multi-symptom post, keeps the rest"
    )
    method: Literal["llm", "rules"] = Field(
        description="llm: the model rewrites; rules: a rule does, offline"
    )
    share: float = Field(gt=0, description="relative share of the rewrites")
    description: str = Field(
        min_length=1, description="what the rewrite makes of the post; goes into the prompt"
    )
    examples: list[RewritePair] = Field(default_factory=list, description="few-shot pairs (llm kinds)")

    @model_validator(mode="after")
    def _usable(self) -> ContrastKind:
        if self.method == "llm" and len(self.examples) < 1:
            raise ValueError(f"contrast kind {self.name}: an llm kind needs at least one example pair")
        if self.method == "rules" and self.name not in RULES:
            raise ValueError(f"contrast kind {self.name}: no rule of that name; rules: {', '.join(RULES)}")
        return self


def default_contrast_kinds() -> list[ContrastKind]:
    """The kinds of `data/contrast_kinds.yaml`: six the model writes, two rules, and partial rewrites."""
    text = resources.files("synsym").joinpath("data", "contrast_kinds.yaml").read_text(encoding="utf-8")
    return [ContrastKind.model_validate(k) for k in yaml.safe_load(text)]


class ContrastConfig(StrictModel):
    """Contrastive rewrites of kept positives: the same post with one dimension of the label's
    definition changed (off by default)."""

    n: int = Field(0, ge=0, description="rewrites to write, one per source post (0: none)")
    share: float | None = Field(
        None, gt=0, le=1, description="instead of n: this share of the kept positive posts is rewritten"
    )
    kinds: list[ContrastKind] = Field(
        default_factory=default_contrast_kinds,
        min_length=1,
        description="the kinds and their shares; a default kind may be given by its name alone",
    )
    min_similarity: float = Field(
        0.3,
        ge=0,
        le=1,
        description="a model's rewrite less similar to its source than this is a different post (good "
        "hypothetical and feared rewrites measured 0.36-0.5; copies of the examples are caught on their own)",
    )
    max_similarity: float = Field(
        0.97, ge=0, le=1, description="a model's rewrite more similar than this is an unchanged copy"
    )
    temperature: float = Field(0.7, ge=0, le=2, description="sampling temperature")
    max_tokens: PositiveInt = Field(256, description="answer length limit per request")

    @field_validator("kinds", mode="before")
    @classmethod
    def _by_name(cls, kinds: Any) -> Any:
        """A kind may be named instead of spelled out: `kinds: [person_swap, reported_speech]` takes those
        of the defaults."""
        if not isinstance(kinds, list):
            return kinds
        defaults = {k.name: k for k in default_contrast_kinds()}
        out = []
        for kind in kinds:
            if isinstance(kind, str) and kind not in defaults:
                raise ValueError(f"unknown contrast kind {kind!r}{suggest(kind, defaults)}")
            out.append(defaults[kind].model_dump() if isinstance(kind, str) else kind)
        return out

    @model_validator(mode="after")
    def _consistent(self) -> ContrastConfig:
        names = [k.name for k in self.kinds]
        if len(set(names)) != len(names):
            raise ValueError(f"contrast.kinds: names must be unique, got {names}")
        if self.n and self.share is not None:
            raise ValueError("contrast: give n or share, not both")
        if self.min_similarity >= self.max_similarity:
            raise ValueError("contrast.min_similarity must be below contrast.max_similarity")
        return self
