"""The classifiers, found by name, and how to load a saved one.

Classifiers plug in as backends do (synsym.core.plugins): the `synsym.classifiers` entry point group
names each class, synsym's own `tfidf`, `embed` and `finetune` included (pyproject.toml), and
`register_classifier` adds one in-process. A classifier declares its options as `Params` (a
`BaseParams` subclass), so `create_model` refuses an unknown or malformed option by name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ConfigDict

from synsym.classify.models.base import MODEL_FILE, BaseParams, Classifier
from synsym.classify.texts import LabelledTexts
from synsym.core.errors import InputError, suggest
from synsym.core.plugins import plugins, register, unregister


def register_classifier(cls: type[Classifier]) -> type[Classifier]:
    """Register a classifier class under `cls.kind` in this process (usable as a decorator, e.g. in a
    notebook or a test); a package registers through the `synsym.classifiers` entry point group."""
    return register("classifiers", cls.kind, cls)


def available_classifiers() -> dict[str, type[Classifier]]:
    """Registered classifiers by name: built-ins and plugins through the `synsym.classifiers` entry point
    group, then those registered in-process; one whose package is missing says so when it is used."""
    return plugins("classifiers", _missing)


def classifier_class(kind: str) -> type[Classifier]:
    """The classifier registered as `kind`; an unknown one is an InputError listing those there are."""
    found = available_classifiers()
    if kind not in found:
        close = suggest(kind, found)
        hint = close if close.startswith("; did you mean") else ""
        names = ", ".join(found) or "none (is synsym installed?)"
        raise InputError(f"unknown model {kind!r}{hint}; use one of: {names}")
    return found[kind]


def create_model(kind: str, params: dict[str, Any] | None = None) -> Classifier:
    """An untrained classifier of `kind`; `params` are validated by its `Params` (a ConfigError naming
    the option that is wrong, and the ones it takes)."""
    return classifier_class(kind)(params)


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


class _Registered(MutableMapping[str, type[Classifier]]):
    """`MODELS`, once a dict of the built-in kinds: now a live view of the registered classifiers, kept
    for one release (use `available_classifiers`, `classifier_class` and `register_classifier`).
    Setting a name registers a class in-process; deleting one unregisters it."""

    def __getitem__(self, kind: str) -> type[Classifier]:
        return available_classifiers()[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(available_classifiers())

    def __len__(self) -> int:
        return len(available_classifiers())

    def __setitem__(self, kind: str, cls: type[Classifier]) -> None:
        register("classifiers", kind, cls)

    def __delitem__(self, kind: str) -> None:
        unregister("classifiers", kind)

    def __repr__(self) -> str:
        return f"MODELS({', '.join(self)})"


MODELS: MutableMapping[str, type[Classifier]] = _Registered()


def _missing(name: str, exc: ImportError) -> type[Classifier]:
    """A stand-in for a classifier plugin whose module needs a package that is not installed: listed like
    the others, and saying what is missing when it is created."""

    class Missing(Classifier):
        kind = name
        Params = _AnyParams

        def __init__(self, params: dict[str, Any] | BaseParams | None = None) -> None:
            raise InputError(f"classifier {name!r} needs a package that is not installed ({exc})")

        def _fit(  # pragma: no cover - never created
            self, train: LabelledTexts, val: LabelledTexts, seed: int, warm: bool, dev: LabelledTexts | None
        ) -> None:
            raise NotImplementedError

        def predict_proba(self, texts: list[str]) -> np.ndarray:  # pragma: no cover
            raise NotImplementedError

        def _save(self, out: Path) -> None:  # pragma: no cover
            raise NotImplementedError

        def _load(self, src: Path) -> None:  # pragma: no cover
            raise NotImplementedError

    return Missing


class _AnyParams(BaseParams):
    """Options of a classifier whose package is missing: not checked until it is installed."""

    model_config = ConfigDict(extra="allow", validate_default=True)


__all__ = [
    "MODELS",
    "BaseParams",
    "Classifier",
    "available_classifiers",
    "classifier_class",
    "create_model",
    "load_model",
    "register_classifier",
]
