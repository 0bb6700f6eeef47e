"""Add synsym's data to a labelled dataset you already have (the paper's release, your own annotated
posts): hard negatives, negated statements, long posts and contrastive rewrites, made by the same stages,
checks and cache as in a generated run, with the dataset's own rows in place of generate and compose
(synsym.pipeline.given). `synsym augment` and `synsym contrast` are this module at the command line.

    from synsym.augment import augment
    result = augment("synth_all_dsm5.csv", "runs/aug", load_run_config("configs/realistic.yaml",
                     ["contrast.n=600", "negatives.n=400"]))
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from synsym.classify.sources import load_dataset
from synsym.core.columns import Post
from synsym.core.dataset import read_rows
from synsym.core.errors import UserError
from synsym.core.taxonomy import load_taxonomy
from synsym.pipeline.config import RunConfig
from synsym.pipeline.given import given_stages, rows_from_labels
from synsym.pipeline.runner import RunResult, run_pipeline
from synsym.pipeline.stage import Stage

__all__ = ["Given", "augment", "check_adds", "read_given"]

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
    style_col = next((c for c in ("style", "type") if raw and c in raw[0]), None)
    styles = [r.get(style_col) for r in raw] if style_col and len(raw) == len(data) else [None] * len(data)
    symptoms = [
        [data.label_names[j] for j in range(len(data.label_names)) if row[j] > 0]
        for row in data.labels * data.mask
    ]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    taxonomy = load_taxonomy(config.taxonomy)
    rows = rows_from_labels(data.texts, symptoms, styles, taxonomy, path, digest)
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


def augment(
    path: str | Path,
    out: str | Path,
    config: RunConfig,
    *,
    fmt: str = "auto",
    text_column: str | None = None,
    label_column: str | None = None,
    restart: bool = False,
    progress: bool | None = None,
) -> RunResult:
    """Run `config`'s adding stages on the dataset at `path`; the export holds its rows and what was
    added (`stage` says which is which; added rows were judged, given ones are kept as they are)."""
    check_adds(config)
    given = read_given(path, config, fmt, text_column, label_column)
    return run_pipeline(
        config, out, restart=restart, stages=given.stages, inputs=given.inputs, progress=progress
    )
