"""Small helpers that turn CLI arguments into library inputs, kept out of the command module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from synsym.classify.labels import label_space as get_space
from synsym.classify.models import create_model
from synsym.classify.models.base import check_dev
from synsym.classify.sources import load_dataset
from synsym.classify.texts import LabelledTexts
from synsym.core.config import apply_overrides


def load_for_training(
    train_file: Path,
    val_file: Path | None,
    fmt: str,
    text_column: str | None,
    label_column: str | None,
    space: str | None,
    seed: int,
    limit: int | None,
    overrides: list[str],
    dev_file: Path | None = None,
    model: str | None = None,
) -> tuple[LabelledTexts, LabelledTexts | None, LabelledTexts | None, dict[str, Any]]:
    """Load train (and val, dev) data, optionally subsample and map into a label space; parse --set.

    The dev set is read in any layout `auto` recognises (it is usually a real set in another layout
    than the synthetic training data); its labels must be the training data's, or in `space`. A `model`
    kind is checked with its parameters (`overrides`) before any data is read."""
    params = apply_overrides({}, overrides)
    if model is not None:
        create_model(model, params)
    train = load_dataset(train_file, fmt, text_column, label_column)
    val = load_dataset(val_file, fmt, text_column, label_column) if val_file else None
    dev = load_dataset(dev_file) if dev_file else None
    if limit and limit < len(train):
        train = train.subset(np.sort(np.random.default_rng(seed).permutation(len(train))[:limit]))
    names = list(train.label_names)
    if space:
        known = [*names]
        names, mapping = get_space(space)
        train = train.mapped(mapping or {}, names)
        val = val.mapped(mapping or {}, names) if val is not None else None
        if dev is not None:
            check_dev(dev, [*known, *names])  # before mapping, which would drop a stray label unseen
            dev = dev.mapped(mapping or {}, names)
    return train, val, check_dev(dev, names), params


MIN_ROWS, MIN_POSITIVES = 50, 5


def small_data_warning(data: LabelledTexts) -> str | None:
    """What a user should know before training on very little: too few rows, or labels with almost no
    positive examples (those the model cannot learn)."""
    positives = (data.labels * data.mask).sum(axis=0)
    thin = [n for n, k in zip(data.label_names, positives, strict=True) if k < MIN_POSITIVES]
    if len(data) >= MIN_ROWS and not thin:
        return None
    parts = [f"only {len(data)} rows"] if len(data) < MIN_ROWS else []
    if thin:
        shown = ", ".join(thin[:5]) + (f" and {len(thin) - 5} more" if len(thin) > 5 else "")
        parts.append(f"fewer than {MIN_POSITIVES} positive examples of {shown}")
    return "; ".join(parts) + ": the model will learn little from this and its thresholds will be noise"
