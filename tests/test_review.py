"""Expert-review round trip: agreement figures checked against values worked out by hand, the import
formats (filled CSV, Label Studio JSON), validation errors, and a stratified export of a real run."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from synsym.core.errors import InputError
from synsym.review import agreement_report, import_ratings, pair_agreement
from synsym.testing.runs import small_fake_run

# Six single-symptom posts rated by two raters, three sub-concepts both rated 5.
A = [5, 5, 4, 3, 2, 5]
B = [5, 4, 4, 3, 1, 5]
# By hand, raters A and B on the six posts:
#   percent agreement: items 1, 3, 4, 6 agree -> 4/6 = 0.6667
#   Cohen's kappa: p_o = 4/6. Marginal counts A: {2:1, 3:1, 4:1, 5:3}, B: {1:1, 3:1, 4:2, 5:2}.
#     p_e = (A3*B3 + A4*B4 + A5*B5) / 36 = (1*1 + 1*2 + 3*2) / 36 = 9/36 = 0.25
#     kappa = (4/6 - 1/4) / (1 - 1/4) = (5/12) / (9/12) = 5/9 = 0.5556
#   quadratic-weighted kappa, w_ij = (i - j)^2 / (5 - 1)^2:
#     observed: two disagreements, (5,4) and (2,1), each (1)^2 -> sum (i-j)^2 = 2
#     expected: sum over score pairs of A_i * B_j * (i - j)^2 / n
#       i=2: 1*(1*1 + 1*1 + 2*4 + 2*9) = 28;  i=3: 1*(1*4 + 0 + 2*1 + 2*4) = 14
#       i=4: 1*(1*9 + 1*1 + 0 + 2*1) = 12;   i=5: 3*(1*16 + 1*4 + 2*1 + 0) = 66
#       total 120 / n=6 = 20
#     kappa_w = 1 - 2 / 20 = 0.9
#   means: A = 24/6 = 4.0, B = 22/6 = 3.6667; low items (any score <= 2): item 5 only
# With a third rater C identical to A: pairs A-B, A-C, B-C have agreement 4/6, 1, 4/6 -> mean 7/9 = 0.7778,
#   kappa 5/9, 1, 5/9 -> mean 19/27 = 0.7037; weighted 0.9, 1, 0.9 -> mean 14/15 = 0.9333.
# Sub-concepts: both raters gave every item 5 -> agreement 1.0, kappa undefined (p_e = 1) -> None.


def _review_dir(tmp_path: Path) -> Path:
    items = [
        {
            "item_id": f"p-{k}",
            "component": "single",
            "symptoms": "Depressed_Mood",
            "style": "clinical",
            "text": f"post {k}",
        }
        for k in range(1, 7)
    ] + [
        {
            "item_id": f"s-{k}",
            "component": "subconcept",
            "symptoms": "Sleep_disturbance",
            "style": "",
            "text": f"sub-concept {k}",
        }
        for k in range(1, 4)
    ]
    folder = tmp_path / "review"
    folder.mkdir()
    (folder / "sample.json").write_text(json.dumps({"source": "fixture", "seed": 0, "items": items}))
    return folder


def _csv(path: Path, scores: list[int], subconcepts: int | None = 5) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["item_id", "component", "symptoms", "style", "text", "score", "comment"])
        for k, s in enumerate(scores, 1):
            w.writerow([f"p-{k}", "single", "Depressed_Mood", "clinical", f"post {k}", s, ""])
        for k in range(1, 4):
            w.writerow(
                [f"s-{k}", "subconcept", "Sleep_disturbance", "", f"sub-concept {k}", subconcepts or "", ""]
            )
    return path


def _labelstudio(path: Path, scores: list[int]) -> Path:
    """Label Studio's JSON export shape: choices for the score, a text area for the comment."""
    tasks = []
    ids = [f"p-{k}" for k in range(1, 7)] + [f"s-{k}" for k in range(1, 4)]
    for item, score in zip(ids, [*scores, 5, 5, 5], strict=True):
        result = [
            {"from_name": "score", "to_name": "text", "type": "choices", "value": {"choices": [str(score)]}},
            {"from_name": "comment", "to_name": "text", "type": "textarea", "value": {"text": ["ok"]}},
        ]
        tasks.append(
            {
                "id": len(tasks) + 1,
                "data": {"item_id": item, "text": "..."},
                "annotations": [{"completed_by": 2, "was_cancelled": False, "result": result}],
            }
        )
    path.write_text(json.dumps(tasks))
    return path


def test_agreement_matches_the_hand_computation(tmp_path: Path) -> None:
    folder = _review_dir(tmp_path)
    counts = import_ratings(folder, [_csv(tmp_path / "a.csv", A), _labelstudio(tmp_path / "b.json", B)])
    assert counts == {"a": 9, "b": 9}
    rep = agreement_report(folder)
    single = rep["components"]["single"]
    assert single["mean_by_rater"] == {"a": 4.0, "b": pytest.approx(3.6667, abs=1e-4)}
    assert single["percent_agreement"] == pytest.approx(4 / 6, abs=1e-4)
    assert single["kappa"] == pytest.approx(5 / 9, abs=1e-4)
    assert single["quadratic_kappa"] == pytest.approx(0.9, abs=1e-4)
    assert [it["item_id"] for it in single["low_items"]] == ["p-5"]
    assert single["low_items"][0]["scores"] == {"a": 2, "b": 1}
    sub = rep["components"]["subconcept"]
    assert sub["percent_agreement"] == 1.0 and sub["kappa"] is None and sub["quadratic_kappa"] is None
    assert "multi" not in rep["components"]


def test_three_raters_average_over_pairs(tmp_path: Path) -> None:
    folder = _review_dir(tmp_path)
    import_ratings(folder, [_csv(tmp_path / f"{n}.csv", s) for n, s in (("a", A), ("b", B), ("c", A))])
    single = agreement_report(folder)["components"]["single"]
    assert single["pairs"]["a vs c"]["kappa"] == 1.0
    assert single["percent_agreement"] == pytest.approx(7 / 9, abs=1e-4)
    assert single["kappa"] == pytest.approx(19 / 27, abs=1e-4)
    assert single["quadratic_kappa"] == pytest.approx(14 / 15, abs=1e-4)


def test_one_labelstudio_export_with_two_annotators(tmp_path: Path) -> None:
    """A shared Label Studio project exports both annotators in one file: one rater each."""
    folder = _review_dir(tmp_path)
    a_tasks = json.loads(_labelstudio(tmp_path / "a.json", A).read_text())
    b_tasks = json.loads(_labelstudio(tmp_path / "b.json", B).read_text())
    for ta, tb in zip(a_tasks, b_tasks, strict=True):
        ta["annotations"][0]["completed_by"] = {"id": 1, "email": "ana@clinic.org"}
        tb["annotations"][0]["completed_by"] = {"id": 2, "email": "ben@clinic.org"}
        ta["annotations"].append(tb["annotations"][0])
    (tmp_path / "project.json").write_text(json.dumps(a_tasks))
    assert import_ratings(folder, [tmp_path / "project.json"]) == {"project-ana": 9, "project-ben": 9}
    single = agreement_report(folder)["components"]["single"]
    assert single["kappa"] == pytest.approx(5 / 9, abs=1e-4)
    assert single["quadratic_kappa"] == pytest.approx(0.9, abs=1e-4)


def test_pair_agreement_agrees_with_sklearn_directly() -> None:
    from sklearn.metrics import cohen_kappa_score

    got = pair_agreement(A, B)
    assert got["kappa"] == pytest.approx(cohen_kappa_score(A, B), abs=1e-4)
    assert got["quadratic_kappa"] == pytest.approx(cohen_kappa_score(A, B, weights="quadratic"), abs=1e-4)


@pytest.mark.parametrize(
    ("scores", "message"),
    [([5, 5, 7, 3, 2, 5], "outside the 1-5 scale"), ([5, 5, "good", 3, 2, 5], "is not a number")],
)
def test_bad_scores_are_refused_with_the_line(tmp_path: Path, scores: list, message: str) -> None:
    folder = _review_dir(tmp_path)
    with pytest.raises(InputError, match=message) as err:
        import_ratings(folder, [_csv(tmp_path / "a.csv", scores)])
    assert "line 4" in str(err.value)
    assert not (folder / "ratings").exists()


def test_unknown_item_is_refused(tmp_path: Path) -> None:
    folder = _review_dir(tmp_path)
    path = _csv(tmp_path / "a.csv", A)
    path.write_text(path.read_text().replace("p-3,", "p-99,"))
    with pytest.raises(InputError, match="p-99"):
        import_ratings(folder, [path])


CONFIG = small_fake_run(seed=3)


def cli(*args: str) -> tuple[int, str]:
    """Run a command in-process (typer's CliRunner); exit code and stdout."""
    from typer.testing import CliRunner

    from synsym.cli.main import app

    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def test_round_trip_on_a_run(tmp_path: Path) -> None:
    from synsym.pipeline.config import load_run_config
    from synsym.pipeline.runner import run_pipeline

    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    run_pipeline(load_run_config(cfg, []), tmp_path / "run")
    assert cli("review", "export", str(tmp_path / "run"), "--n", "60", "--out", str(tmp_path / "rev"))[0] == 0
    rows = list(csv.DictReader((tmp_path / "rev" / "items.csv").open()))
    posts = [r for r in rows if r["component"] != "subconcept"]
    assert len(posts) == 60 and sum(r["component"] == "subconcept" for r in rows) == 12
    assert {r["style"] for r in posts} == {"clinical", "colloquial"}
    assert {r["component"] for r in posts} == {"single", "multi"}
    # round robin over (symptom, style, single/multi) strata: every symptom is in the sample
    assert len({s for r in posts for s in r["symptoms"].split("; ")}) == 14
    tasks = json.loads((tmp_path / "rev" / "labelstudio_tasks.json").read_text())
    assert len(tasks) == len(rows) and all("item_id" in t["data"] for t in tasks)
    config = ET.fromstring((tmp_path / "rev" / "labelstudio_config.xml").read_text())
    assert [c.get("value") for c in config.iter("Choice")] == ["1", "2", "3", "4", "5"]
    for name, score in (("r1", "5"), ("r2", "4")):
        filled = tmp_path / f"{name}.csv"
        with filled.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows({**r, "score": score} for r in rows)
    assert (
        cli("review", "import", str(tmp_path / "rev"), str(tmp_path / "r1.csv"), str(tmp_path / "r2.csv"))[0]
        == 0
    )
    code, stdout = cli("review", "report", str(tmp_path / "rev"), "--json")
    assert code == 0
    rep = json.loads(stdout)
    assert rep["components"]["single"]["mean_by_rater"]["r1"] == 5.0
    assert rep["components"]["single"]["percent_agreement"] == 0.0
    with pytest.raises(InputError, match=r"no sample\.json"):
        cli("review", "report", str(tmp_path / "nowhere"))
