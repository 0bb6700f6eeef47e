"""Export: schema and types, label projections, the paper's CSV layout, HF round trip, card, atomic writes."""

from __future__ import annotations

import ast
import csv
import json
import os
import stat
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synsym.core.columns import COLUMNS, Post, new_post
from synsym.core.dataset import read_export
from synsym.core.errors import InputError
from synsym.core.taxonomy import Taxonomy, load_taxonomy
from synsym.recipe.export import stage as export_mod
from synsym.recipe.export.stage import (
    PAPER_CSV_COLUMNS,
    CardInfo,
    paper_csv_row,
    write_dataset,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PAPER_CSV = SHARED / "synsym-kdd2026" / "synth_all_dsm5.csv"


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy("depression-14")


def _post(i: int, text: str, style: str, symptoms: list[str], **kw: Any) -> Post:
    stage = "compose" if len(symptoms) > 1 else "generate"
    return new_post(
        id=f"{i:016x}", text=text, style=style, symptoms=symptoms, stage=stage, backend="fake",
        model="fake-1", template="t" * 12, request_key=f"key{i}", judge_method="llm",
        judge_scores={s: 4.0 + 0.5 * (i % 2) for s in symptoms}, **kw,
    )  # fmt: skip


def _drop(stage: str, cls: str) -> dict[str, Any]:
    return {"drop_class": cls, "drop_detail": f"{cls} detail", "dropped_by": stage}


@pytest.fixture()
def rows() -> tuple[list[Post], list[Post]]:
    kept = [
        _post(1, "I feel empty and sad most days.", "clinical", ["Depressed_Mood"], subconcept="Emptiness"),
        _post(2, "cant sleep again, up at 4am", "colloquial", ["Sleep_disturbance"]),
        _post(3, 'Snapping at everyone, "again", ugh.', "colloquial", ["Anger_Irritability"]),
        _post(
            4,
            "I'm exhausted, I barely eat, and I can't focus, so what's the point.",
            "clinical",
            ["Decreased_energy_tiredness_fatigue", "Inattention", "Pessimism", "Weight_and_appetite_change"],
            severity="moderate",
        ),
        _post(
            5,
            "Nothing is fun\nand I wish I weren't here.",
            "colloquial",
            ["Suicidal_ideas", "Loss_of_interest_or_motivation"],
            severity="severe",
        ),
    ]
    dropped = [
        _post(6, "I feel a bit meh.", "colloquial", ["Depressed_Mood"], **_drop("judge", "below_threshold")),
        _post(
            7,
            "cant sleep again, up at 4am!",
            "colloquial",
            ["Sleep_disturbance"],
            **_drop("dedup", "near_duplicate"),
        ),
        _post(8, "", "colloquial", ["Sleep_disturbance"], **_drop("generate", "invalid_output")),
    ]
    return kept, dropped


def _card() -> CardInfo:
    recipe = {
        "stages": ["expand", "generate", "compose", "judge"],
        "backend": {"name": "fake", "model": "fake-1"},
    }
    return CardInfo(
        recipe=recipe, stages=["expand", "generate", "compose", "dedup", "judge", "export"], seed=7
    )


def _write(
    run: Path, kept: list[Post], dropped: list[Post], tax: Taxonomy, formats: tuple[str, ...]
) -> dict[str, Path]:
    manifest = {"seed": 7, "config": {"b": 1, "a": Path("x/y")}}
    return write_dataset(run, kept, dropped, tax, formats=formats, manifest=manifest, card=_card())


def test_parquet_columns_types_and_labels(
    tmp_path: Path, tax: Taxonomy, rows: tuple[list[Post], list[Post]]
) -> None:
    kept, dropped = rows
    paths = _write(tmp_path, kept, dropped, tax, ("parquet",))
    table = pq.read_table(paths["parquet"])
    spaces = list(tax.label_spaces)
    assert table.column_names[:3] == ["text", "style", "symptoms"]
    assert [c for c in table.column_names if c.startswith("labels_")] == [f"labels_{s}" for s in spaces]
    dropped_only = {"drop_class", "drop_detail", "dropped_by", "drop_thresholds"}
    assert {c.name for c in COLUMNS} - set(table.column_names) == dropped_only
    schema = table.schema
    assert schema.field("symptoms").type == pa.list_(pa.string())
    for s in spaces:
        assert schema.field(f"labels_{s}").type == pa.list_(pa.int8())
    assert schema.field("judge_scores").type == pa.map_(pa.string(), pa.float64())
    assert schema.field("subconcept").type == pa.string()
    meta = json.loads(schema.metadata[b"synsym"])
    assert meta["label_spaces"]["phq9"] == tax.space("phq9").labels

    data = table.to_pylist()
    assert [d["id"] for d in data] == [r["id"] for r in kept]  # row order kept
    for d, r in zip(data, kept, strict=True):
        assert d["labels_phq9"] == tax.multi_hot(r["symptoms"], "phq9")
        assert d["labels_dsm14"] == tax.multi_hot(r["symptoms"])
    assert data[2]["labels_phq9"] == [0] * 9  # Anger_Irritability has no PHQ-9 item
    assert sum(data[3]["labels_dsm14"]) == 4


def test_round_trip_and_dropped(tmp_path: Path, tax: Taxonomy, rows: tuple[list[Post], list[Post]]) -> None:
    kept, dropped = rows
    paths = _write(tmp_path, kept, dropped, tax, ())
    assert read_export(tmp_path).rows == kept
    assert read_export(paths["dropped"]).rows == dropped
    last = pq.read_table(paths["dropped"]).column_names[-4:]
    assert last == ["drop_class", "drop_detail", "dropped_by", "drop_thresholds"]


def test_empty_dropped_is_a_typed_file(
    tmp_path: Path, tax: Taxonomy, rows: tuple[list[Post], list[Post]]
) -> None:
    kept, _ = rows
    paths = _write(tmp_path, kept, [], tax, ())
    table = pq.read_table(paths["dropped"])
    assert table.num_rows == 0
    assert table.schema.field("drop_class").type == pa.string()
    assert table.schema.field("labels_phq9").type == pa.list_(pa.int8())
    assert read_export(paths["dropped"]).rows == []


def test_jsonl_and_csv(tmp_path: Path, tax: Taxonomy, rows: tuple[list[Post], list[Post]]) -> None:
    kept, dropped = rows
    paths = _write(tmp_path, kept, dropped, tax, ("jsonl", "csv"))
    lines = [json.loads(x) for x in paths["jsonl"].read_text(encoding="utf-8").splitlines()]
    assert [x["text"] for x in lines] == [r["text"] for r in kept]
    assert lines[3]["labels_phq9"] == tax.multi_hot(kept[3]["symptoms"], "phq9")
    assert lines[0]["judge_scores"] == kept[0]["judge_scores"]

    with open(paths["csv"], encoding="utf-8", newline="") as fh:
        got = list(csv.DictReader(fh))
    assert tuple(got[0]) == PAPER_CSV_COLUMNS
    assert [g["post"] for g in got] == [r["text"] for r in kept]  # commas, quotes and newlines survive
    assert got[0]["symptom"] == "Depressed_Mood" and got[0]["description"] == "Emptiness"
    assert got[1]["description"] == ""  # a post for the symptom itself, as in the release
    assert ast.literal_eval(got[3]["symptom"]) == kept[3]["symptoms"] and got[3]["description"] == ""
    assert ast.literal_eval(got[3]["label"]) == tax.multi_hot(kept[3]["symptoms"])
    assert got[4]["type"] == "colloquial"


def test_csv_layout_matches_the_paper(tax: Taxonomy, rows: tuple[list[Post], list[Post]]) -> None:
    if not PAPER_CSV.is_file():
        pytest.skip(f"{PAPER_CSV} is absent (../shared is not part of a fresh clone)")
    with open(PAPER_CSV, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        paper = [r[1:] for r in reader]
    # The release's first column is a stray pandas index (`Unnamed: 0`); the layout is the rest.
    assert tuple(c for c in header if not c.startswith("Unnamed")) == PAPER_CSV_COLUMNS
    single = next(r for r in paper if not r[2].startswith("[") and r[3])
    bare = next(r for r in paper if not r[2].startswith("[") and not r[3])
    multi = next(r for r in paper if r[2].startswith("["))
    for i, (text, style, symptom, description, label) in enumerate((single, bare, multi)):
        names = ast.literal_eval(symptom) if symptom.startswith("[") else [symptom]
        post = _post(i, text, style, names, subconcept=description or None)
        assert paper_csv_row(post, tax) == [text, style, symptom, description, label]  # byte for byte


def test_hf_dataset_reloads(tmp_path: Path, tax: Taxonomy, rows: tuple[list[Post], list[Post]]) -> None:
    datasets = pytest.importorskip("datasets")
    kept, dropped = rows
    paths = _write(tmp_path, kept, dropped, tax, ("hf",))
    dd = datasets.load_from_disk(str(paths["hf"]))
    train = dd["train"]
    assert train.num_rows == len(kept) and train["text"] == [r["text"] for r in kept]
    feats = train.features
    assert feats["style"].names == ["clinical", "colloquial"]
    assert feats["style"].int2str(train[1]["style"]) == "colloquial"
    assert [tax.names[i] for i in train[3]["symptoms"]] == kept[3]["symptoms"]
    assert train[3]["labels_phq9"] == tax.multi_hot(kept[3]["symptoms"], "phq9")
    assert json.loads(train[0]["judge_scores"]) == kept[0]["judge_scores"]
    # a second export replaces the folder whole
    _write(tmp_path, kept[:2], dropped, tax, ("hf",))
    assert datasets.load_from_disk(str(paths["hf"]))["train"].num_rows == 2
    assert not list(tmp_path.glob(".*"))


def test_hf_without_datasets_is_a_clear_error(
    tmp_path: Path, tax: Taxonomy, rows: tuple[list[Post], list[Post]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    real = builtins.__import__

    def fake_import(name: str, *args: Any, **kw: Any) -> Any:
        if name == "datasets":
            raise ImportError("no datasets")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(InputError, match=r"synsym\[ml\]"):
        _write(tmp_path / "run", *rows, tax, ("hf",))
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_card(tmp_path: Path, tax: Taxonomy, rows: tuple[list[Post], list[Post]]) -> None:
    kept, dropped = rows
    text = _write(tmp_path, kept, dropped, tax, ())["card"].read_text(encoding="utf-8")
    header = text.split("---\n")[1]
    assert "task_categories:\n- text-classification" in header and "license: unknown" in header
    for needle in (
        "## Intended use", "## Limitations", "Not for diagnosis", "not clinician annotations", "biases",
        "crisis", "988", "116 123", "findahelpline.com", "2603.21529", "Kang et al.",
        "| generate | rows made | 5 |", "| compose | rows made | 2 |",
        "| generate | requests failed: invalid_output | 1 |", "| dedup | dropped: near_duplicate | 1 |",
        "| judge | dropped: below_threshold | 1 |", "| **dataset** | **rows kept** | 5 |",
        "### `labels_phq9`", "### `labels_bdi2`",
    ):  # fmt: skip
        assert needle in text, needle
    assert "expand" not in text.split("## Funnel")[1].split("##")[0]  # stages that made and dropped nothing
    assert "| Depressed_Mood | 1 | 20.0% | 1 | 0 |" in text  # label distribution computed from the rows
    assert "1 of 5 posts have no label in `phq9`" in text


def test_manifest(tmp_path: Path, tax: Taxonomy, rows: tuple[list[Post], list[Post]]) -> None:
    kept, dropped = rows
    paths = _write(tmp_path, kept, dropped, tax, ("jsonl", "csv"))
    raw = paths["manifest"].read_text(encoding="utf-8")
    man = json.loads(raw)
    assert list(man) == sorted(man) and man["seed"] == 7 and man["config"] == {"a": "x/y", "b": 1}
    files = man["export"]["files"]
    assert set(files) == {"dataset.parquet", "dropped.parquet", "dataset.jsonl", "dataset.csv", "README.md"}
    assert files["dataset.parquet"]["rows"] == 5 and files["dropped.parquet"]["rows"] == 3
    assert man["export"]["rows"] == {"kept": 5, "dropped": 3}
    assert set(paths) == {"parquet", "dropped", "jsonl", "csv", "card", "manifest"}


def test_atomic_writes_leave_no_temporaries(
    tmp_path: Path, tax: Taxonomy, rows: tuple[list[Post], list[Post]], monkeypatch: pytest.MonkeyPatch
) -> None:
    kept, dropped = rows
    _write(tmp_path, kept, dropped, tax, ("jsonl", "csv"))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert not [n for n in before if n.startswith(".")]

    def boom(*args: Any, **kw: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(export_mod, "write_csv", boom)
    with pytest.raises(OSError):
        _write(tmp_path, kept[:1], dropped, tax, ("jsonl", "csv"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert (tmp_path / "manifest.json").read_bytes() == before["manifest.json"]  # old manifest still stands

    (tmp_path / ".dataset.parquet.abc.tmp").write_bytes(b"half")  # what a SIGKILL would leave
    monkeypatch.undo()
    _write(tmp_path, kept, dropped, tax, ("jsonl", "csv"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_bad_input(tmp_path: Path, tax: Taxonomy, rows: tuple[list[Post], list[Post]]) -> None:
    kept, dropped = rows
    card = _card()
    with pytest.raises(InputError, match="did you mean jsonl"):
        write_dataset(tmp_path / "a", kept, dropped, tax, formats=("jsnl",), manifest={}, card=card)
    with pytest.raises(InputError, match="unknown label space"):
        write_dataset(tmp_path / "a", kept, dropped, tax, label_spaces=("phq8",), manifest={}, card=card)
    bad = [_post(9, "x", "clinical", ["Depresed_Mood"])]
    with pytest.raises(InputError, match="Depressed_Mood"):
        write_dataset(tmp_path / "a", bad, [], tax, manifest={}, card=card)
    with pytest.raises(ValueError, match="drop_class"):
        write_dataset(tmp_path / "a", kept, [kept[0]], tax, manifest={}, card=card)
    assert not (tmp_path / "a").exists()
    paths = write_dataset(tmp_path / "b", kept, dropped, tax, label_spaces=["phq9"], manifest={}, card=card)
    assert [c for c in pq.read_table(paths["parquet"]).column_names if c.startswith("labels_")] == [
        "labels_phq9"
    ]


def test_same_rows_same_bytes_and_usual_modes(
    tmp_path: Path, tax: Taxonomy, rows: tuple[list[Post], list[Post]]
) -> None:
    kept, dropped = rows
    a = _write(tmp_path / "a", kept, dropped, tax, ("jsonl", "csv"))
    b = _write(tmp_path / "b", kept, dropped, tax, ("jsonl", "csv"))
    for key in ("parquet", "dropped", "jsonl", "csv", "card", "manifest"):
        assert a[key].read_bytes() == b[key].read_bytes(), key
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(a["parquet"].stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600


def test_empty_export(tmp_path: Path, tax: Taxonomy) -> None:
    paths = _write(tmp_path, [], [], tax, ("jsonl", "csv"))
    assert pq.read_table(paths["parquet"]).num_rows == 0
    assert paths["jsonl"].read_text() == ""
    assert paths["csv"].read_text().splitlines() == [",".join(PAPER_CSV_COLUMNS)]
    assert "| **dataset** | **rows kept** | 0 |" in paths["card"].read_text()
