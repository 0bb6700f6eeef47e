"""The model kinds and how to load a saved one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from synsym.classify.models.base import MODEL_FILE, Classifier
from synsym.classify.models.finetune import FinetuneClassifier
from synsym.classify.models.linear import EmbedClassifier, TfidfClassifier
from synsym.core.errors import InputError

MODELS: dict[str, type[Classifier]] = {
    "tfidf": TfidfClassifier,
    "embed": EmbedClassifier,
    "finetune": FinetuneClassifier,
}


def create_model(kind: str, params: dict[str, Any] | None = None) -> Classifier:
    if kind not in MODELS:
        raise InputError(f"unknown model {kind!r}; use one of: {', '.join(MODELS)}")
    return MODELS[kind](params)


def load_model(directory: str | Path) -> Classifier:
    """Reload a model saved by `Classifier.save`; needs no training data."""
    src = Path(directory)
    meta_path = src / MODEL_FILE
    if not meta_path.exists():
        raise InputError(
            f"{src} -> not a synsym model directory (no {MODEL_FILE}); pass the --out of `synsym train`"
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    model = create_model(meta.get("kind", "?"), meta.get("params"))
    model.label_names = list(meta["label_names"])
    model.thresholds = np.asarray(meta["thresholds"], dtype=np.float32)
    model.history = meta.get("history", {})
    model._load(src)
    return model


__all__ = ["MODELS", "Classifier", "create_model", "load_model"]
