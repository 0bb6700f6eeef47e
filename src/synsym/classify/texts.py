"""The one shape every classifier trains and tests on: texts, a multi-hot matrix, label names, and a mask
saying which (row, label) cells are annotated, so a real set that labels one symptom can still train or
test a 14-symptom model on that symptom alone.

Contrastive rewrites add three optional columns. `groups` names each row's root source (a rewrite and the
post it was made from share one), so splits keep them on one side: a test post whose rewrite was trained
on has leaked. `pairs` holds (source row, rewrite row, label) triples, one per symptom a rewrite removed,
for a ranking term that asks the source to score above its rewrite. `styles` is the style a row was
written in, so model selection can validate on a style it did not train on (a transfer proxy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from synsym.classify.labels import map_gold, mapping_matrix


def _no_pairs() -> np.ndarray:
    return np.zeros((0, 3), dtype=np.int64)


@dataclass
class LabelledTexts:
    """Texts with multi-hot labels; `mask[i, j]` is False where row i says nothing about label j."""

    texts: list[str]
    labels: np.ndarray
    label_names: list[str]
    mask: np.ndarray = field(default=None)  # type: ignore[arg-type]
    source: str = ""
    groups: np.ndarray | None = None  # one group id (str) per row; None: every row is its own group
    pairs: np.ndarray = field(default_factory=_no_pairs)  # (k, 3) ints: source row, rewrite row, label
    styles: np.ndarray | None = None  # one style (str) per row, or None when the data does not say

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.float32).reshape(
            len(self.texts), len(self.label_names)
        )
        if self.mask is None:
            self.mask = np.ones_like(self.labels, dtype=bool)
        for name in ("groups", "styles"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=object)
                if len(value) != len(self.texts):
                    raise ValueError(f"{name} has {len(value)} entries for {len(self.texts)} rows")
                setattr(self, name, value)
        self.pairs = _valid_pairs(np.asarray(self.pairs, dtype=np.int64).reshape(-1, 3), self)

    def __len__(self) -> int:
        return len(self.texts)

    def group_ids(self) -> np.ndarray:
        """One integer per row, equal for rows of one group (each row alone when there are no groups)."""
        if self.groups is None:
            return np.arange(len(self))
        return np.unique(self.groups.astype(str), return_inverse=True)[1]

    def _with(
        self, labels: np.ndarray, names: list[str], mask: np.ndarray, pairs: np.ndarray
    ) -> LabelledTexts:
        return LabelledTexts(self.texts, labels, names, mask, self.source, self.groups, pairs, self.styles)

    def subset(self, index: Sequence[int] | np.ndarray) -> LabelledTexts:
        """These rows, in this order; a pair survives when both its rows do."""
        idx = np.asarray(index, dtype=int)
        where = np.full(len(self), -1, dtype=np.int64)
        where[idx] = np.arange(len(idx))
        pairs = self.pairs.copy()
        pairs[:, :2] = where[pairs[:, :2]] if len(pairs) else pairs[:, :2]
        return LabelledTexts(
            [self.texts[i] for i in idx],
            self.labels[idx],
            list(self.label_names),
            self.mask[idx],
            self.source,
            None if self.groups is None else self.groups[idx],
            pairs[(pairs[:, :2] >= 0).all(axis=1)],
            None if self.styles is None else self.styles[idx],
        )

    def align(self, names: Sequence[str]) -> LabelledTexts:
        """Reorder to `names`; labels this set lacks become unannotated (mask False)."""
        pos = {n: j for j, n in enumerate(self.label_names)}
        labels = np.zeros((len(self), len(names)), dtype=np.float32)
        mask = np.zeros((len(self), len(names)), dtype=bool)
        new = np.full(len(self.label_names), -1, dtype=np.int64)
        for j, name in enumerate(names):
            if name in pos:
                labels[:, j] = self.labels[:, pos[name]]
                mask[:, j] = self.mask[:, pos[name]]
                new[pos[name]] = j
        pairs = self.pairs.copy()
        pairs[:, 2] = new[pairs[:, 2]] if len(pairs) else pairs[:, 2]
        return self._with(labels, list(names), mask, pairs[pairs[:, 2] >= 0])

    def mapped(self, mapping: dict[str, list[str]], target: Sequence[str]) -> LabelledTexts:
        """Gold labels in another label space (see labels.map_gold). A target label is annotated only where
        every source label that maps to it is annotated, and unannotated where none does. A pair moves to
        each target label its label maps to, and survives where the rewrite is still negative there."""
        if list(self.label_names) == list(target):
            return self
        if set(self.label_names) <= set(target):
            return self.align(target)
        matrix = mapping_matrix(self.label_names, mapping, target)
        labels = map_gold(self.labels * self.mask, self.label_names, mapping, target)
        missing = (~self.mask).astype(np.float32) @ matrix > 0
        mask = (matrix.sum(0) > 0)[None, :] & ~missing
        moved = [(s, r, int(t)) for s, r, j in self.pairs for t in np.flatnonzero(matrix[j])]
        pairs = np.unique(np.array(moved, dtype=np.int64).reshape(-1, 3), axis=0)
        return self._with(labels, list(target), mask, pairs)

    def head(self, n: int | None) -> LabelledTexts:
        return self if n is None or n >= len(self) else self.subset(range(n))

    def positive_names(self) -> list[list[str]]:
        """Each row's labels that are annotated and positive, by name, in `label_names` order."""
        known = self.labels * self.mask
        return [[self.label_names[j] for j in np.flatnonzero(row > 0)] for row in known]


def _valid_pairs(pairs: np.ndarray, ds: LabelledTexts) -> np.ndarray:
    """Pairs whose rows and label exist and that still say something: the source annotated positive and
    the rewrite annotated negative on the label (mapping can merge a removed symptom into one kept)."""
    if not len(pairs):
        return _no_pairs()
    n, k = ds.labels.shape
    ok = (pairs[:, :2] >= 0).all(1) & (pairs[:, :2] < n).all(1) & (pairs[:, 2] >= 0) & (pairs[:, 2] < k)
    pairs = pairs[ok]
    s, r, j = pairs[:, 0], pairs[:, 1], pairs[:, 2]
    keep = (ds.labels[s, j] > 0) & (ds.labels[r, j] == 0) & ds.mask[s, j] & ds.mask[r, j]
    return pairs[keep]
