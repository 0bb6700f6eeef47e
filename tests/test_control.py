"""The no-LLM control (the taxonomy's own texts as a training set) and experiments with several named sets."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from synsym.classify.control import control_set, strip_reference
from synsym.classify.experiment import DataSource, ExperimentConfig, run_experiment
from synsym.classify.sources import load_dataset
from synsym.core.config import load_config
from synsym.core.errors import ConfigError, InputError
from synsym.core.taxonomy import load_taxonomy

TAX = load_taxonomy("depression-14")
REAL = {
    "Sleep_disturbance": ["I can't sleep at night", "awake until dawn again", "insomnia every night"],
    "Depressed_Mood": ["I feel so sad and empty", "everything is grey and hopeless", "crying all day"],
    "Decreased_energy_tiredness_fatigue": ["I am exhausted all the time", "no energy to get up", "drained"],
}


def subconcepts_file(tmp_path: Path) -> Path:
    """One new phrase per symptom, plus a stripped seed of Decreased_energy that must not be repeated."""
    data = {name: [f"a new way {name} shows up"] for name in TAX.names}
    data["Decreased_energy_tiredness_fatigue"].append("Feeling tired or having little energy")
    path = tmp_path / "subconcepts.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def write_table(path: Path, n: int, seed: int) -> Path:
    """A small labelled CSV in the taxonomy's label names, one or two symptoms a row."""
    rng = np.random.default_rng(seed)
    names = list(REAL)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "labels"])
        for i in range(n):
            on = sorted(rng.choice(len(names), size=int(rng.integers(1, 3)), replace=False))
            text = ", ".join(REAL[names[j]][int(rng.integers(3))] for j in on)
            w.writerow([f"{text} ({i})", ";".join(names[j] for j in on)])
    return path


def test_strip_reference_only_takes_a_trailing_parenthesis() -> None:
    assert strip_reference("Feeling tired (PHQ-9 item 4, DSM-5 criterion 6)") == "Feeling tired"
    assert strip_reference("Waking (early) in the night  ") == "Waking (early) in the night"


def test_control_set_from_the_built_in_taxonomy() -> None:
    ds = control_set("depression-14")
    assert ds.label_names == list(TAX.names) and ds.source == "control:depression-14"
    assert (ds.labels.sum(axis=1) == 1).all() and ds.mask.all()
    assert (ds.labels.sum(axis=0) > 0).all()  # every one of the 14 symptoms has rows
    assert not any("(PHQ-9" in t or "(DSM-5" in t or "(BDI-II" in t for t in ds.texts)
    assert len(set(ds.texts)) == len(ds.texts)
    for j, symptom in enumerate(TAX.symptoms):
        i = ds.texts.index(" ".join(symptom.definition.split()))
        assert ds.labels[i, j] == 1
    i = ds.texts.index("Feeling tired or having little energy")
    assert ds.label_names[int(ds.labels[i].argmax())] == "Decreased_energy_tiredness_fatigue"
    assert len(ds) == sum(1 + len(s.seeds) for s in TAX.symptoms)


def test_subconcepts_add_rows_and_duplicates_are_dropped(tmp_path: Path) -> None:
    base = control_set("depression-14")
    ds = control_set("depression-14", subconcepts_file(tmp_path))
    assert len(ds) == len(base) + 14  # the repeated seed is not a new row
    j = ds.label_names.index("Pessimism")
    i = ds.texts.index("a new way Pessimism shows up")
    assert ds.labels[i].tolist() == [1.0 if k == j else 0.0 for k in range(14)]
    assert ds.source.startswith("control:depression-14")


def test_load_dataset_control_and_its_errors(tmp_path: Path) -> None:
    ds = load_dataset("depression-14", "control")
    assert len(ds) == len(control_set("depression-14"))
    taxonomy_file = tmp_path / "tax.yaml"
    taxonomy_file.write_text(
        (Path(__file__).parents[1] / "src/synsym/data/taxonomies/depression-14.yaml").read_text()
    )
    assert load_dataset(taxonomy_file, "control").texts == ds.texts
    assert len(load_dataset("depression-14", "control", subconcepts=subconcepts_file(tmp_path))) > len(ds)
    with pytest.raises(InputError, match="only used with format control"):
        load_dataset(write_table(tmp_path / "t.csv", 6, 0), "table", subconcepts=tmp_path / "s.yaml")
    with pytest.raises(InputError, match="neither a built-in taxonomy"):
        load_dataset("depression-41", "control")


def test_data_source_resolves_names_and_files_against_base(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    subconcepts_file(tmp_path / "run")
    src = DataSource(path="depression-14", format="control", subconcepts="run/subconcepts.yaml")
    assert len(src.load(tmp_path)) == len(control_set("depression-14")) + 14
    with pytest.raises(InputError, match="file not found"):
        DataSource(path="missing.yaml", format="control").load(tmp_path)
    write_table(tmp_path / "t.csv", 6, 0)
    with pytest.raises(InputError, match="only used with format control"):
        DataSource(path="t.csv", subconcepts="run/subconcepts.yaml").load(tmp_path)


def experiment(tmp_path: Path, synthetic: object, protocols: list[str] | None = None) -> ExperimentConfig:
    write_table(tmp_path / "syn.csv", 40, 1)
    write_table(tmp_path / "real.csv", 40, 2)
    values = {
        "synthetic": synthetic,
        "test_sets": [{"name": "real", "data": {"path": "real.csv"}, "split": {"test_fraction": 0.3}}],
        "models": [{"kind": "tfidf"}],
        "seeds": [0],
        "out_dir": str(tmp_path / "out"),
    }
    if protocols:
        values["protocols"] = protocols
    return ExperimentConfig.model_validate(values)


def test_experiment_with_two_named_sets(tmp_path: Path) -> None:
    cfg = experiment(
        tmp_path,
        {"control": {"path": "depression-14", "format": "control"}, "synsym": {"path": "syn.csv"}},
    )
    result = run_experiment(cfg, base=tmp_path)
    runs = {(r["protocol"], r["train_set"]) for r in result["runs"]}
    assert runs == {
        ("synthetic-only", "control"),
        ("synthetic-only", "synsym"),
        ("real-only", "-"),
        ("synthetic-then-real", "control"),
        ("synthetic-then-real", "synsym"),
    }
    assert len(result["runs"]) == 5  # real-only once, not once per named set
    lines = (tmp_path / "out" / "table.md").read_text().splitlines()
    assert lines[2] == "| protocol | train_set | model | real |"
    assert len(lines) == 4 + 5 and any(
        line.startswith("| synthetic-only | control | tfidf |") for line in lines
    )
    with (tmp_path / "out" / "table.csv").open() as fh:
        assert next(csv.reader(fh)) == ["protocol", "train_set", "model", "real"]
    with (tmp_path / "out" / "runs.csv").open() as fh:
        assert "train_set" in next(csv.reader(fh))
    by = {(r["protocol"], r["train_set"]): r["macro_f1"] for r in result["runs"]}
    assert by[("synthetic-only", "synsym")] > 0.5  # same words as the test set; the control shares few


def test_one_named_set_keeps_the_old_table(tmp_path: Path) -> None:
    for synthetic in ({"path": "syn.csv"}, {"control": {"path": "depression-14", "format": "control"}}):
        result = run_experiment(experiment(tmp_path, synthetic), base=tmp_path)
        assert result["markdown"].splitlines()[2] == "| protocol | model | real |"
        assert len(result["runs"]) == 3
    assert {r["train_set"] for r in result["runs"]} == {"control", "-"}


def test_bad_named_sets_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one"):
        experiment(tmp_path, {})
    cfg_file = tmp_path / "typo.yaml"
    for synthetic, where in (
        ("{control: {path: depression-14, fromat: control}}", "synthetic.control.fromat -> unknown key"),
        ("{path: syn.csv, fromat: table}", "synthetic.fromat -> unknown key"),
    ):
        cfg_file.write_text(f"synthetic: {synthetic}\ntest_sets: [{{name: r, data: {{path: real.csv}}}}]\n")
        with pytest.raises(ConfigError) as err:
            load_config(ExperimentConfig, cfg_file, [])
        assert str(err.value).splitlines()[1:] == [f"  {where}; did you mean format?"]
    cfg = experiment(tmp_path, {"a": {"path": "syn.csv", "subconcepts": "s.yaml"}, "b": {"path": "syn.csv"}})
    with pytest.raises(InputError, match="only used with format control"):
        run_experiment(cfg, base=tmp_path)
    assert not (tmp_path / "out").exists()


def test_cli_train_and_experiment_on_the_control(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    synsym_cli: Callable[..., int],
) -> None:
    run = synsym_cli
    model = tmp_path / "m"
    assert run("train", "--train", "depression-14", "--format", "control", "--out", str(model)) == 0
    assert model.exists()
    experiment(tmp_path, None)
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(
        "synthetic:\n  control: {path: depression-14, format: control}\n  synsym: {path: syn.csv}\n"
        "test_sets: [{name: real, data: {path: real.csv}}]\nseeds: [0]\n"
        f"out_dir: {tmp_path / 'out'}\n"
    )
    monkeypatch.chdir(tmp_path)
    assert run("experiment", str(cfg), "--set", "protocols=[synthetic-only]") == 0
    out = capsys.readouterr().out
    assert "| synthetic-only | control | tfidf |" in out and "| synthetic-only | synsym | tfidf |" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(cfg.read_text().replace("format: control}", "format: control, subconcepts: 3}"))
    assert run("experiment", str(bad)) == 2
