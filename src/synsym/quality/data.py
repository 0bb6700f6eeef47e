"""The one shape every quality check reads: texts, multi-hot labels and whatever provenance the file has.

A run directory carries styles, sub-concepts, judge scores and a manifest; the paper's CSV carries style
(`type`) and sub-concept (`description`); a generic labelled file carries only texts and labels. Checks
look at what is there and skip what is not, so `inspect` works on all three. synsym exports are read by
`synsym.core.dataset.read_export` and other files by `synsym.classify.sources.load_dataset`, so inspect
reads exactly what the classifiers read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synsym.core.columns import Post
from synsym.core.dataset import is_export, read_export, read_rows
from synsym.core.errors import InputError


@dataclass
class QualityData:
    """Texts with labels and optional per-row provenance; `run_dir` is set for a synsym run directory."""

    texts: list[str]
    labels: np.ndarray
    label_names: list[str]
    styles: list[str | None] = field(default_factory=list)
    subconcepts: list[str | None] = field(default_factory=list)
    judge_scores: list[dict[str, float]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    source: str = ""
    run_dir: Path | None = None
    manifest: dict[str, Any] | None = None
    rows: list[Post] = field(default_factory=list)  # a synsym export's rows, with all their provenance

    def __post_init__(self) -> None:
        n = len(self.texts)
        self.labels = np.asarray(self.labels, dtype=np.float32).reshape(n, len(self.label_names))
        self.styles = self.styles or [None] * n
        self.subconcepts = self.subconcepts or [None] * n
        self.judge_scores = self.judge_scores or [{} for _ in range(n)]
        self.ids = self.ids or [str(i) for i in range(n)]

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def has_styles(self) -> bool:
        return any(s for s in self.styles)

    def symptoms_of(self, i: int) -> list[str]:
        return [self.label_names[j] for j in np.flatnonzero(self.labels[i])]


def _from_posts(source: str, rows: list[Post], names: list[str]) -> QualityData:
    index = {n: j for j, n in enumerate(names)}
    labels = np.zeros((len(rows), len(names)), dtype=np.float32)
    for i, r in enumerate(rows):
        for s in r["symptoms"]:
            if s not in index:
                index[s] = len(names)
                names.append(s)
                labels = np.pad(labels, ((0, 0), (0, 1)))
            labels[i, index[s]] = 1.0
    return QualityData(
        texts=[r["text"] or "" for r in rows],
        labels=labels,
        label_names=names,
        styles=[r["style"] for r in rows],
        subconcepts=[r["subconcept"] for r in rows],
        judge_scores=[dict(r["judge_scores"]) for r in rows],
        ids=[r["id"] or str(i) for i, r in enumerate(rows)],
        source=source,
        rows=list(rows),
    )


def from_export(path: Path) -> QualityData:
    """A synsym export (`dataset.parquet`, `dropped.parquet`, `dataset.jsonl`), read by
    `synsym.core.dataset.read_export`: labels from the `symptoms` column, in the taxonomy's order; a
    `dataset.parquet` beside its `manifest.json` is its run directory."""
    export = read_export(path)
    data = _from_posts(str(path), export.rows, list(export.symptoms))
    if export.manifest is not None and export.path.name == "dataset.parquet":
        data.run_dir, data.manifest = export.path.parent, export.manifest
    return data


def load_run(run_dir: Path) -> QualityData:
    """A run directory made by `synsym generate`: its `dataset.parquet` and `manifest.json`."""
    if not (run_dir / "dataset.parquet").is_file():
        raise InputError(f"{run_dir} -> no dataset.parquet; pass a finished run directory or a dataset file")
    return from_export(run_dir / "dataset.parquet")


def load_quality_data(
    path: str | Path,
    fmt: str = "auto",
    text_column: str | None = None,
    label_column: str | None = None,
) -> QualityData:
    """A run directory, a synsym export, or any file `synsym.classify.sources.load_dataset` reads.

    For tables (the paper's CSV included) style and sub-concept are taken from `style`/`type` and
    `subconcept`/`description` columns when the row count matches the loaded set (a long-format file
    merges rows, so its columns cannot be aligned and are left out).
    """
    from synsym.classify.sources import STYLE_COLUMNS, SUBCONCEPT_COLUMNS, aligned_column, load_dataset

    path = Path(path)
    if path.is_dir():
        return load_run(path)
    if not path.exists():
        raise InputError(f"{path} -> file not found; pass a run directory or a dataset file")
    if fmt == "auto" and not (text_column or label_column) and is_export(path):
        return from_export(path)
    rows = read_rows(path)
    ds = load_dataset(path, fmt, text_column, label_column)
    data = QualityData(texts=ds.texts, labels=ds.labels * ds.mask, label_names=ds.label_names)
    data.source = str(path)
    data.styles = aligned_column(rows, len(ds), STYLE_COLUMNS) or data.styles
    data.subconcepts = aligned_column(rows, len(ds), SUBCONCEPT_COLUMNS) or data.subconcepts
    return data
