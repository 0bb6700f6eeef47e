"""Add synsym's data to a labelled dataset you already have (the paper's release, your own annotated
posts): hard negatives, negated statements, long posts and contrastive rewrites, made by the same stages,
checks and cache as in a generated run, with the dataset's own rows in place of generate and compose
(synsym.recipe.given). `synsym augment` and `synsym contrast` are this module at the command line.

    from synsym.augment import augment, contrast
    result = augment("synth_all_dsm5.csv", "runs/aug", load_run_config("configs/realistic.yaml",
                     ["contrast.n=600", "negatives.n=400"]))
    result = contrast("synth_all_dsm5.csv", "runs/contrast", n=600, kinds="person_swap,reported_speech")

`prepare_augment` and `prepare_contrast` read the dataset and stop there: the `GivenRun` they return says
what it would ask (`.plan()`) before it is run (`.run()`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from synsym.classify.sources import STYLE_COLUMNS, aligned_column, load_dataset
from synsym.core.columns import Post
from synsym.core.config import validate
from synsym.core.dataset import read_rows
from synsym.core.errors import UserError
from synsym.core.taxonomy import load_taxonomy
from synsym.pipeline.config import RunConfig, load_run_config
from synsym.pipeline.prepare import PreparedRun
from synsym.pipeline.runner import RunResult
from synsym.pipeline.stage import Stage
from synsym.recipe.given import given_stages, rows_from_labels

__all__ = [
    "Given",
    "GivenRun",
    "augment",
    "check_adds",
    "contrast",
    "contrast_config",
    "given_config",
    "prepare_augment",
    "prepare_contrast",
    "read_given",
]

ConfigLike = RunConfig | str | Path | None

_TABULAR = (".csv", ".tsv", ".jsonl", ".json", ".parquet")


@dataclass(frozen=True)
class Given:
    """A labelled dataset as a run takes it: its rows, the stage list around them, and the digest that
    makes a changed file a changed input (`run_pipeline(..., stages=, inputs=)`)."""

    rows: list[Post]
    stages: tuple[Stage, ...]
    inputs: dict[str, str]


def read_given(
    path: str | Path,
    config: RunConfig,
    fmt: str = "auto",
    text_column: str | None = None,
    label_column: str | None = None,
) -> Given:
    """The dataset at `path` (any layout `synsym train` reads) in the taxonomy of `config`; its style
    column (`style`, or the paper's `type`) is kept, so rewrites and transformations keep the style."""
    path = Path(path)
    data = load_dataset(path, fmt, text_column, label_column)
    raw = read_rows(path) if path.suffix in _TABULAR else []
    styles = aligned_column(raw, len(data), STYLE_COLUMNS) or [None] * len(data)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    taxonomy = load_taxonomy(config.taxonomy)
    rows = rows_from_labels(data.texts, data.positive_names(), styles, taxonomy, path, digest)
    inputs = {"input": f"{digest}:{fmt}:{text_column}:{label_column}"}
    return Given(rows, given_stages(rows), inputs)


def check_adds(config: RunConfig) -> None:
    """Refuse a config that would add nothing to a given dataset, saying what to set."""
    long_posts = config.realism.long_posts.n
    if not (config.negatives.n or config.negatives.negated or long_posts or config.contrast.n
            or config.contrast.share):  # fmt: skip
        raise UserError(
            "nothing to add: set one of negatives.n, negatives.negated, realism.long_posts.n, contrast.n "
            "(or contrast.share), e.g. --set negatives.n=500"
        )


def given_config(
    config: str | Path | None = None, overrides: Sequence[str] | None = None, backend: str | None = None
) -> RunConfig:
    """`load_run_config` for a given dataset: with no config, sub-concepts are the taxonomy's seeds (they
    serve only the negatives' topics and the embedding judge's prototypes here), unless `overrides` say
    otherwise."""
    seeds = [] if config else ["expand.method=seeds"]
    return load_run_config(config, [*seeds, *(overrides or [])], backend)


def _config(config: ConfigLike, overrides: Sequence[str] | None, backend: str | None) -> RunConfig:
    if not isinstance(config, RunConfig):
        return given_config(config, overrides, backend)
    if overrides or backend:
        raise UserError(
            "overrides and backend go with a config file or name, not a RunConfig; apply them there"
        )
    return config


def contrast_config(
    config: ConfigLike = None,
    *,
    n: int | None = None,
    share: float | None = None,
    kinds: str | Sequence[str] | None = None,
    overrides: Sequence[str] | None = None,
    backend: str | None = None,
) -> RunConfig:
    """The config of a run that only rewrites: `config` (a RunConfig, or a file or built-in name read by
    `given_config` with `overrides` and `backend`) with `n` rewrites (or this `share` of the posts) of
    the named `kinds` (a list, or names separated by commas; default: the config's)."""
    if n is not None and share is not None:
        raise UserError("--n and --share name the same thing; give one")
    if isinstance(config, RunConfig):
        config = _with_counts(_config(config, overrides, backend), n, share)
    else:
        extra = [f"contrast.n={n}"] if n is not None else []
        extra += [f"contrast.share={share}", "contrast.n=0"] if share is not None else []
        config = given_config(config, [*(overrides or []), *extra], backend)
    if kinds is not None:
        config = _with_kinds(config, kinds)
    if not (config.contrast.n or config.contrast.share):
        raise UserError("nothing to rewrite: pass --n or --share (or set contrast.n in the config)")
    return config


def _with_counts(config: RunConfig, n: int | None, share: float | None) -> RunConfig:
    """`config` with contrast.n (or contrast.share, and n 0) set, validated as a config file's are."""
    counts: dict[str, float] = {"n": n} if n is not None else {}
    counts |= {"share": share, "n": 0} if share is not None else {}
    if not counts:
        return config
    section = config.contrast
    fields = {**section.model_dump(), **counts}
    return config.model_copy(update={"contrast": validate(type(section), fields, prefix="contrast.")})


def _with_kinds(config: RunConfig, kinds: str | Sequence[str]) -> RunConfig:
    names = kinds.split(",") if isinstance(kinds, str) else kinds
    wanted = [k.strip() for k in names if k.strip()]
    known = {k.name: k for k in config.contrast.kinds}
    missing = [k for k in wanted if k not in known]
    if missing:
        raise UserError(f"--kinds {missing[0]} -> not a declared kind; declared: {', '.join(known)}")
    chosen = config.contrast.model_copy(update={"kinds": [known[k] for k in wanted]})
    return config.model_copy(update={"contrast": chosen})


@dataclass(frozen=True)
class GivenRun(PreparedRun):
    """A run over a given dataset, read and checked: `plan()` says what it will ask, `run()` runs it
    (rerun it to resume)."""

    given: Given = field(kw_only=True)

    @classmethod
    def around(cls, config: RunConfig, out: str | Path, given: Given) -> GivenRun:
        return cls(config, Path(out), stages=given.stages, inputs=given.inputs, given=given)


def prepare_augment(
    path: str | Path,
    out: str | Path,
    config: ConfigLike = None,
    *,
    overrides: Sequence[str] | None = None,
    backend: str | None = None,
    fmt: str = "auto",
    text_column: str | None = None,
    label_column: str | None = None,
) -> GivenRun:
    """The run that adds what `config` asks for (a RunConfig, or a file or built-in name read by
    `given_config`) to the dataset at `path`, read and checked but not yet run."""
    run_config = _config(config, overrides, backend)
    check_adds(run_config)
    return GivenRun.around(run_config, out, read_given(path, run_config, fmt, text_column, label_column))


def prepare_contrast(
    path: str | Path,
    out: str | Path,
    config: ConfigLike = None,
    *,
    n: int | None = None,
    share: float | None = None,
    kinds: str | Sequence[str] | None = None,
    overrides: Sequence[str] | None = None,
    backend: str | None = None,
    fmt: str = "auto",
    text_column: str | None = None,
    label_column: str | None = None,
) -> GivenRun:
    """The run that rewrites the dataset at `path` (`contrast_config` says which config), read and
    checked but not yet run."""
    run_config = contrast_config(config, n=n, share=share, kinds=kinds, overrides=overrides, backend=backend)
    return prepare_augment(path, out, run_config, fmt=fmt, text_column=text_column, label_column=label_column)


def augment(
    path: str | Path,
    out: str | Path,
    config: ConfigLike = None,
    *,
    overrides: Sequence[str] | None = None,
    backend: str | None = None,
    fmt: str = "auto",
    text_column: str | None = None,
    label_column: str | None = None,
    restart: bool = False,
    progress: bool | None = None,
) -> RunResult:
    """Run `config`'s adding stages on the dataset at `path`; the export holds its rows and what was
    added (`stage` says which is which; added rows were judged, given ones are kept as they are)."""
    job = prepare_augment(
        path, out, config, overrides=overrides, backend=backend, fmt=fmt, text_column=text_column,
        label_column=label_column,
    )  # fmt: skip
    return job.run(restart=restart, progress=progress)


def contrast(
    path: str | Path,
    out: str | Path,
    config: ConfigLike = None,
    *,
    n: int | None = None,
    share: float | None = None,
    kinds: str | Sequence[str] | None = None,
    overrides: Sequence[str] | None = None,
    backend: str | None = None,
    fmt: str = "auto",
    text_column: str | None = None,
    label_column: str | None = None,
    restart: bool = False,
    progress: bool | None = None,
) -> RunResult:
    """Rewrite the dataset's posts so each changes one dimension of what a label means (`n` rewrites,
    or this `share` of the posts, of the named `kinds`; see `contrast_config`); the export holds them
    beside the originals (each rewrite's `contrast_of` names its source)."""
    job = prepare_contrast(
        path, out, config, n=n, share=share, kinds=kinds, overrides=overrides, backend=backend, fmt=fmt,
        text_column=text_column, label_column=label_column,
    )  # fmt: skip
    return job.run(restart=restart, progress=progress)
