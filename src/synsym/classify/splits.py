"""Splits that keep rare symptoms in every part: seeded multilabel-stratified holdout and k-fold
(iterative stratification, Sechidis et al. 2011), or a fixed split file the user wrote.

When the data has groups (a post and its contrastive rewrites), every split moves whole groups: a model
tested on a post whose rewrite it trained on has seen the answer, minus one phrase."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from synsym.classify.texts import LabelledTexts
from synsym.core.dataset import read_rows
from synsym.core.errors import InputError

SPLIT_NAMES = ("train", "val", "test")


def _two_columns(y: np.ndarray) -> np.ndarray:
    # One label gets its complement beside it because iterative stratification needs at least two columns.
    return np.hstack([y, 1 - y]) if y.shape[1] == 1 else y


def _units(ds: LabelledTexts) -> tuple[np.ndarray, np.ndarray]:
    """(unit of each row, one label row per unit): rows are the units, or whole groups with `ds.groups`.
    Unannotated cells count as negative for stratification only."""
    if ds.groups is None:
        return np.arange(len(ds)), _two_columns((ds.labels * ds.mask).astype(int))
    gid, y = _by_group(ds)
    return gid, _two_columns(y)


def _by_group(ds: LabelledTexts) -> tuple[np.ndarray, np.ndarray]:
    """(group of each row, one label row per group) for splitting whole groups.

    A group's labels are the union of its rows' (a rewrite's are a subset of its source's), plus a column
    saying whether the group holds a row with fewer labels than that (a rewrite that removed some), so
    groups with rewrites spread over the parts like every symptom does.
    """
    gid = ds.group_ids()
    y = (ds.labels * ds.mask).astype(int)
    union = np.zeros((gid.max() + 1 if len(gid) else 0, y.shape[1]), dtype=int)
    np.maximum.at(union, gid, y)
    fewer = np.zeros(len(union), dtype=int)
    np.maximum.at(fewer, gid, (y.sum(1) < union[gid].sum(1)).astype(int))
    return gid, np.hstack([union, fewer[:, None]]) if fewer.any() else union


def _rows(unit: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """The rows (sorted) of the chosen units."""
    return np.flatnonzero(np.isin(unit, chosen))


def holdout(ds: LabelledTexts, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held_out) row indices with `fraction` held out, stratified over all labels.

    With `ds.groups`, whole groups are held out (a source and its rewrites are never split), stratified
    over the groups' labels; the held-out share of rows is then close to `fraction`, not exact.
    """
    if not 0 < fraction < 1:
        raise InputError(f"split fraction must be between 0 and 1, got {fraction}")
    if len(ds) < 4:
        raise InputError(f"{ds.source or 'data'} has {len(ds)} rows; a split needs at least 4")
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    unit, y = _units(ds)
    if len(y) < 2:
        raise InputError(f"{ds.source or 'data'} has one group of rows; a split needs at least 2")
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    keep, held = next(splitter.split(np.zeros(len(y)), y))
    return _rows(unit, keep), _rows(unit, held)


def kfold(ds: LabelledTexts, k: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """k (train, test) index pairs from multilabel-stratified k-fold cross-validation (of whole groups
    when `ds.groups` is set)."""
    unit, y = _units(ds)
    if k < 2 or k > len(y):
        what = "groups" if ds.groups is not None else "rows"
        raise InputError(f"k-fold needs 2 <= k <= {what} ({len(y)}), got k={k}")
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

    splitter = MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(y)), y):
        yield _rows(unit, train), _rows(unit, test)


def by_style(ds: LabelledTexts, held_style: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows of other styles, rows of `held_style`): a style-shift split. Rewrites keep their source's
    style, so no group straddles it."""
    if ds.styles is None:
        raise InputError(f"{ds.source or 'data'} does not say which style each row is in")
    held = ds.styles.astype(str) == held_style
    return np.flatnonzero(~held), np.flatnonzero(held)


def shift_folds(ds: LabelledTexts) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """The transfer proxies the data allows, each a list of (rows to fit on, rows to score on):

    - style: for each style, fit on the others and score on it (rows must say their style; two or more);
    - composition: fit on posts with at most one symptom, score on posts with several (by whole groups),
      which are longer and mix topics, as real posts do.

    Both stand in for "text unlike the training text" without a real set: they move the best penalty
    the same way a real set does, if not as far (docs/classifiers.md has the figures)."""
    out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    styles = sorted(set(ds.styles.astype(str))) if ds.styles is not None else []
    if len(styles) >= 2:
        out["style"] = [by_style(ds, style) for style in styles]
    gid, y = _by_group(ds) if ds.groups is not None else (np.arange(len(ds)), (ds.labels * ds.mask))
    n = np.asarray(y)[:, : ds.labels.shape[1]].sum(1)[gid]
    if (n >= 2).any() and (n <= 1).any():
        out["composition"] = [(np.flatnonzero(n <= 1), np.flatnonzero(n >= 2))]
    if not out:
        raise InputError(
            f"select=shift needs rows in two styles or both one- and several-label rows; "
            f"{ds.source or 'the data'} has neither; use select=val or give a dev set"
        )
    return out


def straddling(groups: np.ndarray | None, a: np.ndarray, b: np.ndarray) -> list[str]:
    """The groups that have rows in both `a` and `b` (a leak when one is train and the other test)."""
    if groups is None:
        return []
    return sorted(set(groups[a].astype(str)) & set(groups[b].astype(str)))


def read_split_file(path: str | Path, n_rows: int, groups: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """A fixed split: JSON {"train": [row indices], "val": [...], "test": [...]} or a CSV/JSONL with a
    `split` column (one row per data row, in order) holding train/val/test. With `groups` (one per data
    row), a group with rows on both the training and the test side is refused."""
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
    if groups is not None and "test" in parts:
        fit = np.concatenate([parts.get("train", np.zeros(0, int)), parts.get("val", np.zeros(0, int))])
        leaks = straddling(groups, fit, parts["test"])
        if leaks:
            raise InputError(
                f"{path} -> {len(leaks)} group(s) of a post and its rewrites have rows on both the training "
                f"and the test side (e.g. {leaks[0]}); put each post and its rewrites on one side"
            )
    return parts
