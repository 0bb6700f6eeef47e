"""The judge calibrated to the user's raters: the fit, the file, a calibrated rerun that pays for nothing,
the drops and the card, the bad-input cases, and fingerprints that do not move while it is unset."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from synsym.core.calibration import Calibration, KindFit, Rule, decide
from synsym.core.columns import new_post
from synsym.core.errors import InputError
from synsym.testing.raters import Panel, rate, write_ratings
from synsym.testing.runs import small_fake_run

REPO = Path(__file__).resolve().parents[1]
# the judge stage's fingerprint of the shipped configs, as it was before `judge.calibration` existed
# (commit 6debdce); a change to the judge section or to a stage upstream of it must update these
PINNED = {"demo": "a0c51a58973a275a", "depression-14": "22e1b4843731e8ef"}


def _post(symptoms: list[str], **fields: object) -> dict:
    return dict(
        new_post(id="x", text="t", style="", symptoms=symptoms, stage="generate", backend="", model="",
                 template="", request_key="", **fields)
    )  # fmt: skip


def test_decide_uses_each_symptoms_threshold() -> None:
    fit = KindFit(pooled=5, symptoms={"Fatigue": 3}, default=4)
    neg = KindFit(pooled=2, symptoms={}, default=3)
    cal = Calibration.model_construct(kinds={"positive": fit, "negative": neg})
    rule = Rule(4, 3, cal)
    assert decide(_post(["Fatigue"]), {"Fatigue": 3}, rule) is None  # looser than 4
    drop = decide(_post(["Insomnia"]), {"Insomnia": 4}, rule)  # pooled, stricter than 4
    assert drop is not None and drop.thresholds == {"Insomnia": 5} and drop.detail == "Insomnia 4 < 5"
    negative = decide(_post([], negative_kind="other_person"), {"Fatigue": 2}, rule)
    assert negative is not None and negative.thresholds == {"Fatigue": 2}
    assert decide(_post([], negative_kind="other_person"), {"Fatigue": 2}, Rule(4, 3)) is None


def test_bootstrap_counts_match_sklearn() -> None:
    from synsym.review.figures import _counts_figures, figures

    rng = np.random.default_rng(1)
    keep, accept = rng.random((5, 40)) < 0.6, rng.random((5, 40)) < 0.5
    fast = _counts_figures(keep, accept)
    for i in range(5):
        slow = figures(keep[i], accept[i])
        for name in ("kappa", "precision", "recall"):
            assert fast[name][i] == pytest.approx(slow[name], abs=1e-9)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_fingerprints_do_not_move_without_a_calibration(name: str, tmp_path: Path) -> None:
    from synsym.pipeline.config import load_run_config
    from synsym.pipeline.graph import fingerprints
    from synsym.recipe.stages import STAGES

    prints = fingerprints(STAGES, load_run_config(REPO / "configs" / f"{name}.yaml"))
    assert prints["judge"] == PINNED[name]
    cal = tmp_path / "cal.yaml"
    cal.write_text("synsym_calibration: 1\n")
    with_cal = fingerprints(
        STAGES, load_run_config(REPO / "configs" / f"{name}.yaml", [f"judge.calibration={cal}"])
    )
    changed = {k for k in prints if prints[k] != with_cal[k]}
    assert changed == {"judge", "contrast", "realism", "export"}  # the judge and what reads it


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A fake-backend run judged by the LLM, a near-threshold sample rated by a simulated panel that
    wants a 5 for Depressed_Mood and is content with a 3 for every other symptom, and its calibration."""
    from synsym.pipeline.config import load_run_config
    from synsym.pipeline.runner import run_pipeline
    from synsym.review import import_ratings
    from synsym.review.calibrate import calibrate
    from synsym.review.sample import export_review

    tmp = tmp_path_factory.mktemp("cal")
    config = {**small_fake_run(seed=5), "judge": {"method": "llm"}}
    (tmp / "run.yaml").write_text(yaml.safe_dump(config))
    run_pipeline(load_run_config(tmp / "run.yaml", []), tmp / "run", progress=False)
    export_review(tmp / "run", tmp / "rev", n=150, near_threshold=True)
    sample = json.loads((tmp / "rev" / "sample.json").read_text())
    panel = Panel(stated={"Depressed_Mood": 5}, threshold=3, noise=0.0)
    import_ratings(tmp / "rev", write_ratings(tmp / "rev", rate(sample, panel), tmp / "filled"))
    calibrate(tmp / "rev", tmp / "cal.yaml", reps=200, min_items=5)
    return {"dir": tmp, "run": tmp / "run", "review": tmp / "rev", "cal": tmp / "cal.yaml"}


def test_near_threshold_sample_holds_drops_and_judge_scores(calibrated: dict[str, Path]) -> None:
    sample = json.loads((calibrated["review"] / "sample.json").read_text())
    rows = sample["judge"]["rows"]
    assert sample["mode"] == "near_threshold" and sample["scale"] == [1, 5]
    assert len(rows) == len(sample["items"]) == 150
    assert any(not r["kept"] for r in rows.values()) and any(r["kept"] for r in rows.values())


def test_calibration_recovers_the_panels_thresholds(calibrated: dict[str, Path]) -> None:
    cal = Calibration.model_validate(yaml.safe_load(calibrated["cal"].read_text()))
    positive = cal.kinds["positive"]
    assert positive.symptoms["Depressed_Mood"] == 5 and positive.pooled == 3
    assert set(positive.pooled_symptoms).isdisjoint(positive.symptoms)
    figures = json.loads((calibrated["review"] / "calibration.json").read_text())["figures"]
    assert figures["all"]["after"]["kappa"] > figures["all"]["before"]["kappa"]
    assert cal.agreement["all"]["after"]["kappa_ci"][0] is not None


def test_calibrated_rerun_pays_for_nothing(calibrated: dict[str, Path]) -> None:
    """The judge re-filters from the cached scores: every answer is a cache hit."""
    import pyarrow.parquet as pq

    from synsym.pipeline.config import load_run_config
    from synsym.pipeline.runner import run_pipeline

    config = load_run_config(calibrated["dir"] / "run.yaml", [f"judge.calibration={calibrated['cal']}"])
    result = run_pipeline(config, calibrated["run"], restart=True, progress=False)
    usage = result.manifest["usage"]["generator"]
    assert usage["calls"] == 0 and usage["cache_hits"] > 0
    dropped = pq.read_table(calibrated["run"] / "dropped.parquet").to_pylist()
    strict = [r for r in dropped if dict(r["drop_thresholds"]).get("Depressed_Mood") == 5]
    assert strict and all("Depressed_Mood" in r["drop_detail"] for r in strict)
    card = (calibrated["run"] / "README.md").read_text()
    assert "## Judge calibration" in card and "2 rater(s) (a, b)" in card
    effect = result.manifest["calibration"]["effect"]
    assert effect["dropped_not_by_default"] + effect["kept_not_by_default"] > 0
    from synsym.report.html import build_report

    path, _ = build_report(calibrated["run"], embed=False, per_cell=1)
    html = path.read_text()
    assert '<h2 id="calibration">' in html and 'alt="calibration"' in html


def _one_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    return err


def test_bad_input_is_one_line_exit_2_nothing_written(
    calibrated: dict[str, Path], tmp_path: Path, synsym_cli: Callable[..., int], capsys: pytest.CaptureFixture
) -> None:
    import shutil

    out = tmp_path / "cal.yaml"
    empty = tmp_path / "empty"
    shutil.copytree(calibrated["review"], empty, ignore=shutil.ignore_patterns("ratings"))
    assert synsym_cli("review", "calibrate", str(empty), "--out", str(out)) == 2
    assert "no ratings yet" in _one_line(capsys) and not out.exists()
    scale = tmp_path / "scale"
    shutil.copytree(calibrated["review"], scale)
    rated = scale / "ratings" / "a.csv"
    rated.write_text(rated.read_text().replace(",5,", ",7,", 1))
    assert synsym_cli("review", "calibrate", str(scale), "--out", str(out)) == 2
    assert "outside the exported 1-5 scale" in _one_line(capsys) and not out.exists()
    assert synsym_cli("review", "calibrate", str(calibrated["review"]), "--out", str(out), "--rule", "c") == 2
    assert "no such rater" in _one_line(capsys) and not out.exists()
    other = yaml.safe_load(calibrated["cal"].read_text()) | {"taxonomy": "x", "symptoms": ["A", "B"]}
    for fit in other["kinds"].values():
        fit["symptoms"], fit["pooled_symptoms"] = {}, ["A", "B"]
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    run = tmp_path / "run"
    args = ["--config", str(calibrated["dir"] / "run.yaml"), "--out", str(run)]
    assert synsym_cli("generate", *args, "--set", f"judge.calibration={tmp_path / 'other.yaml'}") == 2
    assert "fitted for taxonomy 'x'" in _one_line(capsys) and not run.exists()


def test_import_refuses_a_ratings_file_of_another_sample(calibrated: dict[str, Path], tmp_path: Path) -> None:
    from synsym.review import import_ratings

    filled = tmp_path / "a.csv"
    with (calibrated["dir"] / "filled" / "a.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[0]["text"] = "some other post"
    with filled.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(InputError, match="text differs"):
        import_ratings(calibrated["review"], [filled], ["z"])
    assert not (calibrated["review"] / "ratings" / "z.csv").exists()


def test_a_hand_edited_calibration_is_validated(calibrated: dict[str, Path], tmp_path: Path) -> None:
    from synsym.core.calibration import load_calibration
    from synsym.core.errors import ConfigError

    data = yaml.safe_load(calibrated["cal"].read_text())
    data["kinds"]["positive"]["symptoms"]["Nope"] = 3
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="'Nope' is not one of"):
        load_calibration(tmp_path / "bad.yaml")
    (tmp_path / "other.yaml").write_text("judge: {method: llm}\n")
    with pytest.raises(InputError, match="not a calibration file"):
        load_calibration(tmp_path / "other.yaml")


def test_the_cli_prints_figures_and_writes_the_file(
    calibrated: dict[str, Path], tmp_path: Path, synsym_cli: Callable[..., int], capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "cal.yaml"
    args = ["review", "calibrate", str(calibrated["review"]), "--out", str(out), "--bootstrap", "50"]
    assert synsym_cli(*args) == 0
    printed = capsys.readouterr().out
    assert "kappa" in printed and "raters a vs b" in printed and out.is_file()


@pytest.mark.slow
def test_the_embedding_judge_calibrates_and_refilters(tmp_path: Path) -> None:
    """The embedding judge: thresholds on its calibrated 0-5 score, positives only, and a rerun that
    asks the generator nothing."""
    from synsym.pipeline.config import load_run_config
    from synsym.pipeline.runner import run_pipeline
    from synsym.review import calibrate, export_review, import_ratings

    (tmp_path / "run.yaml").write_text(
        yaml.safe_dump({**small_fake_run(seed=2), "judge": {"method": "embedding"}})
    )
    run_pipeline(load_run_config(tmp_path / "run.yaml", []), tmp_path / "run", progress=False)
    export_review(tmp_path / "run", tmp_path / "rev", n=100, near_threshold=True)
    sample = json.loads((tmp_path / "rev" / "sample.json").read_text())
    assert sample["judge"]["judge"] == "embedding"
    filled = write_ratings(tmp_path / "rev", rate(sample, Panel(threshold=4.5, noise=0.0)), tmp_path / "f")
    import_ratings(tmp_path / "rev", filled)
    result = calibrate(tmp_path / "rev", tmp_path / "cal.yaml", reps=100)
    assert set(result["calibration"].kinds) == {"positive"} and result["calibration"].judge == "embedding"
    config = load_run_config(tmp_path / "run.yaml", [f"judge.calibration={tmp_path / 'cal.yaml'}"])
    rerun = run_pipeline(config, tmp_path / "run", restart=True, progress=False)
    assert rerun.manifest["usage"]["generator"]["calls"] == 0
    assert rerun.manifest["calibration"]["judge"] == "embedding"
