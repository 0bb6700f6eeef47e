"""The one shape every classifier trains and tests on: texts, a multi-hot matrix, label names, and a mask
saying which (row, label) cells are annotated, so a real set that labels one symptom can still train or
test a 14-symptom model on that symptom alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from synsym.classify.labels import map_gold, mapping_matrix


@dataclass
class LabelledTexts:
    """Texts with multi-hot labels; `mask[i, j]` is False where row i says nothing about label j."""

    texts: list[str]
    labels: np.ndarray
    label_names: list[str]
    mask: np.ndarray = field(default=None)  # type: ignore[arg-type]
    source: str = ""

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.float32).reshape(
            len(self.texts), len(self.label_names)
        )
        if self.mask is None:
            self.mask = np.ones_like(self.labels, dtype=bool)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int] | np.ndarray) -> LabelledTexts:
        idx = np.asarray(index, dtype=int)
        return LabelledTexts(
            [self.texts[i] for i in idx],
            self.labels[idx],
            list(self.label_names),
            self.mask[idx],
            self.source,
        )

    def align(self, names: Sequence[str]) -> LabelledTexts:
        """Reorder to `names`; labels this set lacks become unannotated (mask False)."""
        pos = {n: j for j, n in enumerate(self.label_names)}
        labels = np.zeros((len(self), len(names)), dtype=np.float32)
        mask = np.zeros((len(self), len(names)), dtype=bool)
        for j, name in enumerate(names):
            if name in pos:
                labels[:, j] = self.labels[:, pos[name]]
                mask[:, j] = self.mask[:, pos[name]]
        return LabelledTexts(self.texts, labels, list(names), mask, self.source)

    def mapped(self, mapping: dict[str, list[str]], target: Sequence[str]) -> LabelledTexts:
        """Gold labels in another label space (see labels.map_gold). A target label is annotated only where
        every source label that maps to it is annotated, and unannotated where none does."""
        if list(self.label_names) == list(target):
            return self
        if set(self.label_names) <= set(target):
            return self.align(target)
        matrix = mapping_matrix(self.label_names, mapping, target)
        labels = map_gold(self.labels * self.mask, self.label_names, mapping, target)
        missing = (~self.mask).astype(np.float32) @ matrix > 0
        mask = (matrix.sum(0) > 0)[None, :] & ~missing
        return LabelledTexts(self.texts, labels, list(target), mask, self.source)

    def head(self, n: int | None) -> LabelledTexts:
        return self if n is None or n >= len(self) else self.subset(range(n))
