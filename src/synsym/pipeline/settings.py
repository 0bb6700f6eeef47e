"""The keys of a run config that every stage may read (seed, taxonomy, prior, backend, styles, personas,
cache, max_cost, executor): `RunConfig`, the base of the model `synsym.pipeline.config` builds from the
stage list, one section per stage that has a `Config`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, PositiveInt, model_validator

from synsym.core.config import BackendConfig, StrictModel
from synsym.core.executor import ExecutorConfig


class Style(StrictModel):
    """A way posts are written: every generate and compose prompt asks for each declared style."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_\-]*$", description="lowercase name, e.g. clinical")
    description: str = Field(min_length=1, description="how posts in this style read; goes into prompts")
    max_words: PositiveInt | None = Field(
        None, description="posts longer than this are dropped (a tweet-like style: about 50)"
    )


DEFAULT_STYLES = [
    Style(
        name="clinical",
        description="precise, symptom-descriptive wording, as a patient would put it to a "
        "clinician; plain first person, no slang",
    ),
    Style(
        name="colloquial",
        description="casual social-media voice: everyday words, contractions, the way "
        "people write on Reddit; no clinical terms",
    ),
]


class Persona(StrictModel):
    """Who writes a post; sampled per prompt and recorded in each row's provenance."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_\-]*$", description="lowercase name, e.g. student")
    age_band: str = Field(min_length=1, description="e.g. 18-24")
    situation: str = Field(min_length=1, description="life situation, e.g. 'nurse working night shifts'")
    register_: str = Field(
        min_length=1, alias="register", description="how they write, e.g. 'lowercase, lots of slang'"
    )

    def describe(self) -> str:
        return f"The writer is {self.age_band}, {self.situation}; they write {self.register_}."


class RunConfig(StrictModel):
    """A run: the keys every stage may read. `synsym.pipeline.config.run_config_model(stages)` adds one
    section per stage that has a `Config`; `run_config(data)` validates a dict against it."""

    seed: int = Field(
        0, description="one seed for every draw: the same config and seed give the same dataset"
    )
    taxonomy: str = Field("depression-14", description="built-in name or a YAML file")
    prior: str = Field("depression-14", description="co-occurrence prior: built-in name or a YAML file")
    backend: BackendConfig = Field(
        default_factory=BackendConfig, description="the model that writes the posts (and judges, by default)"
    )
    styles: list[Style] = Field(
        default_factory=lambda: list(DEFAULT_STYLES),
        min_length=1,
        description="default: clinical, colloquial",
    )
    personas: list[Persona] = Field(default_factory=list, description="sampled per prompt; none: no persona")
    cache: str | None = Field(None, description="response cache file; default RUN_DIR/cache.sqlite")
    max_cost: float | None = Field(None, ge=0, description="stop before spending more than this")
    executor: ExecutorConfig = Field(
        default_factory=ExecutorConfig, description="where requests are answered: local or ray"
    )

    if TYPE_CHECKING:  # a stage's section, e.g. `config.judge`: fields of the model built from the stages

        def __getattr__(self, name: str) -> Any: ...

    @model_validator(mode="after")
    def _names_unique(self) -> RunConfig:
        for key, items in (("styles", self.styles), ("personas", self.personas)):
            names = [item.name for item in items]
            if len(set(names)) != len(names):
                raise ValueError(f"{key}: names must be unique, got {names}")
        return self

    def backends(self) -> dict[str, BackendConfig]:
        """Every backend the config names, by where: `backend`, and a stage's own (`judge.backend`)."""
        found = {"backend": self.backend}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name not in RunConfig.model_fields and isinstance(value, BaseModel):
                found |= {
                    f"{name}.{key}": backend
                    for key in type(value).model_fields
                    if isinstance(backend := getattr(value, key), BackendConfig)
                }
        return found

    def public_dict(self) -> dict[str, Any]:
        """The resolved config for the manifest and card. Holds env-var names only, never their values."""
        return self.model_dump(mode="json", by_alias=True)
