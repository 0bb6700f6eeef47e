"""Classifiers plug in through synsym.core.plugins like backends: the built-ins are entry points of the
`synsym.classifiers` group, one registered from outside trains, saves, reloads and runs in an experiment by
name, and every classifier's own `Params` refuses a wrong option by name."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
from pydantic import Field

from synsym.classify.api import score_on, train_model
from synsym.classify.experiment import ExperimentConfig
from synsym.classify.models import (
    MODELS,
    BaseParams,
    Classifier,
    available_classifiers,
    classifier_class,
    create_model,
    load_model,
    register_classifier,
)
from synsym.classify.models.linear import EmbedParams, TfidfClassifier, TfidfParams
from synsym.classify.texts import LabelledTexts
from synsym.core import plugins
from synsym.core.config import validate
from synsym.core.errors import ConfigError, InputError


class KeywordParams(BaseParams):
    """Options of the test's classifier."""

    strength: float = Field(0.9, gt=0, lt=1, description="probability given when a label's word appears")


class KeywordClassifier(Classifier):
    """Says a label when the label's name appears in the text: a classifier from outside synsym."""

    kind = "keyword"
    Params = KeywordParams
    params: KeywordParams

    def _fit(
        self, train: LabelledTexts, val: LabelledTexts, seed: int, warm: bool, dev: LabelledTexts | None
    ) -> None:
        self.history["fitted_on"] = len(train)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        hit = [[name in text for name in self.label_names] for text in texts]
        on, off = self.params.strength, 1 - self.params.strength
        return np.where(np.array(hit, dtype=bool).reshape(len(texts), -1), on, off).astype(np.float32)

    def _save(self, out: Path) -> None:
        (out / "keyword.txt").write_text("no weights", encoding="utf-8")

    def _load(self, src: Path) -> None:
        assert (src / "keyword.txt").exists()


@pytest.fixture
def keyword() -> Iterator[type[Classifier]]:
    plugins.register("classifiers", "keyword", KeywordClassifier)
    yield KeywordClassifier
    plugins.unregister("classifiers", "keyword")


def data() -> LabelledTexts:
    names = ["sleep", "mood"]
    texts, labels = [], []
    for i in range(40):
        y = [i % 2, (i // 2) % 2]
        words = [n for n, v in zip(names, y, strict=True) if v]
        texts.append(" ".join(["today", *words, str(i)]))
        labels.append(y)
    return LabelledTexts(texts, np.array(labels, dtype=np.float32), names)


def test_the_built_in_classifiers_are_entry_points() -> None:
    declared = {ep.name: ep.value for ep in entry_points(group="synsym.classifiers")}
    assert declared["tfidf"] == "synsym.classify.models.linear:TfidfClassifier"
    assert {"tfidf", "embed", "finetune"} <= set(declared)
    found = available_classifiers()
    assert all(found[name].kind == name for name in ("tfidf", "embed", "finetune"))
    assert classifier_class("tfidf") is TfidfClassifier


def test_a_classifier_registered_from_outside_trains_and_reloads_by_name(
    keyword: type[Classifier], tmp_path: Path
) -> None:
    ds = data()
    model = train_model(ds, "keyword", out=tmp_path / "m", params={"strength": 0.8, "thresholds": "0.5"})
    assert isinstance(model, KeywordClassifier) and model.history["fitted_on"] > 0
    assert score_on(model, ds)["macro_f1"] == 1.0
    again = load_model(tmp_path / "m")
    assert isinstance(again, KeywordClassifier) and again.params.strength == 0.8
    np.testing.assert_array_equal(again.predict(ds.texts), model.predict(ds.texts))
    cfg = ExperimentConfig.model_validate({"test_sets": [], "models": [{"kind": "keyword"}]})
    assert cfg.models[0].kind == "keyword"
    assert "keyword" in MODELS and MODELS["keyword"] is KeywordClassifier  # the old name, a live view


def test_register_classifier_and_the_old_models_mapping() -> None:
    class Other(KeywordClassifier):
        kind = "other-keyword"

    register_classifier(Other)
    try:
        assert create_model("other-keyword").params.strength == 0.9
    finally:
        del MODELS["other-keyword"]
    assert "other-keyword" not in available_classifiers()
    with pytest.raises(InputError, match="unknown model 'other-keyword'"):
        create_model("other-keyword")


def test_a_bad_option_is_refused_by_name(keyword: type[Classifier]) -> None:
    with pytest.raises(ConfigError) as err:
        create_model("tfidf", {"ngram_mx": 3})
    text = str(err.value)
    assert "ngram_mx -> unknown key; did you mean ngram_max?" in text
    assert "tfidf takes: thresholds," in text and "min_df" in text and "max_features" in text
    with pytest.raises(ConfigError, match=r"strength -> Input should be less than 1 \(got 2\)"):
        create_model("keyword", {"strength": 2})
    with pytest.raises(ConfigError, match=r"colour -> unknown key; known: thresholds, .*strength"):
        create_model("keyword", {"colour": "red"})
    with pytest.raises(InputError, match="unknown model 'tfid'; did you mean tfidf"):
        create_model("tfid")
    with pytest.raises(ConfigError, match=r"models\.0\.kind -> .*unknown model 'bert'"):
        validate(ExperimentConfig, {"test_sets": [], "models": [{"kind": "bert"}]})


def test_every_option_is_documented_and_the_old_params_model_name_works() -> None:
    for cls in (TfidfClassifier, classifier_class("embed"), classifier_class("finetune")):
        assert cls.Params is cls.params_model
        missing = [k for k, f in cls.Params.model_fields.items() if not f.description]
        assert not missing, f"{cls.kind}: options without a description: {missing}"
    assert classifier_class("embed").Params is EmbedParams and TfidfClassifier.Params is TfidfParams

    class Legacy(KeywordClassifier):  # written against the old attribute name
        kind = "legacy"
        params_model = KeywordParams

    assert Legacy.Params is KeywordParams
