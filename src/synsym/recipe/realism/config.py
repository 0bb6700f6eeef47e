"""The realism stage's settings: long posts (whose neutral passages the contexts stage writes) and
surface transformations."""

from __future__ import annotations

from pydantic import Field, PositiveInt, model_validator

from synsym.core.config import StrictModel
from synsym.recipe.realism.transforms import TRANSFORM_NAMES


class LongPostsConfig(StrictModel):
    """Reddit-length posts: judged statements embedded among neutral sentences about a situation."""

    n: int = Field(0, ge=0, description="long posts to build (0: none)")
    min_words: PositiveInt = Field(80, description="shortest long post, in words")
    max_words: PositiveInt = Field(400, description="longest long post, in words")
    max_expressions: PositiveInt = Field(3, description="embedded symptom statements per post, at most")
    negative_share: float = Field(
        0.2, ge=0, le=1, description="share of long posts with no embedded statement (all-zero rows)"
    )
    situations: list[str] = Field(
        default_factory=lambda: [
            "moving to a new apartment",
            "the first weeks at a new job",
            "exam week at university",
            "a family visit over the holidays",
            "training for a half marathon",
            "adopting a rescue dog",
            "a long shift at a restaurant",
            "planning a friend's birthday party",
            "car trouble on the way to work",
            "starting a vegetable garden",
        ],
        min_length=1,
        description="everyday situations the neutral passages are about",
    )
    temperature: float = Field(0.9, ge=0, le=2, description="sampling temperature")
    max_tokens: PositiveInt = Field(640, description="answer length limit per request")

    @model_validator(mode="after")
    def _range(self) -> LongPostsConfig:
        if self.min_words > self.max_words:
            raise ValueError("realism.long_posts.min_words must not exceed max_words")
        return self


class RealismConfig(StrictModel):
    """Long posts and surface transformations, after the judge (off by default)."""

    long_posts: LongPostsConfig = Field(default_factory=LongPostsConfig, description="Reddit-length posts")
    transforms: dict[str, float] = Field(
        default_factory=dict,
        description=f"probability per kept row of each surface transformation: {', '.join(TRANSFORM_NAMES)}",
    )

    @model_validator(mode="after")
    def _known(self) -> RealismConfig:
        for name, rate in self.transforms.items():
            if name not in TRANSFORM_NAMES:
                raise ValueError(f"realism.transforms: unknown {name!r}; known: {', '.join(TRANSFORM_NAMES)}")
            if not 0 <= rate <= 1:
                raise ValueError(f"realism.transforms.{name}: a probability from 0 to 1, got {rate}")
        return self
