"""What every classifier shares: labels, thresholds, save/load, and a masked multi-label logistic fit.

A model directory holds `model.json` (kind, labels, thresholds, params) and `head.npz`, plus what the
kind needs (a vocabulary, an encoder). No pickles: a model directory is safe to load from anyone.

Three sets take part in training. `train` fits the weights. `val` (given, or split off `train` by
groups, so a post and its rewrites stay together) tunes thresholds and, by default, model selection.
`dev`, optional, is a small set of the text the model will meet (real posts): when given it does the
model selection (the `c` grid, fine-tuning's early stopping) and the thresholds of the labels it
annotates, and never fits a weight. Validation on synthetic posts rewards learning their voice; a dev
set, or the `select: shift` proxies, reward what transfers.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from synsym.classify.texts import LabelledTexts
from synsym.core.config import StrictModel, validate
from synsym.core.errors import InputError, suggest

MODEL_FILE = "model.json"


class BaseParams(StrictModel):
    """Options every classifier takes; a classifier's own `Params` subclasses this."""

    thresholds: str = Field(
        "val", description="'val': tuned per label on validation data; or a fixed number such as '0.5'"
    )
    val_fraction: float = Field(
        0.1, description="share held out of the training data when no validation file is given"
    )
    select: Literal["val", "shift"] = Field(
        "val",
        description="where model selection is scored without a dev set: 'val', the validation split "
        "(synthetic, like the training data); 'shift', the transfer proxies the data allows (a held-out "
        "style; posts with several symptoms for a model fitted on posts with one; see "
        "splits.shift_folds and docs/classifiers.md)",
    )
    thresholds_on_rewrites: bool = Field(
        False,
        description="tune thresholds on validation rewrites too; off: on the posts only, since the "
        "rewrites' share is a knob of the data (contrast.n), not how often such text appears where the "
        "model is used",
    )


class Classifier(ABC):
    """fit / continue_fit / predict_proba / save / load; subclasses fill in features and heads."""

    kind: ClassVar[str]  # the name it is registered, trained (`--model`) and saved under
    Params: ClassVar[type[BaseParams]] = BaseParams  # its own options, validated and documented
    params_model: ClassVar[type[BaseParams]] = BaseParams  # the old name of `Params`, kept for a release

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Keep `Params` and its old name `params_model` the same class, whichever a subclass sets, so a
        classifier written against either works."""
        super().__init_subclass__(**kwargs)
        if "Params" in cls.__dict__:
            cls.params_model = cls.Params
        elif "params_model" in cls.__dict__:
            cls.Params = cls.params_model

    def __init__(self, params: dict[str, Any] | BaseParams | None = None) -> None:
        if isinstance(params, BaseParams):
            self.params = params
        else:
            self.params = parse_params(type(self), params or {})
        self.label_names: list[str] = []
        self.thresholds = np.zeros(0, dtype=np.float32)
        self.history: dict[str, Any] = {}

    # --- training ---------------------------------------------------------------------------------------
    def fit(
        self,
        train: LabelledTexts,
        val: LabelledTexts | None = None,
        seed: int = 0,
        dev: LabelledTexts | None = None,
    ) -> Classifier:
        """Train from scratch; validation data (given, or split off the training data) tunes thresholds;
        `dev` (real text), when given, selects the model and tunes the thresholds of its labels."""
        self.history = {"seen_marks": text_marks(train.texts)}
        dev = check_dev(dev, train.label_names)
        train, val = self._with_val(train, val, seed)
        self.label_names = list(train.label_names)
        self.history["negatives_in_training"] = _negatives(train)
        self._fit(train, val.align(self.label_names), seed, warm=False, dev=dev)
        self._tune(val.align(self.label_names), dev)
        return self

    def continue_fit(
        self,
        train: LabelledTexts,
        val: LabelledTexts | None = None,
        seed: int = 0,
        dev: LabelledTexts | None = None,
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
        dev = check_dev(dev, self.label_names)
        if "seen_marks" in self.history:
            self.history["seen_marks"] = sorted({*self.history["seen_marks"], *text_marks(train.texts)})
        train, val = self._with_val(train, val, seed)
        before = self.history.get("negatives_in_training")  # None: a model saved before it was counted
        if before is not None:
            self.history["negatives_in_training"] = int(before) + _negatives(train)
        self._fit(train.align(self.label_names), val.align(self.label_names), seed, warm=True, dev=dev)
        self._tune(val.align(self.label_names), dev)
        return self

    @abstractmethod
    def _fit(
        self, train: LabelledTexts, val: LabelledTexts, seed: int, warm: bool, dev: LabelledTexts | None
    ) -> None: ...

    def _with_val(
        self, train: LabelledTexts, val: LabelledTexts | None, seed: int
    ) -> tuple[LabelledTexts, LabelledTexts]:
        """(train, val): `val` as given, else a `val_fraction` of `train`, split by groups (a post and
        its rewrites on one side) and stratified by label."""
        if len(train) == 0:
            raise InputError(f"{train.source or 'training data'} has no rows to train on")
        if val is not None:
            return train, val
        from synsym.classify.splits import holdout

        if len(train) < 10:
            return train, train.subset([])
        keep, held = holdout(train, self.params.val_fraction, seed)
        return train.subset(keep), train.subset(held)

    @abstractmethod
    def predict_proba(self, texts: list[str]) -> np.ndarray: ...

    def seen_share(self, texts: list[str]) -> float | None:
        """About what share of `texts` the model was trained on (from a 1-in-32 sample of its training
        texts' hashes); None when unknown (a model saved before it kept them, or too few texts)."""
        marks = self.history.get("seen_marks")
        if marks is None:
            return None
        sampled = text_marks(texts)
        if len(sampled) < 3:
            return None
        known = set(marks)
        return sum(m in known for m in sampled) / len(sampled)

    def trained_without_negatives(self) -> bool:
        """Whether every training post expressed a symptom: such a model has never seen one that expresses
        none, and puts symptoms on everyday posts ("made pancakes with my kids")."""
        return self.history.get("negatives_in_training") == 0

    def predict(self, texts: list[str]) -> np.ndarray:
        return (self.predict_proba(texts) >= self.thresholds).astype(np.float32)

    def _tune(self, val: LabelledTexts, dev: LabelledTexts | None = None) -> None:
        """Per-label thresholds from the dev set where it has positives of the label, else from val (its
        posts; its rewrites too with `thresholds_on_rewrites`)."""
        fixed = _fixed_threshold(self.params.thresholds)
        n = len(self.label_names)
        if fixed is not None or (len(val) == 0 and dev is None):
            self.thresholds = np.full(n, fixed if fixed is not None else 0.5, np.float32)
            return
        out = np.full(n, 0.5, np.float32)
        if len(val.pairs) and not self.params.thresholds_on_rewrites:
            val = val.subset(np.setdiff1d(np.arange(len(val)), val.pairs[:, 1]))
        if len(val):
            out = tune_thresholds(val.labels, self.predict_proba(val.texts), val.mask)
        if dev is not None:
            on_dev = (dev.labels * dev.mask).sum(0) > 0
            tuned = tune_thresholds(dev.labels, self.predict_proba(dev.texts), dev.mask)
            out = np.where(on_dev, tuned, out)
            self.history["thresholds_from_dev"] = [
                name for name, d in zip(self.label_names, on_dev, strict=True) if d
            ]
        self.thresholds = out.astype(np.float32)

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


def parse_params(cls: type[Classifier], params: dict[str, Any]) -> BaseParams:
    """`params` validated by the classifier's own `Params`: a ConfigError of `option -> what is wrong`
    lines; an unknown option names the closest known one, and every option the classifier takes."""
    fields = list(cls.Params.model_fields)
    # the error names the closest option; where it finds one, list them all too (else it already did)
    close = any(suggest(k, fields).startswith("; did you mean") for k in params if k not in fields)
    takes = f"; {cls.kind} takes: {', '.join(fields)}" if close else ""
    return validate(cls.Params, params, f"{cls.kind} parameters (--set)", hint=takes)


def text_marks(texts: list[str]) -> list[str]:
    """Short hashes of about 1 in 32 texts (the same ones in any file), to tell later whether a test file
    holds the training posts: a model evaluated on its own training data scores what it memorised."""
    marks = set()
    for text in texts:
        digest = hashlib.sha1(" ".join(text.lower().split()).encode("utf-8")).hexdigest()
        if int(digest[:4], 16) % 32 == 0:
            marks.add(digest[:12])
    return sorted(marks)


def _negatives(data: LabelledTexts) -> int:
    """Training posts labelled with no symptom at all (every label annotated and 0)."""
    none = (data.labels * data.mask).sum(axis=1) == 0
    return int((none & (data.mask.sum(axis=1) > 0)).sum())


def _fixed_threshold(value: str) -> float | None:
    if value == "val":
        return None
    try:
        return float(value)
    except ValueError:
        raise InputError(f"thresholds must be 'val' or a number like 0.5, got {value!r}") from None


def check_dev(dev: LabelledTexts | None, names: list[str]) -> LabelledTexts | None:
    """The dev set in the model's label order; refused when empty or when it has labels the model lacks
    (a model cannot be selected, nor its threshold set, for a label it does not predict)."""
    if dev is None:
        return None
    where = dev.source or "the dev set"
    if len(dev) == 0:
        raise InputError(f"{where} -> has no rows; a dev set needs labelled real posts")
    unknown = [n for n in dev.label_names if n not in names]
    if unknown:
        raise InputError(
            f"{where} -> label(s) {', '.join(unknown)} are not among the model's labels "
            f"({', '.join(names)}); rename them, drop them, or pass --label-space to map both into one space"
        )
    return dev.align(names)


def selection_score(gold: LabelledTexts, probs: np.ndarray) -> float:
    """What model selection maximises: mean ROC-AUC over the labels `gold` annotates with both classes
    (threshold-free, so selection and threshold tuning do not chase each other); NaN with none."""
    from sklearn.metrics import roc_auc_score

    scores = []
    for j in range(gold.labels.shape[1]):
        rows = gold.mask[:, j]
        y = gold.labels[rows, j]
        if 0 < y.sum() < len(y):
            scores.append(roc_auc_score(y, probs[rows, j]))
    return float(np.mean(scores)) if scores else float("nan")


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
    max_iter: int = 300,
) -> tuple[np.ndarray, np.ndarray]:
    """One logistic regression per label, all at once: masked log-loss + ||W - W0||^2 / (2 C n_label).

    With `init` the penalty pulls toward the given weights instead of zero, so continuing on new data
    stays near what was learned before (a prior, the linear analogue of continuing a checkpoint).
    `x` is a dense array or a scipy sparse matrix. L-BFGS with an analytic gradient (scipy), which is
    far faster than autograd through sparse products. Returns (W [features, labels], b [labels]).
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    n_features, n_labels = x.shape[1], y.shape[1]
    yy = np.asarray(y, dtype=np.float64)
    mm = np.asarray(mask, dtype=np.float64)
    counts = np.maximum(mm.sum(0), 1.0)
    if init is None:
        w0 = np.zeros((n_features, n_labels))
        rate = np.clip((yy * mm).sum(0) / counts, 1e-3, 1 - 1e-3)
        b0 = np.log(rate / (1 - rate))
    else:
        w0, b0 = np.asarray(init[0], dtype=np.float64), np.asarray(init[1], dtype=np.float64)
    split = n_features * n_labels

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:split].reshape(n_features, n_labels), theta[split:]
        z = np.asarray(x @ w) + b
        data = ((np.logaddexp(0.0, z) - yy * z) * mm).sum(0) / counts
        reg = ((w - w0) ** 2).sum(0) / (2 * c * counts)
        gz = mm * (1.0 / (1.0 + np.exp(-z)) - yy) / counts
        gw = np.asarray(x.T @ gz) + (w - w0) / (c * counts)
        return float((data + reg).sum()), np.concatenate([gw.ravel(), gz.sum(0)])

    theta0 = np.concatenate([w0.ravel(), b0])
    # One BLAS thread: L-BFGS-B's vector updates are small, and threaded BLAS on a busy machine is 10x slower.
    with threadpool_limits(1):
        res = minimize(objective, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    w, b = res.x[:split].reshape(n_features, n_labels), res.x[split:]
    return w.astype(np.float32), b.astype(np.float32)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))).astype(np.float32)
