"""Loaders, label mapping, splits and metrics of synsym.classify, on tiny files written to tmp dirs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synsym.classify.labels import (
    PAPER_PHQ9,
    PAPER_SYMPTOMS_14,
    label_space,
    map_gold,
    map_scores,
)
from synsym.classify.metrics import evaluate_scores
from synsym.classify.sources import load_dataset
from synsym.classify.splits import holdout, kfold, read_split_file
from synsym.classify.texts import LabelledTexts
from synsym.core.columns import new_post
from synsym.core.errors import InputError
from synsym.core.taxonomy import load_taxonomy
from synsym.recipe.export.stage import CardInfo, write_dataset

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

PHQ9_MAPPING = label_space("phq9")[1] or {}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_paper_csv_gets_the_14_symptom_names(tmp_path: Path) -> None:
    vec = [0] * 14
    vec[7] = 1
    f = write(
        tmp_path / "p.csv",
        f'post,type,label\n"I want to die.",colloquial,"{vec}"\n"fine",clinical,"{[0] * 14}"\n',
    )
    ds = load_dataset(f)
    assert ds.label_names == list(PAPER_SYMPTOMS_14)
    assert ds.labels[0, PAPER_SYMPTOMS_14.index("Suicidal_ideas")] == 1
    assert ds.labels[1].sum() == 0


def test_table_with_label_names_and_with_binary_columns(tmp_path: Path) -> None:
    f = write(tmp_path / "a.jsonl", '{"text": "a", "labels": ["x", "y"]}\n{"text": "b", "labels": []}\n')
    ds = load_dataset(f)
    assert ds.label_names == ["x", "y"] and ds.labels.tolist() == [[1, 1], [0, 0]]
    g = write(tmp_path / "b.csv", "sentence,sleep,mood\nhi,1,0\nho,0,1\n")
    ds = load_dataset(g)
    assert ds.label_names == ["sleep", "mood"] and ds.labels.tolist() == [[1, 0], [0, 1]]


def test_parquet_multi_hot_with_given_names(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "labels": [[1, 0], [0, 1]]}), f)
    ds = load_dataset(f, label_names=["x", "y"])
    assert ds.labels.tolist() == [[1, 0], [0, 1]]


def test_wrong_columns_name_what_was_found_and_expected(tmp_path: Path) -> None:
    f = write(tmp_path / "w.csv", "body_text,tags\nhello,x\n")
    with pytest.raises(InputError) as err:
        load_dataset(f)
    assert "body_text" in str(err.value) and "text" in str(err.value) and "--text-column" in str(err.value)
    with pytest.raises(InputError, match="post, label"):
        load_dataset(f, "synsym-paper")


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_dataset(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="unknown format"):
        load_dataset(tmp_path / "nope.csv", "excel")


def test_primate_long_cssrs_and_synsym_export(tmp_path: Path) -> None:
    prim = [
        {
            "post_title": "t",
            "post_text": "can't sleep",
            "annotations": [["sleep q", "yes"], ["mood q", "no"]],
        },
        {"post_title": "", "post_text": "sad", "annotations": [["sleep q", "no"], ["mood q", "yes"]]},
    ]
    ds = load_dataset(write(tmp_path / "primate_dataset.json", json.dumps(prim)))
    assert ds.label_names == ["sleep q", "mood q"] and ds.labels.tolist() == [[1, 0], [0, 1]]
    long = "text,symptom,status\nI am tired,FATIGUE,1\nI am tired,SLEEP,0\nI nap,SLEEP,1\nok,none,0\n"
    ds = load_dataset(write(tmp_path / "d2s.csv", long), "d2s")
    assert ds.texts == ["I am tired", "I nap", "ok"] and ds.labels.tolist() == [[1, 0], [0, 1], [0, 0]]
    cs = (
        "User,Post,Label\nu0,\"['I want to end it']\",Ideation\n"
        "u1,\"['hang in there']\",Supportive\nu2,\"['x']\",Indicator\n"
    )
    ds = load_dataset(write(tmp_path / "c.csv", cs))
    assert ds.label_names == ["Suicidal_ideas"] and ds.labels.ravel().tolist() == [1, 0]
    tax = load_taxonomy("depression-14")
    rows = [
        new_post(id=str(i), text=t, style="clinical", symptoms=s, stage="generate", backend="fake", model="m",
                 template="t", request_key=str(i))
        for i, (t, s) in enumerate([("x", ["Sleep_disturbance"]), ("y", ["Depressed_Mood", "Pessimism"])])
    ]  # fmt: skip
    write_dataset(tmp_path / "run", rows, [], tax, formats=["jsonl"], manifest={}, card=CardInfo(recipe={}))
    for name in ("dataset.jsonl", "dataset.parquet"):
        ds = load_dataset(tmp_path / "run" / name, "synsym", label_space="phq9")
        assert ds.label_names == list(tax.space("phq9").labels)
        assert ds.labels.sum(axis=1).tolist() == [1, 1]  # Depressed_Mood and Pessimism: one PHQ-9 item
        ds = load_dataset(tmp_path / "run" / name)  # auto: the taxonomy's own symptoms, by name
        assert ds.label_names == list(tax.names) and ds.labels.sum(axis=1).tolist() == [1, 2]
    with pytest.raises(InputError, match="not a synsym export"):
        load_dataset(write(tmp_path / "other.jsonl", '{"text": "x", "labels_phq9": [0, 1]}\n'), "synsym")


def test_label_mapping_gold_scores_and_masks() -> None:
    src = ["Inattention", "Poor_memory", "Anger_Irritability"]
    tgt = ["Concentration_Problems"]
    gold = np.array([[1, 0, 0], [0, 0, 1]], dtype=np.float32)
    assert map_gold(gold, src, PHQ9_MAPPING, tgt).tolist() == [[1], [0]]
    scores = np.array([[0.2, 0.7, 0.9]], dtype=np.float32)
    assert map_scores(scores, src, PHQ9_MAPPING, tgt).tolist() == [[pytest.approx(0.7)]]
    one = LabelledTexts(["x"], np.array([[1.0]]), ["Suicidal_ideas"])
    mapped = one.mapped(PHQ9_MAPPING, list(PAPER_PHQ9))
    j = PAPER_PHQ9.index("Suicidal_Ideation")
    assert mapped.labels[0, j] == 1 and mapped.mask[0].sum() == 1 and mapped.mask[0, j]
    with pytest.raises(InputError, match="depression-14 declares: bdi2, dsm14, dsm5, phq9"):
        label_space("dsm7")


def _toy(n: int = 60) -> LabelledTexts:
    rng = np.random.default_rng(0)
    y = (rng.random((n, 3)) < 0.3).astype(np.float32)
    return LabelledTexts([f"t{i}" for i in range(n)], y, ["a", "b", "c"])


def test_holdout_and_kfold_are_disjoint_and_cover(tmp_path: Path) -> None:
    ds = _toy()
    keep, held = holdout(ds, 0.2, seed=1)
    assert not set(keep) & set(held) and len(keep) + len(held) == len(ds)
    assert np.array_equal(held, holdout(ds, 0.2, seed=1)[1])
    seen = np.concatenate([test for _, test in kfold(ds, 3, seed=0)])
    assert sorted(seen.tolist()) == list(range(len(ds)))
    parts = read_split_file(write(tmp_path / "s.json", '{"train": [0, 1], "test": [2]}'), 3)
    assert parts["test"].tolist() == [2]
    with pytest.raises(InputError, match="share rows"):
        read_split_file(write(tmp_path / "bad.json", '{"train": [0, 1], "test": [1]}'), 3)
    with pytest.raises(InputError, match="one split per data row"):
        read_split_file(write(tmp_path / "s.csv", "split\ntrain\ntest\n"), 3)


def test_metrics_perfect_and_single_label() -> None:
    gold = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.float32)
    m = evaluate_scores(gold, gold, gold, ["a", "b"])
    assert m["macro_f1"] == 1 and m["micro_f1"] == 1 and m["macro_roc_auc"] == 1
    assert m["per_label"]["a"]["support"] == 2 and m["per_label"]["a"]["mcc"] == 1
    one = evaluate_scores(gold[:, :1], gold[:, :1], gold[:, :1], ["a"])
    assert one["samples_f1"] is None and one["macro_f1"] == 1
    half = evaluate_scores(gold[:, :1], gold[:, :1], np.ones((4, 1)), ["a"])
    assert half["micro_f1"] == half["macro_f1"] == pytest.approx(2 / 3)


@pytest.mark.skipif(
    not (SHARED / "synsym-kdd2026").exists(), reason="../shared/data/synsym-kdd2026 is absent"
)
def test_released_dataset_matches_its_documented_shape() -> None:
    dsm = load_dataset(SHARED / "synsym-kdd2026" / "synth_all_dsm5.csv")
    phq = load_dataset(SHARED / "synsym-kdd2026" / "synth_all_phq9.csv")
    assert len(dsm) == len(phq) == 18254
    assert np.array_equal(dsm.mapped(PHQ9_MAPPING, list(PAPER_PHQ9)).labels, phq.labels)
