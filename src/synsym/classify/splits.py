"""Splits that keep rare symptoms in every part: seeded multilabel-stratified holdout and k-fold
(iterative stratification, Sechidis et al. 2011), or a fixed split file the user wrote."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from synsym.classify.texts import LabelledTexts
from synsym.core.dataset import read_rows
from synsym.core.errors import InputError

SPLIT_NAMES = ("train", "val", "test")


def _strat_labels(ds: LabelledTexts) -> np.ndarray:
    # Unannotated cells count as negative for stratification only; one label gets its complement beside
    # it because iterative stratification needs at least two columns.
    y = (ds.labels * ds.mask).astype(int)
    return np.hstack([y, 1 - y]) if y.shape[1] == 1 else y


def holdout(ds: LabelledTexts, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held_out) row indices with `fraction` held out, stratified over all labels."""
    if not 0 < fraction < 1:
        raise InputError(f"split fraction must be between 0 and 1, got {fraction}")
    if len(ds) < 4:
        raise InputError(f"{ds.source or 'data'} has {len(ds)} rows; a split needs at least 4")
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    keep, held = next(splitter.split(np.zeros(len(ds)), _strat_labels(ds)))
    return np.sort(keep), np.sort(held)


def kfold(ds: LabelledTexts, k: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """k (train, test) index pairs from multilabel-stratified k-fold cross-validation."""
    if k < 2 or k > len(ds):
        raise InputError(f"k-fold needs 2 <= k <= rows ({len(ds)}), got k={k}")
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

    splitter = MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(ds)), _strat_labels(ds)):
        yield np.sort(train), np.sort(test)


def read_split_file(path: str | Path, n_rows: int) -> dict[str, np.ndarray]:
    """A fixed split: JSON {"train": [row indices], "val": [...], "test": [...]} or a CSV/JSONL with a
    `split` column (one row per data row, in order) holding train/val/test."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        if not path.exists():
            raise InputError(f"{path} -> split file not found")
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or not set(raw) <= set(SPLIT_NAMES):
            raise InputError(f"{path} -> expected a JSON object with keys among {SPLIT_NAMES}")
        parts = {k: np.asarray(v, dtype=int) for k, v in raw.items()}
    else:
        rows = read_rows(path)
        if not rows or "split" not in rows[0]:
            raise InputError(
                f"{path} -> expected a `split` column; found {list(rows[0]) if rows else 'no rows'}"
            )
        if len(rows) != n_rows:
            raise InputError(
                f"{path} -> has {len(rows)} rows but the data has {n_rows}; one split per data row"
            )
        names = np.array([str(r["split"]).strip().lower() for r in rows])
        bad = sorted(set(names) - set(SPLIT_NAMES))
        if bad:
            raise InputError(f"{path} -> unknown split name(s) {bad}; use train, val or test")
        parts = {k: np.flatnonzero(names == k) for k in SPLIT_NAMES if (names == k).any()}
    for name, idx in parts.items():
        if idx.size and (idx.min() < 0 or idx.max() >= n_rows):
            raise InputError(f"{path} -> {name} indices fall outside 0..{n_rows - 1}")
    if "train" in parts and "test" in parts and np.intersect1d(parts["train"], parts["test"]).size:
        raise InputError(f"{path} -> train and test share rows; test data must never be trained on")
    return parts
