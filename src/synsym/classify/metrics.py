"""The paper's headline (macro-F1) plus everything needed to see where it comes from."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from synsym.core.errors import InputError


def _num(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def evaluate_scores(
    gold: np.ndarray,
    probs: np.ndarray,
    pred: np.ndarray,
    label_names: Sequence[str],
    mask: np.ndarray | None = None,
) -> dict[str, Any]:
    """Macro-F1 (headline); micro, weighted and samples F1; per-label P/R/F1/support, ROC-AUC, AP and MCC.

    Rows whose labels are partly unannotated (mask False) are scored only on the labels they annotate;
    the aggregate F1s use rows annotated for every label. ROC-AUC/AP are None for a label with one class.
    """
    if gold.shape != probs.shape or gold.shape != pred.shape:
        raise InputError(
            f"gold {gold.shape}, scores {probs.shape} and predictions {pred.shape} differ in shape"
        )
    mask = np.ones_like(gold, dtype=bool) if mask is None else mask
    per_label = {
        name: _label_scores(gold[mask[:, j], j], probs[mask[:, j], j], pred[mask[:, j], j])
        for j, name in enumerate(label_names)
    }
    out: dict[str, Any] = {
        "macro_f1": float(np.mean([v["f1"] for v in per_label.values()])) if per_label else 0.0,
        "n": int(gold.shape[0]),
        "labels": list(label_names),
    }
    full = mask.all(axis=1)
    if full.any():
        out.update(_averaged_f1s(gold[full].astype(int), pred[full].astype(int)))
    ranked = [v for v in per_label.values() if v["roc_auc"] is not None]  # labels with both classes
    out["macro_roc_auc"] = float(np.mean([v["roc_auc"] for v in ranked])) if ranked else None
    out["macro_average_precision"] = (
        float(np.mean([v["average_precision"] for v in ranked])) if ranked else None
    )
    out["per_label"] = per_label
    return out


def _label_scores(gold: np.ndarray, probs: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """One label's P/R/F1/support/MCC over the rows that annotate it, and its ROC-AUC and AP where both
    classes occur (None otherwise: a ranking score needs a positive and a negative)."""
    from sklearn.metrics import (
        average_precision_score,
        matthews_corrcoef,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    y, p = gold.astype(int), pred.astype(int)
    prec, rec, f1, _ = precision_recall_fscore_support(y, p, average="binary", zero_division=0)
    two = 0 < y.sum() < len(y)
    return {
        "precision": float(prec),
        "recall": float(rec),
        "f1": float(f1),
        "support": int(y.sum()),
        "n": len(y),
        "roc_auc": _num(roc_auc_score(y, probs)) if two else None,
        "average_precision": _num(average_precision_score(y, probs)) if two else None,
        "mcc": float(matthews_corrcoef(y, p)) if len(y) else None,
    }


def _averaged_f1s(gold: np.ndarray, pred: np.ndarray) -> dict[str, float | None]:
    """Micro, weighted and samples F1 over fully annotated rows. With one label sklearn would read the
    (n, 1) arrays as two classes, so each is that label's binary F1 (and samples F1 is None)."""
    from sklearn.metrics import f1_score

    if gold.shape[1] < 2:
        single = float(f1_score(gold[:, 0], pred[:, 0], zero_division=0))
        return {"micro_f1": single, "weighted_f1": single, "samples_f1": None}
    return {
        f"{avg}_f1": float(f1_score(gold, pred, average=avg, zero_division=0))
        for avg in ("micro", "weighted", "samples")
    }


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0
