"""`synsym train / predict / evaluate / experiment` end to end with tfidf, and exit code 2 on bad input."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

ROWS = [
    ("I can't sleep at night", "sleep"),
    ("awake until dawn again", "sleep"),
    ("insomnia keeps me up", "sleep"),
    ("I feel so sad and empty", "mood"),
    ("everything is grey and hopeless", "mood"),
    ("crying all day long", "mood"),
    ("today I went to the shop", ""),
    ("the weather is fine", ""),
]


def data(tmp_path: Path, copies: int = 4) -> Path:
    f = tmp_path / "train.csv"
    with f.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "sleep", "mood"])
        for k in range(copies):
            for text, lab in ROWS:
                w.writerow([f"{text} {k}", int(lab == "sleep"), int(lab == "mood")])
    return f


def test_train_predict_evaluate(tmp_path: Path, synsym_cli: Callable[..., int]) -> None:
    train = data(tmp_path)
    model = tmp_path / "model"
    assert synsym_cli("train", "--train", str(train), "--model", "tfidf", "--out", str(model)) == 0
    out = tmp_path / "pred.csv"
    # a file that already has columns named like the labels is refused rather than overwritten
    assert synsym_cli("predict", str(model), "--input", str(train), "--out", str(out)) == 2
    assert not out.exists()
    metrics = tmp_path / "metrics.json"
    assert synsym_cli("evaluate", "--model-dir", str(model), "--test", str(train), "--out", str(metrics)) == 0
    m = json.loads(metrics.read_text())
    assert m["macro_f1"] > 0.5 and set(m["per_label"]) == {"sleep", "mood"}


def test_predict_adds_one_probability_column_per_label(
    tmp_path: Path, synsym_cli: Callable[..., int]
) -> None:
    model = tmp_path / "model"
    assert synsym_cli("train", "--train", str(data(tmp_path)), "--out", str(model)) == 0
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"id": 1, "post": "I never sleep"}\n{"id": 2, "post": "so sad"}\n')
    out = tmp_path / "p.csv"
    assert synsym_cli("predict", str(model), "--input", str(texts), "--out", str(out)) == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["id", "post", "sleep", "mood", "predicted_labels"]
    cut = dict(
        zip(["sleep", "mood"], json.loads((model / "model.json").read_text())["thresholds"], strict=True)
    )
    for r in rows:  # the model's tuned thresholds decide
        assert r["predicted_labels"] == ";".join(n for n in cut if float(r[n]) >= cut[n])
    assert (
        synsym_cli("predict", str(model), "--input", str(texts), "--out", str(out), "--threshold", "0") == 0
    )
    assert all(r["predicted_labels"] == "sleep;mood" for r in csv.DictReader(out.open()))
    assert (
        synsym_cli("predict", str(model), "--input", str(texts), "--out", str(out), "--threshold", "2") == 2
    )


def test_bad_input_exits_2(
    tmp_path: Path, synsym_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("body_text,tags\nhello,x\n")
    assert synsym_cli("train", "--train", str(bad), "--out", str(tmp_path / "m")) == 2
    assert "body_text" in capsys.readouterr().err
    assert synsym_cli("train", "--train", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "m")) == 2
    assert (
        synsym_cli(
            "train",
            "--train",
            str(data(tmp_path)),
            "--model",
            "bert",
            "--out",
            str(tmp_path / "m"),
        )
        == 2
    )
    bad_param = ["train", "--train", str(data(tmp_path)), "--out", str(tmp_path / "m"), "--set", "ngram=3"]
    assert synsym_cli(*bad_param) == 2
    assert "ngram -> unknown key" in capsys.readouterr().err
    model = tmp_path / "model"
    assert synsym_cli("train", "--train", str(data(tmp_path)), "--out", str(model)) == 0
    args = ["evaluate", str(model), "--test", str(data(tmp_path)), "--label-space", "dsm7"]
    assert synsym_cli(*args) == 2
    assert not (tmp_path / "m").exists()


def test_experiment_command_prints_the_table(
    tmp_path: Path, synsym_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    train = data(tmp_path, copies=5)
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        f"synthetic: {{path: {train}}}\n"
        f"test_sets: [{{name: toy, data: {{path: {train}}}, split: {{kind: holdout, test_fraction: 0.3}}}}]\n"
        f"models: [{{kind: tfidf}}]\nseeds: [0]\nout_dir: {tmp_path / 'out'}\n"
    )
    assert (
        synsym_cli("experiment", "--config", str(cfg), "--set", "protocols=[synthetic-only,real-only]") == 0
    )
    out = capsys.readouterr().out
    assert "| synthetic-only | tfidf |" in out and "| real-only | tfidf |" in out
    assert synsym_cli("experiment", "--config", str(cfg), "--set", "modles=[]") == 2
    assert synsym_cli("experiment", str(cfg), "--set", "protocols=[real-only]") == 0  # the old spelling
    assert "positional CONFIG is deprecated; use --config" in capsys.readouterr().err


def test_train_init_continues_a_saved_model(tmp_path: Path, synsym_cli: Callable[..., int]) -> None:
    base, cont = tmp_path / "base", tmp_path / "cont"
    assert synsym_cli("train", "--train", str(data(tmp_path)), "--out", str(base)) == 0
    args = [
        "train",
        "--train",
        str(data(tmp_path, 2)),
        "--init",
        str(base),
        "--out",
        str(cont),
        "--set",
        "c=1",
    ]
    assert synsym_cli(*args) == 0
    saved = json.loads((cont / "model.json").read_text())
    assert saved["params"]["c"] == 1 and saved["label_names"] == ["sleep", "mood"]


def test_old_flag_spellings_still_work_with_a_note(
    tmp_path: Path, synsym_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    assert synsym_cli("train", "--train", str(data(tmp_path)), "--out", str(model)) == 0
    texts = tmp_path / "texts.csv"
    texts.write_text("text\nI never sleep\n")
    out = tmp_path / "p.csv"
    capsys.readouterr()
    assert synsym_cli("predict", "--model", str(model), "--input", str(texts), "--output", str(out)) == 0
    err = capsys.readouterr().err
    assert "--output is deprecated; use --out" in err and "use --model-dir" in err and out.exists()
    metrics = tmp_path / "m.json"
    assert (
        synsym_cli("evaluate", "--model", str(model), "--test", str(data(tmp_path)), "--out", str(metrics))
        == 0
    )
    assert synsym_cli("predict", "--input", str(texts), "--out", str(out)) == 2  # no model directory given


def test_train_checks_the_model_first_warns_on_tiny_data_and_leaves_nothing_empty(
    tmp_path: Path, synsym_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("text,sleep\nI cant sleep,1\nok day,0\n")
    out = tmp_path / "deep" / "model"
    assert synsym_cli("train", "--train", str(tiny), "--model", "bert", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "unknown model 'bert'" in err and "training" not in err  # refused before the data was read
    assert synsym_cli("train", "--train", str(tiny), "--out", str(out)) == 0
    assert "warning: only 2 rows; fewer than 5 positive examples of sleep" in capsys.readouterr().err
    report = tmp_path / "review"
    assert synsym_cli("review", "export", str(tmp_path / "missing.csv"), "--out", str(report)) == 2
    assert not report.exists()


def test_predict_says_when_the_model_never_saw_a_post_without_symptoms(
    tmp_path: Path, synsym_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 18, finding 6: "made pancakes with my kids" got two symptoms without a word."""
    positives = tmp_path / "positives.csv"
    with positives.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "sleep", "mood"])
        for k in range(4):
            for text, lab in ROWS[:6]:
                w.writerow([f"{text} {k}", int(lab == "sleep"), int(lab == "mood")])
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"post": "made pancakes with my kids"}\n')
    for train, warned in ((positives, True), (data(tmp_path), False)):
        model = tmp_path / f"model-{warned}"
        assert synsym_cli("train", "--train", str(train), "--out", str(model)) == 0
        capsys.readouterr()
        assert synsym_cli("predict", str(model), "--input", str(texts), "--out", str(tmp_path / "p.csv")) == 0
        said = "".join(capsys.readouterr())
        assert ("never seen one that expresses none" in said) is warned, said
        assert ("negatives.n" in said) is warned


def test_evaluate_on_the_training_file_says_so(
    tmp_path: Path, synsym_cli: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 18, finding 9: `evaluate` on the training file gave no hint."""

    def write(name: str, tag: str) -> Path:
        f = tmp_path / name
        with f.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["text", "sleep", "mood"])
            for k in range(200):
                for text, lab in ROWS:
                    w.writerow([f"{text} {tag} {k}", int(lab == "sleep"), int(lab == "mood")])
        return f

    train, other = write("train.csv", "a"), write("other.csv", "b")
    model = tmp_path / "model"
    assert synsym_cli("train", "--train", str(train), "--out", str(model)) == 0
    for test, warned in ((train, True), (other, False)):
        capsys.readouterr()
        out = tmp_path / "m.json"
        assert synsym_cli("evaluate", "--model-dir", str(model), "--test", str(test), "--out", str(out)) == 0
        said = "".join(capsys.readouterr())
        assert ("in the model's training data" in said) is warned, said
        assert (json.loads(out.read_text())["seen_in_training"] == 1.0) is warned
