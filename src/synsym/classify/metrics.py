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
    from sklearn.metrics import (
        average_precision_score,
        f1_score,
        matthews_corrcoef,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    if gold.shape != probs.shape or gold.shape != pred.shape:
        raise InputError(
            f"gold {gold.shape}, scores {probs.shape} and predictions {pred.shape} differ in shape"
        )
    mask = np.ones_like(gold, dtype=bool) if mask is None else mask
    per_label: dict[str, dict[str, Any]] = {}
    aucs: list[float] = []
    aps: list[float] = []
    for j, name in enumerate(label_names):
        rows = mask[:, j]
        y, p, s = gold[rows, j].astype(int), pred[rows, j].astype(int), probs[rows, j]
        prec, rec, f1, _ = precision_recall_fscore_support(y, p, average="binary", zero_division=0)
        two = 0 < y.sum() < len(y)
        auc = roc_auc_score(y, s) if two else None
        ap = average_precision_score(y, s) if two else None
        if auc is not None and ap is not None:
            aucs.append(float(auc))
            aps.append(float(ap))
        per_label[name] = {
            "precision": float(prec),
            "recall": float(rec),
            "f1": float(f1),
            "support": int(y.sum()),
            "n": len(y),
            "roc_auc": _num(auc),
            "average_precision": _num(ap),
            "mcc": float(matthews_corrcoef(y, p)) if len(y) else None,
        }
    full = mask.all(axis=1)
    g, pr = gold[full].astype(int), pred[full].astype(int)
    out: dict[str, Any] = {
        "macro_f1": float(np.mean([v["f1"] for v in per_label.values()])) if per_label else 0.0,
        "n": int(gold.shape[0]),
        "labels": list(label_names),
    }
    if full.any():
        for avg in ("micro", "weighted", "samples"):
            if g.shape[1] < 2:  # one label: sklearn would read (n, 1) as two classes; use its binary F1
                out[f"{avg}_f1"] = (
                    None if avg == "samples" else float(f1_score(g[:, 0], pr[:, 0], zero_division=0))
                )
                continue
            out[f"{avg}_f1"] = float(f1_score(g, pr, average=avg, zero_division=0))
    out["macro_roc_auc"] = float(np.mean(aucs)) if aucs else None
    out["macro_average_precision"] = float(np.mean(aps)) if aps else None
    out["per_label"] = per_label
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0
