"""Quality metrics: lexical figures on hand-checkable texts, shortcut and leakage detection on planted
cases, embedding figures on a few dozen texts with the offline MiniLM, and `synsym inspect` end to end on
a fake-backend run and on a file in the paper's layout."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from synsym.core.columns import Post, new_post
from synsym.quality import QualityData, inspect_dataset, load_quality_data
from synsym.quality.balance import balance
from synsym.quality.diversity import distinct_n, diversity, embedding_spread, self_bleu
from synsym.quality.leakage import leakage
from synsym.quality.shortcuts import shortcuts
from synsym.testing.runs import small_fake_run

PAPER = Path(__file__).resolve().parents[2] / "shared" / "data" / "synsym-kdd2026" / "synth_all_dsm5.csv"
CONFIG = small_fake_run(seed=5, formats=("parquet", "jsonl", "csv"))


def synsym(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synsym.cli.main", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def make_run(root: Path, config: dict) -> Path:
    """A fake-backend run directory, made in-process (a few seconds)."""
    from synsym.pipeline.config import load_run_config
    from synsym.pipeline.runner import run_pipeline

    (root / "run.yaml").write_text(yaml.safe_dump(config))
    return run_pipeline(load_run_config(root / "run.yaml", []), root / "run").run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("quality"), CONFIG)


def cli(*args: str) -> tuple[int, str]:
    """Run a command in-process (typer's CliRunner); exit code and stdout."""
    from typer.testing import CliRunner

    from synsym.cli.main import app

    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def bow_embedder(texts: list[str]) -> np.ndarray:
    """A deterministic bag-of-words 'encoder' for tests that need vectors but not meaning."""
    vecs = np.zeros((len(texts), 512), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            vecs[i, sum(map(ord, w)) % 512] += 1
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)


def test_distinct_n_by_hand() -> None:
    docs = [["a", "b", "a"], ["b", "c"]]
    assert distinct_n(docs, 1) == pytest.approx(3 / 5)  # a b a b c: {a, b, c} of 5
    assert distinct_n(docs, 2) == pytest.approx(1.0)  # (a b) (b a) (b c): all distinct
    assert distinct_n([["x", "x", "x"]], 2) == pytest.approx(1 / 2)


def test_self_bleu_bounds() -> None:
    same = [["i", "feel", "so", "tired", "all", "day"]] * 3
    assert self_bleu(same) == pytest.approx(1.0)
    disjoint = [["one", "two", "three", "four"], ["five", "six", "seven", "eight"]]
    assert self_bleu(disjoint) == 0.0
    partial = self_bleu(
        [["i", "feel", "tired", "today"], ["i", "feel", "sad", "today"], ["nothing", "else", "here", "x"]]
    )
    assert 0.0 < partial < 1.0


def _data(texts: list[str], labels: list[list[int]], names: list[str]) -> QualityData:
    return QualityData(
        texts=texts, labels=np.array(labels), label_names=names, styles=["clinical"] * len(texts)
    )


def test_balance_counts_and_cooccurrence() -> None:
    data = _data(["a", "b", "c"], [[1, 0], [1, 1], [0, 1]], ["X", "Y"])
    bal = balance(data)
    assert bal["per_symptom"] == {"X": 2, "Y": 2}
    assert (bal["single"], bal["multi"]) == (2, 1)
    assert bal["cooccurrence"] == [[2, 1], [1, 2]]
    assert bal["labels_per_post"] == pytest.approx(4 / 3, abs=1e-3)


def test_keyword_shortcut_is_flagged() -> None:
    texts = [f"I cannot sleep at night {i}" for i in range(10)] + [
        f"I feel hopeless about things {i}" for i in range(10)
    ]
    labels = [[1, 0]] * 10 + [[0, 1]] * 10
    sc = shortcuts(_data(texts, labels, ["Sleep_disturbance", "Suicidal_ideas"]))
    assert (
        sc["per_label"]["Sleep_disturbance"]["flagged"] and sc["per_label"]["Sleep_disturbance"]["f1"] == 1.0
    )
    assert not sc["per_label"]["Suicidal_ideas"]["flagged"]
    assert sc["flagged"] == ["Sleep_disturbance"]


def test_leakage_finds_a_planted_copy() -> None:
    real = [
        "my cat knocked the plant over again this morning and i laughed",
        "the bus was late twice this week",
    ]
    synthetic = [
        "i feel tired all day",
        "my cat knocked the plant over again this morning and i laughed",
        "no",
    ]
    out = leakage(synthetic, real, bow_embedder, ns=(8,))
    assert out["ngram"][0]["real_texts_sharing"] == 0.5
    assert out["ngram"][0]["synthetic_posts_sharing"] == pytest.approx(1 / 3, abs=1e-3)
    top = out["embedding"]["closest_pairs"][0]
    assert top["similarity"] == pytest.approx(1.0) and top["real"] == top["synthetic"] == real[0]
    assert out["embedding"]["real_share_at_or_above"] == 0.5


def test_minilm_sees_paraphrases_as_less_diverse() -> None:
    """On a few dozen texts: the paraphrase set has a closer nearest neighbour and less spread."""
    from synsym.quality.diversity import default_embedder

    embed = default_embedder()
    para = [
        f"{a} {b}"
        for a in ("I can't sleep", "I cannot fall asleep", "Sleep won't come", "I lie awake")
        for b in ("at night.", "most nights.", "every night.", "until 4am.", "anymore.")
    ]
    varied = [
        "I hate my job",
        "The weather is lovely",
        "My dog ate the couch",
        "Stocks fell sharply today",
        "She plays violin",
        "We lost the match",
        "Paris is expensive",
        "The soup was cold",
        "Rust has a borrow checker",
        "My tooth aches",
        "The train left early",
        "He paints birds",
        "I bought new shoes",
        "The river flooded",
        "Chess is hard",
        "Bake at 200 degrees",
        "The printer jammed",
        "Owls hunt at night",
        "Tax forms are due",
        "The lake froze",
    ]
    p, v = embedding_spread(embed(para)), embedding_spread(embed(varied))
    assert p["mean_nn_similarity"] > v["mean_nn_similarity"]
    assert p["mean_pairwise_distance"] < v["mean_pairwise_distance"]
    div = diversity(_data(para, [[1]] * len(para), ["Sleep_disturbance"]), embed)
    assert div["Sleep_disturbance"]["embedded"] == len(para)


def test_inspect_a_run_directory(run_dir: Path) -> None:
    code, stdout = cli("inspect", str(run_dir), "--no-embed")
    assert code == 0
    result = json.loads((run_dir / "quality.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert result["balance"]["n_posts"] == manifest["counts"]["kept"]
    for key in ("stages", "steps", "kept", "dropped_by_class", "failed_by_class"):
        assert result["funnel"][key] == manifest["counts"][key], key  # one computation, from the rows
    assert 0.0 <= result["prior"]["tvd"] <= 1.0 and result["prior"]["prior"] == "depression-14"
    assert set(result["diversity"]) == {"overall", *result["label_names"]}
    assert "per symptom" in stdout and "funnel:" in stdout


def test_inspect_reference_and_paper_layout(run_dir: Path, tmp_path: Path) -> None:
    """A small file in the paper's CSV layout (written here, not copied): style from `type`, sub-concept
    from `description`; used as the reference of the run."""
    path = tmp_path / "paper_like.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["", "post", "type", "symptom", "description", "label"])
        for i in range(6):
            vec = [0] * 14
            vec[i % 14] = 1
            w.writerow(
                [
                    i,
                    f"I have felt low for weeks, day {i}.",
                    "clinical" if i % 2 else "colloquial",
                    "x",
                    f"sub {i}",
                    str(vec),
                ]
            )
    data = load_quality_data(path)
    assert data.styles[:2] == ["colloquial", "clinical"] and data.subconcepts[0] == "sub 0"
    assert data.label_names[0] == "Anger_Irritability"
    result = inspect_dataset(run_dir, reference=path, embed=False)
    assert result["reference"]["balance"]["n_posts"] == 6
    assert result["reference"]["diversity"]["overall"]["n"] == 6


def test_every_export_format_reads_the_same(run_dir: Path) -> None:
    """dataset.parquet (the run), dataset.jsonl (symptom names) and dataset.csv (the paper's layout)."""
    run = load_quality_data(run_dir)
    for name in ("dataset.jsonl", "dataset.csv"):
        other = load_quality_data(run_dir / name)
        assert other.label_names == run.label_names and other.texts == run.texts
        assert np.array_equal(other.labels, run.labels) and other.styles == run.styles


def test_missing_input_exits_2(tmp_path: Path) -> None:
    done = synsym("inspect", str(tmp_path / "absent.csv"), "--no-embed")
    assert done.returncode == 2 and "not found" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.skipif(not PAPER.is_file(), reason="the paper's dataset is not in ../shared (fresh clone)")
def test_paper_dataset_counts() -> None:
    data = load_quality_data(PAPER)
    bal = balance(data)
    assert bal["n_posts"] == 18254 and bal["single"] == 12621 and bal["multi"] == 5633
    assert bal["per_style"] == {"clinical": 9134, "colloquial": 9120}
    assert bal["labels_per_post"] == pytest.approx(1.63, abs=0.01)


def test_funnel_counts_refusals_by_symptom(tmp_path: Path) -> None:
    """Refused requests show up per engine (usage failures) and per symptom (dropped rows)."""
    from synsym.core.taxonomy import load_taxonomy
    from synsym.quality.funnel import funnel
    from synsym.recipe.export.stage import CardInfo, write_dataset

    def row(i: int, symptoms: list[str], **fields: Any) -> Post:
        return new_post(id=str(i), text=f"post {i}", style="clinical", symptoms=symptoms, stage="generate",
                        backend="b", model="m", template="t", request_key=str(i), **fields)  # fmt: skip

    refused = {
        "drop_class": "refusal",
        "drop_detail": "the model refused: I can't help",
        "dropped_by": "generate",
    }
    dropped = [
        row(0, ["Suicidal_ideas"], **refused),
        row(1, ["Suicidal_ideas"], **refused),
        row(2, ["Depressed_Mood", "Suicidal_ideas"], **refused),
        row(
            3,
            ["Sleep_disturbance"],
            drop_class="below_threshold",
            drop_detail="Sleep 1 < 3",
            dropped_by="judge",
        ),
    ]
    kept = [row(10 + i, ["Sleep_disturbance"]) for i in range(10)]
    manifest = {
        "stages": ["generate", "judge", "export"],
        "usage": {
            "generator": {"calls": 20, "failures": {"refusal": 3}},
            "judge": {"calls": 14, "failures": {}},
        },
    }
    write_dataset(tmp_path, kept, dropped, load_taxonomy(), manifest={}, card=CardInfo(recipe={}))
    out = funnel(tmp_path, manifest)
    assert out is not None
    assert out["stages"] == [
        {"stage": "generate", "made": 11, "failed": {"refusal": 3}, "dropped": {}},
        {"stage": "judge", "made": 0, "failed": {}, "dropped": {"below_threshold": 1}},
    ]
    assert out["steps"] == [{"step": "written", "n": 11}, {"step": "after judge", "n": 10}]
    assert out["kept"] == 10
    assert out["refusals"]["total"] == 3
    assert out["refusals"]["by_engine"]["generator"] == {"refused": 3, "calls": 20, "share": 0.15}
    assert out["refusals"]["by_symptom"] == {"Suicidal_ideas": 3, "Depressed_Mood": 1}
