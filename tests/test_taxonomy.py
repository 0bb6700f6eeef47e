"""Taxonomies and label spaces: the built-in data, validation errors, project/lift, and the CLI."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from synsym.core.errors import ConfigError, InputError
from synsym.core.taxonomy import LabelSpace, Taxonomy, builtin_taxonomies, load_taxonomy

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DSM14 = [
    "Anger_Irritability",
    "Decreased_energy_tiredness_fatigue",
    "Depressed_Mood",
    "Genitourinary_symptoms",
    "Hyperactivity_agitation",
    "Inattention",
    "Indecisiveness",
    "Suicidal_ideas",
    "Worthlessness_and_guilty",
    "Loss_of_interest_or_motivation",
    "Pessimism",
    "Poor_memory",
    "Sleep_disturbance",
    "Weight_and_appetite_change",
]
PHQ9 = [
    "Low_Self-Esteem",
    "Feeling_Down",
    "Lack_of_Energy",
    "Lack_of_Interest",
    "Hyper_Lower_Activity",
    "Appetite_Change",
    "Suicidal_Ideation",
    "Concentration_Problems",
    "Sleep_Disturbance",
]
# SynSym's 14 -> 9 collapse, as stated in ../shared/README.md
COLLAPSE = {
    "Worthlessness_and_guilty": ["Low_Self-Esteem"],
    "Depressed_Mood": ["Feeling_Down"],
    "Pessimism": ["Feeling_Down"],
    "Decreased_energy_tiredness_fatigue": ["Lack_of_Energy"],
    "Loss_of_interest_or_motivation": ["Lack_of_Interest"],
    "Genitourinary_symptoms": ["Lack_of_Interest"],
    "Hyperactivity_agitation": ["Hyper_Lower_Activity"],
    "Weight_and_appetite_change": ["Appetite_Change"],
    "Suicidal_ideas": ["Suicidal_Ideation"],
    "Inattention": ["Concentration_Problems"],
    "Indecisiveness": ["Concentration_Problems"],
    "Poor_memory": ["Concentration_Problems"],
    "Sleep_disturbance": ["Sleep_Disturbance"],
    "Anger_Irritability": [],
}
REDSM5 = [
    "DEPRESSED_MOOD",
    "ANHEDONIA",
    "APPETITE_CHANGE",
    "SLEEP_ISSUES",
    "PSYCHOMOTOR",
    "FATIGUE",
    "WORTHLESSNESS",
    "COGNITIVE_ISSUES",
    "SUICIDAL_THOUGHTS",
]


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy("depression-14")


def minimal(**over: object) -> dict:
    """A small valid taxonomy as a dict, with top-level keys replaced by `over`."""
    data: dict = {
        "name": "tiny",
        "styles": ["clinical", "colloquial"],
        "symptoms": [
            {
                "name": s,
                "definition": f"{s} definition",
                "seeds": [f"{s} seed"],
                "examples": {"clinical": [f"I have {s}."], "colloquial": [f"ugh {s}"]},
            }
            for s in ("A", "B", "C")
        ],
        "label_spaces": {
            "own": {"labels": ["A", "B", "C"], "mapping": "identity"},
            "coarse": {"labels": ["X", "Y"], "mapping": {"A": ["X"], "B": ["X"], "C": []}},
        },
    }
    data.update(over)
    return data


def write(tmp_path: Path, data: object, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(
        data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8"
    )
    return path


def errors_of(tmp_path: Path, data: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_taxonomy(write(tmp_path, data))
    return str(info.value)


# --- the built-in data -------------------------------------------------------------------------


def test_builtins_listed_and_valid() -> None:
    assert {"depression-14", "anxiety-gad7"} <= set(builtin_taxonomies())
    for name in builtin_taxonomies():
        assert load_taxonomy(name).name == name


def test_depression14_symptoms_in_synsym_order(tax: Taxonomy) -> None:
    assert list(tax.names) == DSM14
    assert tax.styles == ["clinical", "colloquial"]
    for s in tax.symptoms:
        assert s.definition.strip() and "\n" not in s.definition
        assert 5 <= len(s.seeds) <= 8, s.name
        for style in ("clinical", "colloquial"):
            posts = s.examples[style]
            assert len(posts) == 3, (s.name, style)
            for post in posts:
                assert 10 < len(post) < 200, post
                assert len(re.findall(r"[.!?]+(\s|$)", post)) <= 2, post


def test_label_spaces_declared(tax: Taxonomy) -> None:
    assert set(tax.label_spaces) == {"dsm14", "phq9", "bdi2", "dsm5"}
    assert tax.space("dsm14").labels == DSM14
    assert tax.space("phq9").labels == PHQ9
    assert len(tax.space("bdi2").labels) == 21
    assert tax.space("dsm5").labels == REDSM5
    for space in tax.label_spaces.values():
        assert space.unreachable_labels() == []


def test_phq9_collapse_is_synsyms(tax: Taxonomy) -> None:
    rel = tax.space("phq9").relation()
    assert {s: list(labs) for s, labs in rel.items()} == COLLAPSE
    assert tax.space("phq9").project([1] + [0] * 13) == [0] * 9  # Anger_Irritability -> nothing


def test_multi_hot_and_decode(tax: Taxonomy) -> None:
    vec = tax.multi_hot(["Pessimism", "Depressed_Mood", "Suicidal_ideas"])
    assert vec == [1 if s in {"Pessimism", "Depressed_Mood", "Suicidal_ideas"} else 0 for s in DSM14]
    assert tax.multi_hot(["Pessimism", "Depressed_Mood"], space="dsm14") == tax.multi_hot(
        ["Pessimism", "Depressed_Mood"]
    )
    assert tax.multi_hot(["Pessimism", "Depressed_Mood"], space="phq9") == [0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert tax.decode(vec) == ["Depressed_Mood", "Suicidal_ideas", "Pessimism"]
    assert tax.order(["Sleep_disturbance", "Anger_Irritability"]) == (
        "Anger_Irritability",
        "Sleep_disturbance",
    )


def test_unknown_symptom_suggests(tax: Taxonomy) -> None:
    with pytest.raises(InputError, match="did you mean Depressed_Mood"):
        tax.symptom("Depresed_mood")
    with pytest.raises(InputError, match="did you mean phq9"):
        tax.multi_hot(["Pessimism"], space="phq-9")
    with pytest.raises(InputError, match="unknown symptom"):
        tax.multi_hot(["Pessimism", "Happiness"])


def test_project_and_lift(tax: Taxonomy) -> None:
    phq = tax.space("phq9")
    assert phq.ambiguous_labels() == ["Feeling_Down", "Lack_of_Interest", "Concentration_Problems"]
    assert phq.unmapped_symptoms() == ["Anger_Irritability"]
    assert phq.lift_names(["Feeling_Down", "Suicidal_Ideation"]) == [
        "Depressed_Mood",
        "Suicidal_ideas",
        "Pessimism",
    ]
    assert phq.lift_names(["Feeling_Down", "Suicidal_Ideation"], mode="unambiguous") == ["Suicidal_ideas"]
    bdi = tax.space("bdi2")
    assert bdi.project_names(["Worthlessness_and_guilty"]) == [
        "Past_Failure",
        "Guilty_Feelings",
        "Punishment_Feelings",
        "Self-Dislike",
        "Self-Criticalness",
        "Worthlessness",
    ]
    assert bdi.lift_names(["Guilty_Feelings"], mode="unambiguous") == ["Worthlessness_and_guilty"]
    with pytest.raises(InputError, match="expected 14"):
        phq.project([1, 0])


def test_project_lift_round_trips(tax: Taxonomy) -> None:
    """project(lift(y)) covers y (equals it when the sources map only there);
    lift(project(x)) covers every mapped symptom of x."""
    for space in tax.label_spaces.values():
        n = len(space.labels)
        for i in range(n):
            y = [1 if j == i else 0 for j in range(n)]
            back = space.project(space.lift(y))
            assert back[i] == 1  # a lifted label comes back; siblings of its sources may come along
            if all(len(space.relation()[s]) == 1 for s in space.sources(space.labels[i])):
                assert back == y
        unmapped = set(space.unmapped_symptoms())
        for i, s in enumerate(tax.names):
            x = [1 if j == i else 0 for j in range(len(tax.names))]
            lifted = space.lift(space.project(x))
            assert lifted[i] == (0 if s in unmapped else 1)
            if s not in unmapped and not set(space.relation()[s]) & set(space.ambiguous_labels()):
                assert space.lift(space.project(x), mode="unambiguous") == x


def test_unbound_label_space_says_so() -> None:
    space = LabelSpace(labels=["X"], mapping={"A": ["X"]})
    with pytest.raises(InputError, match="not attached"):
        space.project([1])


def test_anxiety_example_is_same_shape() -> None:
    gad = load_taxonomy("anxiety-gad7")
    assert len(gad.symptoms) == 7 and gad.space("gad7").labels == list(gad.names)
    assert gad.multi_hot(["Nervousness", "Restlessness"], space="gad2") == [1, 0]


# --- validation errors ------------------------------------------------------------------------


def test_user_taxonomy_file_loads(tmp_path: Path) -> None:
    tax = load_taxonomy(write(tmp_path, minimal()))
    assert tax.names == ("A", "B", "C")
    assert tax.space("coarse").ambiguous_labels() == ["X"]
    assert tax.space("coarse").lift_names(["X"]) == ["A", "B"]


def test_bad_yaml(tmp_path: Path) -> None:
    assert "not valid YAML" in errors_of(tmp_path, "name: [unclosed\n  symptoms: {")


def test_not_a_mapping(tmp_path: Path) -> None:
    assert "expected a mapping" in errors_of(tmp_path, "- just\n- a list\n")


def test_unknown_key(tmp_path: Path) -> None:
    data = minimal()
    data["symptoms"][1]["sedes"] = ["typo"]
    msg = errors_of(tmp_path, data)
    assert msg.splitlines()[0].endswith("t.yaml is not valid:")
    assert "symptoms.1.sedes -> unknown key" in msg


def test_missing_field(tmp_path: Path) -> None:
    data = minimal()
    del data["symptoms"][0]["definition"]
    assert "symptoms.0.definition -> Field required" in errors_of(tmp_path, data)


def test_unknown_symptom_and_label_in_mapping(tmp_path: Path) -> None:
    spaces = {"coarse": {"labels": ["X", "Y"], "mapping": {"A": ["X"], "b": ["X"], "C": ["Z"]}}}
    msg = errors_of(tmp_path, minimal(label_spaces=spaces))
    assert "label_spaces.coarse.mapping.b -> unknown symptom; did you mean B?" in msg
    assert "label_spaces.coarse.mapping.C.0 -> unknown label 'Z'" in msg
    assert "label_spaces.coarse.mapping -> missing symptoms ['B']" in msg


def test_duplicate_symptom(tmp_path: Path) -> None:
    data = minimal()
    data["symptoms"][2]["name"] = "A"
    assert "symptoms.2.name -> duplicate symptom 'A' (also symptoms.0)" in errors_of(tmp_path, data)


def test_examples_must_cover_declared_styles(tmp_path: Path) -> None:
    data = minimal()
    data["symptoms"][0]["examples"] = {"clinical": ["I have A."], "colloqial": ["ugh"]}
    msg = errors_of(tmp_path, data)
    assert "symptoms.0.examples.colloqial -> style 'colloqial' of A is not declared in styles" in msg
    assert "did you mean colloquial?" in msg
    assert "symptoms.0.examples -> A has no example posts for style 'colloquial'" in msg


def test_identity_space_must_list_the_symptoms(tmp_path: Path) -> None:
    spaces = {"own": {"labels": ["A", "B"], "mapping": "identity"}}
    assert "label_spaces.own.labels -> an identity space" in errors_of(tmp_path, minimal(label_spaces=spaces))


def test_missing_file_and_unknown_builtin(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        load_taxonomy(tmp_path / "nope.yaml")
    with pytest.raises(InputError, match="did you mean depression-14"):
        load_taxonomy("depresion-14")


def test_direct_construction_checks_too() -> None:
    data = minimal()
    data["symptoms"][2]["name"] = "A"
    with pytest.raises(ValidationError, match=r"symptoms\.2\.name -> duplicate symptom"):
        Taxonomy.model_validate(data)


# --- CLI --------------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synsym.cli.main", "taxonomy", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_show_builtin() -> None:
    res = cli("show")
    assert res.returncode == 0, res.stderr
    for word in ("depression-14", "Anger_Irritability", "phq9", "bdi2", "dsm5"):
        assert word in res.stdout


def test_cli_validate_ok_and_invalid(tmp_path: Path) -> None:
    good = write(tmp_path, minimal(), "good.yaml")
    res = cli("validate", str(good))
    assert res.returncode == 0 and "OK" in res.stdout, res.stderr
    data = minimal()
    data["symptoms"][0]["extra"] = 1
    res = cli("validate", str(write(tmp_path, data, "bad.yaml")))
    assert res.returncode == 2
    assert "symptoms.0.extra -> unknown key" in res.stderr
    assert "Traceback" not in res.stderr
    res = cli("show", "no-such-taxonomy")
    assert res.returncode == 2 and "neither a built-in taxonomy" in res.stderr


# --- facts checked against ../shared (skipped on a fresh clone) ------------------------------


needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"{SHARED} absent: ../shared is not in a fresh clone"
)


@needs_shared
def test_phq9_projection_matches_released_dataset(tax: Taxonomy) -> None:
    """Projecting every released 14-dim label reproduces the released PHQ-9 label, row by row."""
    folder = SHARED / "synsym-kdd2026"
    with open(folder / "synth_all_dsm5.csv", encoding="utf-8") as a, open(folder / "synth_all_phq9.csv") as b:
        rows = list(zip(csv.DictReader(a), csv.DictReader(b), strict=True))
    assert len(rows) == 18254
    phq = tax.space("phq9")
    for ra, rb in rows:
        assert phq.project(json.loads(ra["label"])) == json.loads(rb["label"])


@needs_shared
def test_dsm5_labels_are_redsm5s(tax: Taxonomy) -> None:
    with open(SHARED / "redsm5-sample" / "redsm5_annotations_sample_paraphrased.csv", encoding="utf-8") as f:
        used = {row["DSM5_symptom"] for row in csv.DictReader(f)}
    assert used <= set(tax.space("dsm5").labels)
