"""Linear heads on fixed features: `tfidf` (word n-gram TF-IDF, the seconds-to-train baseline) and `embed`
(frozen sentence embeddings, by default the offline all-MiniLM-L6-v2).

The L2 strength `c` decides how much of the synthetic voice a head can memorise. With `c_grid` it is
chosen per training run, scored on the dev set if there is one, else where `select` says (docs/classifiers.md
gives the figures behind the defaults)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from synsym.classify.models.base import BaseParams, Classifier, fit_logistic, selection_score, sigmoid
from synsym.classify.splits import shift_folds
from synsym.classify.texts import LabelledTexts
from synsym.core import encoders
from synsym.core.errors import InputError

# Selection scores within this much mean ROC-AUC of the best are a tie, resolved toward the stronger
# penalty (the one-standard-error rule's spirit): a proxy on a few thousand rows moves by about this much
# between seeds, and where the proxies cannot tell, the real set preferred more regularisation.
TIE = 0.001


class LinearParams(BaseParams):
    """Options of a linear head on fixed features."""

    c: float = Field(10.0, description="inverse L2 strength of the head")
    c_grid: list[float] = Field(
        default_factory=list,
        description="candidate values of c, chosen per training run (on dev, else as `select` says); "
        "empty: use `c`",
    )


class TfidfParams(LinearParams):
    """Options of `tfidf`."""

    ngram_max: int = Field(2, description="longest word n-gram counted")
    min_df: int = Field(2, description="fewest training texts a term must appear in (1 on tiny data)")
    max_features: int = Field(100_000, description="most terms kept, the most frequent first")
    c: float = Field(
        10.0,
        description="inverse L2 strength of the head; TF-IDF rows are unit-norm so heads need room, "
        "and the transfer proxies agree",
    )


class EmbedParams(LinearParams):
    """Options of `embed`."""

    encoder: str = Field(encoders.DEFAULT_ENCODER, description="sentence encoder: a name or local path")
    max_length: int = Field(256, description="tokens of a text the encoder reads")
    c: float = Field(
        1.0,
        description="inverse L2 strength of the head; 1, not 10: the transfer proxies (select=shift) "
        "pick 1 on the paper's posts with and without rewrites, where validation on synthetic posts "
        "picks 10-30 (docs/classifiers.md)",
    )


class _LinearHead(Classifier):
    """Shared head: W, b fitted by `fit_logistic`; continuing pulls W toward its previous value."""

    params: LinearParams

    def __init__(self, params: dict[str, Any] | BaseParams | None = None) -> None:
        super().__init__(params)
        self.w = np.zeros((0, 0), dtype=np.float32)
        self.b = np.zeros(0, dtype=np.float32)

    def _features(self, texts: list[str]) -> Any:
        raise NotImplementedError

    def _prepare(self, train: LabelledTexts) -> None:
        """Fit the feature extractor (only from scratch)."""

    def _fit(
        self, train: LabelledTexts, val: LabelledTexts, seed: int, warm: bool, dev: LabelledTexts | None
    ) -> None:
        if not warm:
            self._prepare(train)
        x = self._features(train.texts)
        init = (self.w, self.b) if warm else None
        c = self._choose_c(train, x, val, dev, init) if self.params.c_grid else self.params.c
        self.w, self.b = fit_logistic(x, train.labels, train.mask, c=c, init=init)

    def _choose_c(
        self,
        train: LabelledTexts,
        x: Any,
        val: LabelledTexts,
        dev: LabelledTexts | None,
        init: tuple[np.ndarray, np.ndarray] | None,
    ) -> float:
        """The strongest penalty (smallest c) of the grid whose selection score is within `TIE` of the
        best. On dev: fitted on all of train, scored on dev. On shift: each proxy of `shift_folds`
        fitted and scored per fold, the proxies averaged. On val: fitted on train, scored on val.
        The chosen c is then refitted on all of train by the caller."""
        everything = np.arange(len(train))
        plans: dict[str, list[tuple[np.ndarray, Any, LabelledTexts]]]
        if dev is not None:
            where, plans = "dev", {"dev": [(everything, self._features(dev.texts), dev)]}
        elif self.params.select == "shift":
            where = "shift"
            plans = {
                name: [(fit, x[held], train.subset(held)) for fit, held in folds]
                for name, folds in shift_folds(train).items()
            }
        else:
            if len(val) == 0:
                raise InputError(
                    "choosing c on validation data needs validation rows; give --val or more data"
                )
            where, plans = "val", {"val": [(everything, self._features(val.texts), val)]}
        scores: dict[float, float] = {}
        for c in sorted(set(self.params.c_grid)):
            per_plan = []
            for folds in plans.values():
                per_fold = []
                for rows, x_eval, gold in folds:
                    w, b = fit_logistic(x[rows], train.labels[rows], train.mask[rows], c=c, init=init)
                    per_fold.append(selection_score(gold, sigmoid(np.asarray(x_eval @ w) + b)))
                per_plan.append(_mean(per_fold))
            scores[c] = _mean(per_plan)
        if all(np.isnan(v) for v in scores.values()):
            raise InputError(
                f"cannot choose c on {where}: no label there has both positive and negative rows"
            )
        top = max(v for v in scores.values() if not np.isnan(v))
        best = min(c for c, v in scores.items() if v >= top - TIE)
        shown = {str(c): (None if np.isnan(v) else v) for c, v in scores.items()}
        self.history["c_selection"] = {"on": where, "proxies": list(plans), "scores": shown, "c": best}
        return best

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.label_names)), dtype=np.float32)
        x = self._features(texts)
        return sigmoid(np.asarray(x @ self.w) + self.b)

    def _save(self, out: Path) -> None:
        np.savez(out / "head.npz", w=self.w, b=self.b)

    def _load(self, src: Path) -> None:
        with np.load(src / "head.npz") as head:
            self.w, self.b = head["w"], head["b"]


def _mean(values: list[float]) -> float:
    """Mean of the values that are not NaN; NaN when none is."""
    kept = [v for v in values if not np.isnan(v)]
    return float(np.mean(kept)) if kept else float("nan")


class TfidfClassifier(_LinearHead):
    """TF-IDF (sublinear tf, word 1..n-grams) and one logistic head per label."""

    kind = "tfidf"
    Params = TfidfParams
    params: TfidfParams

    def __init__(self, params: dict[str, Any] | BaseParams | None = None) -> None:
        super().__init__(params)
        self.vocabulary: dict[str, int] = {}
        self.idf = np.zeros(0, dtype=np.float32)
        self._counter: Any = None

    def _prepare(self, train: LabelledTexts) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        p = self.params
        min_df = p.min_df if len(train) >= 10 * p.min_df else 1
        vec = TfidfVectorizer(
            ngram_range=(1, p.ngram_max), min_df=min_df, max_features=p.max_features, sublinear_tf=True
        )
        vec.fit(train.texts)
        self.vocabulary = {k: int(v) for k, v in vec.vocabulary_.items()}
        self.idf = vec.idf_.astype(np.float32)
        self._counter = None

    def _features(self, texts: list[str]) -> Any:
        # Recomputed from vocabulary + idf so a saved model needs neither pickles nor the training data.
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        if self._counter is None:
            self._counter = CountVectorizer(
                vocabulary=self.vocabulary, ngram_range=(1, self.params.ngram_max)
            )
        counts = self._counter.transform(texts).astype(np.float32)
        counts.data = 1.0 + np.log(counts.data)
        return normalize(counts.multiply(self.idf).tocsr())

    def _save(self, out: Path) -> None:
        super()._save(out)
        (out / "vocabulary.json").write_text(json.dumps(self.vocabulary), encoding="utf-8")
        np.save(out / "idf.npy", self.idf)

    def _load(self, src: Path) -> None:
        super()._load(src)
        self.vocabulary = json.loads((src / "vocabulary.json").read_text(encoding="utf-8"))
        self.idf = np.load(src / "idf.npy")


class EmbedClassifier(_LinearHead):
    """Frozen sentence embeddings (mean-pooled, normalised) and one logistic head per label."""

    kind = "embed"
    Params = EmbedParams
    params: EmbedParams

    def _features(self, texts: list[str]) -> Any:
        return encoders.embed(self.params.encoder, texts, self.params.max_length)
