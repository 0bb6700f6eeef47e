"""The one shape every quality check reads: texts, multi-hot labels and whatever provenance the file has.

A run directory carries styles, sub-concepts, judge scores and a manifest; the paper's CSV carries style
(`type`) and sub-concept (`description`); a generic labelled file carries only texts and labels. Checks
look at what is there and skip what is not, so `inspect` works on all three. Labels of other files come
from `synsym.classify.data.load_dataset`, so inspect reads exactly what the classifiers read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synsym.core.errors import InputError

STYLE_COLUMNS = ("style", "type")
SUBCONCEPT_COLUMNS = ("subconcept", "description")


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


def _from_posts(path: Path, rows: list[dict[str, Any]], names: list[str]) -> QualityData:
    index = {n: j for j, n in enumerate(names)}
    labels = np.zeros((len(rows), len(names)), dtype=np.float32)
    for i, r in enumerate(rows):
        for s in r.get("symptoms") or ():
            if s not in index:
                index[s] = len(names)
                names.append(s)
                labels = np.pad(labels, ((0, 0), (0, 1)))
            labels[i, index[s]] = 1.0
    return QualityData(
        texts=[str(r.get("text") or "") for r in rows],
        labels=labels,
        label_names=names,
        styles=[r.get("style") for r in rows],
        subconcepts=[r.get("subconcept") for r in rows],
        judge_scores=[dict(r.get("judge_scores") or []) for r in rows],
        ids=[str(r.get("id") or i) for i, r in enumerate(rows)],
        source=str(path),
    )


def read_export(path: Path) -> QualityData:
    """A synsym `dataset.parquet` (or `dropped.parquet`): labels from the `symptoms` column, in the
    taxonomy order stored in the file's schema metadata (not one of the derived `labels_<space>`)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(b"synsym", b"{}"))
    if "symptoms" not in table.column_names or "text" not in table.column_names:
        raise InputError(f"{path} is not a synsym export: it needs `text` and `symptoms` columns")
    return _from_posts(path, table.to_pylist(), list(meta.get("symptoms") or []))


def load_run(run_dir: Path) -> QualityData:
    """A run directory made by `synsym generate`: its `dataset.parquet` and `manifest.json`."""
    data_file = run_dir / "dataset.parquet"
    if not data_file.is_file():
        raise InputError(f"{run_dir} -> no dataset.parquet; pass a finished run directory or a dataset file")
    data = read_export(data_file)
    data.run_dir = run_dir
    manifest = run_dir / "manifest.json"
    if manifest.is_file():
        data.manifest = json.loads(manifest.read_text(encoding="utf-8"))
    return data


def _symptom_order(rows: list[dict[str, Any]]) -> list[str]:
    """The default taxonomy's order when it knows every symptom in the file, else first-seen order."""
    seen = list(dict.fromkeys(s for r in rows for s in r.get("symptoms") or ()))
    from synsym.core.taxonomy import load_taxonomy

    names = list(load_taxonomy().names)
    return names if set(seen) <= set(names) else seen


def _column(rows: list[dict[str, Any]], candidates: tuple[str, ...]) -> str | None:
    cols = rows[0].keys() if rows else ()
    return next((c for c in candidates if c in cols), None)


def load_quality_data(
    path: str | Path,
    fmt: str = "auto",
    text_column: str | None = None,
    label_column: str | None = None,
) -> QualityData:
    """A run directory, a synsym export, or any file `synsym.classify.data.load_dataset` reads.

    For tables (the paper's CSV included) style and sub-concept are taken from `style`/`type` and
    `subconcept`/`description` columns when the row count matches the loaded set (a long-format file
    merges rows, so its columns cannot be aligned and are left out).
    """
    from synsym.classify.data import _read_rows, load_dataset

    path = Path(path)
    if path.is_dir():
        return load_run(path)
    if not path.exists():
        raise InputError(f"{path} -> file not found; pass a run directory or a dataset file")
    if path.suffix == ".parquet" and fmt == "auto" and not (text_column or label_column):
        import pyarrow.parquet as pq

        if {"text", "symptoms"} <= set(pq.read_schema(path).names):
            data = read_export(path)
            if (path.parent / "manifest.json").is_file() and path.name == "dataset.parquet":
                return load_run(path.parent)
            return data
    rows = _read_rows(path)
    if fmt == "auto" and not (text_column or label_column) and rows and {"text", "symptoms"} <= set(rows[0]):
        first = rows[0]["symptoms"]
        if isinstance(first, list) and all(isinstance(x, str) for x in first):
            # synsym's JSONL export: the `symptoms` names, not one of the derived labels_<space> columns
            return _from_posts(path, rows, _symptom_order(rows))
    ds = load_dataset(path, fmt, text_column, label_column)
    data = QualityData(texts=ds.texts, labels=ds.labels * ds.mask, label_names=ds.label_names)
    data.source = str(path)
    if len(rows) == len(ds):
        style_col, sub_col = _column(rows, STYLE_COLUMNS), _column(rows, SUBCONCEPT_COLUMNS)
        if style_col:
            data.styles = [str(r[style_col]) if r[style_col] not in (None, "") else None for r in rows]
        if sub_col:
            data.subconcepts = [str(r[sub_col]) if r[sub_col] not in (None, "") else None for r in rows]
    return data
