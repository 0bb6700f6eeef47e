"""The run config: what a user writes to describe a dataset. Every section validates with `extra="forbid"`.

Each stage declares the sections it reads (synsym.pipeline.stage); its fingerprint hashes exactly those
(plus the fingerprints of the stages it reads), so a rerun can tell the user which finished stages a
config change would invalidate.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, PositiveInt, field_validator, model_validator

from synsym.backends.base import check_backend
from synsym.core.config import (
    KEYS_HINT,
    BackendConfig,
    StrictModel,
    apply_overrides,
    blame_overrides,
    read_yaml,
    validate,
)
from synsym.core.errors import ConfigError, suggest
from synsym.core.executor import ExecutorConfig
from synsym.core.taxonomy import package_data_path, resolve_data_file
from synsym.pipeline.rewrites import RULES
from synsym.pipeline.transforms import TRANSFORM_NAMES


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


class ExpandConfig(StrictModel):
    """Stage 1: sub-concepts per symptom."""

    method: Literal["llm", "seeds"] = Field(
        "llm", description="llm: ask the model; seeds: use the taxonomy's seed descriptions as sub-concepts"
    )
    n_subconcepts: PositiveInt = Field(20, description="at least this many sub-concepts per symptom")
    max_tokens: PositiveInt = Field(2048, description="answer length limit per request")
    temperature: float = Field(0.7, ge=0, le=2, description="sampling temperature")


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


class JudgeConfig(StrictModel):
    """Stage 4: score every (post, symptom) 0-5 and drop what falls short."""

    method: Literal["llm", "embedding", "both", "none"] = Field(
        "llm", description="llm rubric, offline MiniLM embeddings, embeddings then llm, or none"
    )
    backend: BackendConfig | None = Field(
        None, description="the judge's own backend; default: the generator's"
    )
    threshold: float = Field(4.0, ge=0, le=5, description="LLM score (0-5) every target symptom must reach")
    embedding_threshold: float | None = Field(
        None, ge=0, le=5, description="embedding score (0-5) to keep; default 4 alone, 2 as a pre-filter"
    )
    negative_threshold: float = Field(
        3.0, ge=0, le=5, description="LLM score at which a negative (or a denied symptom) counts as expressed"
    )
    max_tokens: PositiveInt = Field(512, description="answer length limit per judge request")
    first_person: bool = Field(
        True,
        description="a post that states a symptom must be in the first person (I, me, my, we, ...); "
        "checked by every judge (not `method: none`) before scoring",
    )
    calibration: str | None = Field(
        None,
        description="thresholds fitted to your raters (`synsym review calibrate`); replace threshold and "
        "negative_threshold (or embedding_threshold) per symptom; changing it re-filters from cached scores",
    )


class DedupConfig(StrictModel):
    """Exact and near duplicates, and copies of the prompts' examples, dropped before judging."""

    near_threshold: float = Field(
        0.8, gt=0, le=1, description="MinHash Jaccard at or above which posts are near duplicates"
    )
    num_perm: PositiveInt = Field(128, description="MinHash permutations (more: a finer Jaccard estimate)")


ExportFormat = Literal["parquet", "jsonl", "csv", "hf"]


def _parquet_only() -> list[ExportFormat]:
    return ["parquet"]


class ExportConfig(StrictModel):
    """Stage 5: the dataset files."""

    formats: list[ExportFormat] = Field(default_factory=_parquet_only, description="parquet: always")
    label_spaces: list[str] | None = Field(None, description="default: every label space of the taxonomy")


class RunConfig(StrictModel):
    """A run: what to generate, with which model, and how to judge and export it."""

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
    expand: ExpandConfig = Field(default_factory=ExpandConfig, description="stage 1: sub-concepts")
    generate: GenerateConfig = Field(
        default_factory=GenerateConfig, description="stage 2: single-symptom posts"
    )
    compose: ComposeConfig = Field(default_factory=ComposeConfig, description="stage 3: multi-symptom posts")
    negatives: NegativesConfig = Field(default_factory=NegativesConfig, description="hard negatives")
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="stage 4: judge and filter")
    realism: RealismConfig = Field(default_factory=RealismConfig, description="long posts, transformations")
    dedup: DedupConfig = Field(default_factory=DedupConfig, description="duplicates and example copies")
    contrast: ContrastConfig = Field(default_factory=ContrastConfig, description="contrastive rewrites")
    export: ExportConfig = Field(default_factory=ExportConfig, description="stage 5: the dataset files")
    executor: ExecutorConfig = Field(
        default_factory=ExecutorConfig, description="where requests are answered: local or ray"
    )

    @model_validator(mode="after")
    def _styles_unique(self) -> RunConfig:
        names = [s.name for s in self.styles]
        if len(set(names)) != len(names):
            raise ValueError(f"styles: names must be unique, got {names}")
        personas = [p.name for p in self.personas]
        if len(set(personas)) != len(personas):
            raise ValueError(f"personas: names must be unique, got {personas}")
        if self.compose.min_symptoms > self.compose.max_symptoms:
            raise ValueError("compose.min_symptoms must not exceed compose.max_symptoms")
        return self

    def judge_backend(self) -> BackendConfig:
        return self.judge.backend or self.backend

    def public_dict(self) -> dict[str, Any]:
        """The resolved config for the manifest and card. Holds env-var names only, never their values."""
        return self.model_dump(mode="json", by_alias=True)


def builtin_configs() -> list[str]:
    """Run configs shipped with synsym, by name: demo, depression-14 (the paper's recipe), realistic."""
    return sorted(p.stem for p in package_data_path("configs").glob("*.yaml"))


def load_run_config(
    path: str | Path | None, overrides: list[str] | None = None, backend: str | None = None
) -> RunConfig:
    """A run config from a YAML file or a built-in name (`demo`), plus `--set` overrides; each backend's
    own options are checked too. `backend` runs the same plan on another backend: the shared settings
    stay, the old backend's own options go (an openai `base_url` means nothing to `fake`)."""
    path = resolve_data_file(path, "configs", "config", builtin_configs()) if path is not None else None
    data = read_yaml(path) if path is not None else {}
    if backend is not None:
        section = data.get("backend") or {}
        data["backend"] = {k: v for k, v in section.items() if k in BackendConfig.model_fields} | {
            "name": backend
        }
    data = apply_overrides(data, overrides or [])
    source = str(path) if path else "config"
    try:
        config = validate(RunConfig, data, source, hint=KEYS_HINT)
    except ConfigError as err:
        raise blame_overrides(err, source, overrides or []) from None
    check_backend(config.backend, "backend")
    if config.judge.backend is not None:
        check_backend(config.judge.backend, "judge.backend")
    return config
