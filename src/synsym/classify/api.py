"""The plain functions behind `synsym train`, `predict` and `evaluate`."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from synsym.classify.data import read_texts
from synsym.classify.labels import label_space, map_scores
from synsym.classify.metrics import evaluate_scores
from synsym.classify.models import Classifier, create_model, load_model
from synsym.classify.sources import load_dataset
from synsym.classify.texts import LabelledTexts
from synsym.core.errors import InputError


def train_model(
    train: LabelledTexts,
    kind: str,
    out: str | Path | None = None,
    val: LabelledTexts | None = None,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    init: str | Path | None = None,
    dev: LabelledTexts | None = None,
) -> Classifier:
    """Train (or, with `init`, continue training a saved model) and save it to `out`; `dev` (real text)
    selects the model and tunes thresholds, and is never trained on."""
    if init is not None:
        model = load_model(init)
        if params:  # --set overrides the saved parameters for the continuation (e.g. wise_alpha=1)
            model.params = create_model(model.kind, {**model.params.model_dump(), **params}).params
        model.continue_fit(train, val, seed, dev)
    else:
        model = create_model(kind, params).fit(train, val, seed, dev)
    if out is not None:
        model.save(out)
    return model


PREDICTED = "predicted_labels"


def predict_file(
    model: Classifier,
    input_path: str | Path,
    output_path: str | Path,
    text_column: str | None = None,
    threshold: float | None = None,
) -> int:
    """Write the input rows plus one probability column per label (named after the label) and
    `predicted_labels`: the labels at or over the model's tuned thresholds (or `threshold`), `;`-joined."""
    rows, texts = read_texts(input_path, text_column)
    clash = [n for n in [*model.label_names, PREDICTED] if n in rows[0]]
    if clash:
        raise InputError(
            f"{input_path} already has columns named like the output's ({', '.join(clash)}); rename them"
        )
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise InputError(f"--threshold {threshold} -> a probability from 0 to 1")
    probs = model.predict_proba(texts)
    cut = model.thresholds if threshold is None else np.full(len(model.label_names), threshold)
    out = Path(output_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fields = [*rows[0].keys(), *model.label_names, PREDICTED]
    tmp = out.with_suffix(out.suffix + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row, p in zip(rows, probs, strict=True):
            labels = ";".join(n for n, v, t in zip(model.label_names, p, cut, strict=True) if v >= t)
            scores = {n: f"{v:.6f}" for n, v in zip(model.label_names, p, strict=True)}
            writer.writerow({**row, **scores, PREDICTED: labels})
    tmp.replace(out)
    return len(rows)


def score_on(
    model: Classifier, test: LabelledTexts, space: str | None = None, probs: np.ndarray | None = None
) -> dict[str, Any]:
    """Evaluate on the labels the test set annotates, after mapping model and gold into `space` if given."""
    probs = model.predict_proba(test.texts) if probs is None else probs
    pred = (probs >= model.thresholds).astype(np.float32)
    names = list(model.label_names)
    if space is not None:
        target, mapping = label_space(space)
        if names != target:
            if mapping is None:
                raise InputError(f"no mapping into label space {space!r} from the model's labels")
            probs, pred = map_scores(probs, names, mapping, target), map_scores(pred, names, mapping, target)
            names = target
        test = test.mapped(mapping or {}, target)
    shared = [n for n in test.label_names if n in names and test.mask[:, test.label_names.index(n)].any()]
    if not shared:
        raise InputError(
            f"the test set's labels ({', '.join(test.label_names)}) share none with the model's "
            f"({', '.join(names)}); pass --label-space to map one onto the other"
        )
    cols = [names.index(n) for n in shared]
    gold = test.align(shared)
    metrics = evaluate_scores(gold.labels, probs[:, cols], pred[:, cols], shared, gold.mask)
    metrics["label_space"] = space
    return metrics


def evaluate_file(
    model_dir: str | Path,
    test_path: str | Path,
    out: str | Path,
    space: str | None = None,
    fmt: str = "auto",
    text_column: str | None = None,
    label_column: str | None = None,
) -> dict[str, Any]:
    """Score a saved model on a labelled file and write metrics.json."""
    model = load_model(model_dir)
    test = load_dataset(test_path, fmt, text_column, label_column)
    metrics = score_on(model, test, space)
    seen = model.seen_share(test.texts)
    metrics["seen_in_training"] = None if seen is None else round(seen, 3)  # ~share of test posts trained on
    metrics["model"] = str(model_dir)
    metrics["test"] = str(test_path)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return metrics
