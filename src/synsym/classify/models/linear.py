"""Linear heads on fixed features: `tfidf` (word n-gram TF-IDF, the seconds-to-train baseline) and `embed`
(frozen sentence embeddings, by default the offline all-MiniLM-L6-v2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from synsym.classify.models.base import BaseParams, Classifier, fit_logistic, sigmoid
from synsym.classify.texts import LabelledTexts
from synsym.core import encoders


class TfidfParams(BaseParams):
    ngram_max: int = 2
    min_df: int = 2
    max_features: int = 100_000
    c: float = 10.0  # inverse L2 strength; TF-IDF rows are unit-norm so heads need room


class EmbedParams(BaseParams):
    encoder: str = encoders.DEFAULT_ENCODER
    max_length: int = 256
    c: float = 10.0


class _LinearHead(Classifier):
    """Shared head: W, b fitted by `fit_logistic`; continuing pulls W toward its previous value."""

    params: Any

    def __init__(self, params: dict[str, Any] | BaseParams | None = None) -> None:
        super().__init__(params)
        self.w = np.zeros((0, 0), dtype=np.float32)
        self.b = np.zeros(0, dtype=np.float32)

    def _features(self, texts: list[str]) -> Any:
        raise NotImplementedError

    def _prepare(self, train: LabelledTexts) -> None:
        """Fit the feature extractor (only from scratch)."""

    def _fit(self, train: LabelledTexts, val: LabelledTexts, seed: int, warm: bool) -> None:
        if not warm:
            self._prepare(train)
        x = self._features(train.texts)
        init = (self.w, self.b) if warm else None
        self.w, self.b = fit_logistic(x, train.labels, train.mask, c=self.params.c, init=init)

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


class TfidfClassifier(_LinearHead):
    """TF-IDF (sublinear tf, word 1..n-grams) and one logistic head per label."""

    kind = "tfidf"
    params_model = TfidfParams
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
    params_model = EmbedParams
    params: EmbedParams

    def _features(self, texts: list[str]) -> Any:
        return encoders.embed(self.params.encoder, texts, self.params.max_length)
