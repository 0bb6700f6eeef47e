"""What every classifier shares: labels, thresholds, save/load, and a masked multi-label logistic fit.

A model directory holds `model.json` (kind, labels, thresholds, params) and `head.npz`, plus what the
kind needs (a vocabulary, an encoder). No pickles: a model directory is safe to load from anyone.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import ValidationError

from synsym.classify.data import LabelledTexts
from synsym.core.config import StrictModel, format_validation_error
from synsym.core.errors import ConfigError, InputError

MODEL_FILE = "model.json"


class BaseParams(StrictModel):
    """Options shared by all models."""

    thresholds: str = "val"  # "val": tuned per label on validation data; or a number such as "0.5"
    val_fraction: float = 0.1  # held out of the training data when no validation file is given


class Classifier(ABC):
    """fit / continue_fit / predict_proba / save / load; subclasses fill in features and heads."""

    kind: ClassVar[str]
    params_model: ClassVar[type[BaseParams]] = BaseParams

    def __init__(self, params: dict[str, Any] | BaseParams | None = None) -> None:
        if isinstance(params, BaseParams):
            self.params = params
        else:
            try:
                self.params = self.params_model.model_validate(params or {})
            except ValidationError as err:
                raise ConfigError(format_validation_error(err, f"{self.kind} parameters")) from None
        self.label_names: list[str] = []
        self.thresholds = np.zeros(0, dtype=np.float32)
        self.history: dict[str, Any] = {}

    # --- training ---------------------------------------------------------------------------------------
    def fit(self, train: LabelledTexts, val: LabelledTexts | None = None, seed: int = 0) -> Classifier:
        """Train from scratch; validation data (given, or split off the training data) tunes thresholds."""
        train, val = _with_val(train, val, self.params.val_fraction, seed)
        self.label_names = list(train.label_names)
        self._fit(train, val.align(self.label_names), seed, warm=False)
        self._tune(val.align(self.label_names))
        return self

    def continue_fit(
        self, train: LabelledTexts, val: LabelledTexts | None = None, seed: int = 0
    ) -> Classifier:
        """Keep training on new data (synthetic-then-real); labels the new data lacks are masked."""
        if not self.label_names:
            raise InputError("continue_fit needs a trained model; call fit first")
        shared = set(train.label_names) & set(self.label_names)
        if not shared:
            raise InputError(
                f"the new data's labels ({', '.join(train.label_names)}) share none with the model's "
                f"({', '.join(self.label_names)}); map one label space onto the other first"
            )
        train, val = _with_val(train, val, self.params.val_fraction, seed)
        self._fit(train.align(self.label_names), val.align(self.label_names), seed, warm=True)
        self._tune(val.align(self.label_names))
        return self

    @abstractmethod
    def _fit(self, train: LabelledTexts, val: LabelledTexts, seed: int, warm: bool) -> None: ...

    @abstractmethod
    def predict_proba(self, texts: list[str]) -> np.ndarray: ...

    def predict(self, texts: list[str]) -> np.ndarray:
        return (self.predict_proba(texts) >= self.thresholds).astype(np.float32)

    def _tune(self, val: LabelledTexts) -> None:
        fixed = _fixed_threshold(self.params.thresholds)
        if fixed is not None or len(val) == 0:
            self.thresholds = np.full(len(self.label_names), fixed if fixed is not None else 0.5, np.float32)
            return
        self.thresholds = tune_thresholds(val.labels, self.predict_proba(val.texts), val.mask)

    # --- persistence ------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": self.kind,
            "label_names": self.label_names,
            "thresholds": [float(t) for t in self.thresholds],
            "params": self.params.model_dump(),
            "history": self.history,
        }
        self._save(out)
        (out / MODEL_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return out

    @abstractmethod
    def _save(self, out: Path) -> None: ...

    @abstractmethod
    def _load(self, src: Path) -> None: ...


def _fixed_threshold(value: str) -> float | None:
    if value == "val":
        return None
    try:
        return float(value)
    except ValueError:
        raise InputError(f"thresholds must be 'val' or a number like 0.5, got {value!r}") from None


def _with_val(
    train: LabelledTexts, val: LabelledTexts | None, fraction: float, seed: int
) -> tuple[LabelledTexts, LabelledTexts]:
    if len(train) == 0:
        raise InputError(f"{train.source or 'training data'} has no rows to train on")
    if val is not None:
        return train, val
    from synsym.classify.splits import holdout

    if len(train) < 10:
        return train, train.subset([])
    keep, held = holdout(train, fraction, seed)
    return train.subset(keep), train.subset(held)


def tune_thresholds(gold: np.ndarray, probs: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per label, the threshold in 0.05..0.95 that maximises F1 on validation data (0.5 with no positives)."""
    grid = np.arange(0.05, 0.96, 0.05, dtype=np.float32)
    out = np.full(gold.shape[1], 0.5, dtype=np.float32)
    for j in range(gold.shape[1]):
        rows = mask[:, j] if mask is not None else slice(None)
        y, p = gold[rows, j], probs[rows, j]
        if y.sum() == 0:
            continue
        pred = p[:, None] >= grid[None, :]
        tp = (pred & (y[:, None] > 0)).sum(0)
        f1 = 2 * tp / np.maximum(pred.sum(0) + y.sum(), 1)
        out[j] = grid[int(np.argmax(f1))]
    return out


def fit_logistic(
    x: Any,
    y: np.ndarray,
    mask: np.ndarray,
    c: float = 1.0,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    max_iter: int = 200,
) -> tuple[np.ndarray, np.ndarray]:
    """One logistic regression per label, all at once: masked log-loss + ||W - W0||^2 / (2 C n_label).

    With `init` the penalty pulls toward the given weights instead of zero, so continuing on new data
    stays near what was learned before (a prior, the linear analogue of continuing a checkpoint).
    `x` is a dense array or a scipy sparse matrix. Returns (W [features, labels], b [labels]).
    """
    import scipy.sparse as sp
    import torch

    if sp.issparse(x):
        coo = x.tocoo()
        xt = torch.sparse_coo_tensor(
            np.vstack([coo.row, coo.col]), coo.data.astype(np.float32), coo.shape, check_invariants=False
        ).coalesce()
    else:
        xt = torch.as_tensor(np.asarray(x, dtype=np.float32))
    n_features, n_labels = x.shape[1], y.shape[1]
    yt = torch.as_tensor(y, dtype=torch.float32)
    mt = torch.as_tensor(mask, dtype=torch.float32)
    counts = mt.sum(0).clamp(min=1.0)
    if init is None:
        w0 = torch.zeros(n_features, n_labels)
        rate = ((yt * mt).sum(0) / counts).clamp(1e-3, 1 - 1e-3)
        b0 = torch.log(rate / (1 - rate))
    else:
        w0, b0 = torch.as_tensor(init[0], dtype=torch.float32), torch.as_tensor(init[1], dtype=torch.float32)
    w = w0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = (torch.sparse.mm(xt, w) if xt.is_sparse else xt @ w) + b
        data = (loss_fn(logits, yt) * mt).sum(0) / counts
        reg = ((w - w0) ** 2).sum(0) / (2 * c * counts)
        loss = (data + reg).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def sigmoid(z: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))).astype(np.float32)
