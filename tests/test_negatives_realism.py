"""Hard negatives, negated statements, long posts, personas, a length-limited style and surface
transformations: what each row carries, what the judge drops, and that labels never change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from synsym.core.atomic import read_jsonl
from synsym.core.columns import DropClass, new_post
from synsym.core.errors import ConfigError
from synsym.core.taxonomy import load_taxonomy
from synsym.pipeline.config import load_run_config, run_config
from synsym.pipeline.graph import fingerprints
from synsym.pipeline.runner import run_pipeline
from synsym.recipe.common.scoring import targets, verdict
from synsym.recipe.common.statements import clean_passage
from synsym.recipe.contexts import MIN_CONTEXT_WORDS
from synsym.recipe.negatives import split_counts
from synsym.recipe.stages import STAGES
from synsym.testing.runs import small_fake_run

NAMES = load_taxonomy("depression-14").names
PERSONAS = [
    {"name": "student", "age_band": "18-24", "situation": "a student", "register": "slang"},
    {"name": "retiree", "age_band": "65+", "situation": "retired", "register": "formal"},
]


def realistic(judge: str = "none", **changes: Any) -> dict[str, Any]:
    cfg = small_fake_run(seed=3)
    cfg.update(
        styles=[
            {"name": "clinical", "description": "plain"},
            {"name": "tweet", "description": "a tweet", "max_words": 14},
        ],
        personas=PERSONAS,
        negatives={"n": 24, "negated": 8},
        realism={
            "long_posts": {"n": 40, "min_words": 40, "max_words": 90, "negative_share": 0.25},
            "transforms": {"lowercase": 0.5, "typos": 0.3, "slang": 0.5, "no_punctuation": 0.3},
        },
        judge={"method": judge},
    )
    cfg.update(changes)
    return cfg


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], list[dict]]:
    out = tmp_path_factory.mktemp("realistic")
    run_pipeline(run_config(realistic()), out, progress=False)
    return (
        out,
        pq.read_table(out / "dataset.parquet").to_pylist(),
        pq.read_table(out / "dropped.parquet").to_pylist(),
    )


def test_hard_negatives_are_all_zero_rows_with_their_kind(run: tuple[Path, list[dict], list[dict]]) -> None:
    _, kept, dropped = run
    written = [r for r in kept + dropped if r["stage"] == "negatives" and r["negative_kind"] != "negated"]
    negatives = [r for r in kept if r in written]
    assert len(negatives) >= 12
    assert {r["negative_kind"] for r in written} == {
        "third_person", "past_resolved", "advice", "hyperbole", "question_other", "everyday"
    }  # fmt: skip
    for r in negatives:
        assert r["symptoms"] == [] and not any(r["labels_dsm14"]) and r["near_symptom"] in NAMES


def test_negated_statements_carry_only_the_stated_symptom(run: tuple[Path, list[dict], list[dict]]) -> None:
    _, kept, dropped = run
    negated = [r for r in kept + dropped if r["negative_kind"] == "negated" and r["text"]]
    assert negated
    for r in negated:
        assert len(r["symptoms"]) == 1 and r["near_symptom"] != r["symptoms"][0]
        assert sum(r["labels_dsm14"] or []) in (0, 1)


def test_long_posts_embed_judged_statements_and_take_their_labels(
    run: tuple[Path, list[dict], list[dict]],
) -> None:
    out, kept, dropped = run
    contexts = read_jsonl(out / "stages" / "contexts.jsonl")  # passages are parts, not rows of their own
    by_id = {r["id"]: r for r in kept + dropped + contexts}
    long_posts = [r for r in kept if r["stage"] == "realism"]
    assert (
        long_posts and any(r["symptoms"] for r in long_posts) and any(not r["symptoms"] for r in long_posts)
    )
    for post in long_posts:
        assert 40 <= len(post["text"].split()) <= 90 + 20  # typos may split or join a word or two
        embedded = [by_id[i] for i in post["parts"] if by_id[i]["stage"] != "contexts"]
        expected = {s for e in embedded for s in e["symptoms"]}
        assert set(post["symptoms"]) == expected
        assert (post["negative_kind"] == "long") == (not embedded)
    # contexts are consumed by long posts (or dropped with a reason), never exported on their own
    assert not [r for r in kept if r["stage"] == "contexts"]
    used = {i for post in long_posts for i in post["parts"]}
    fates = {r["drop_class"] for r in dropped if r["stage"] == "contexts" and r["id"] in used}
    assert fates == {"used_in_long_post"}


def test_personas_styles_and_transforms_are_recorded(run: tuple[Path, list[dict], list[dict]]) -> None:
    out, kept, dropped = run
    assert {r["persona"] for r in kept if r["stage"] != "realism"} == {"student", "retiree"}
    assert all(len(r["text"].split()) <= 14 + 4 for r in kept if r["style"] == "tweet")
    assert any(r["drop_class"] == "too_long" for r in dropped)
    applied = {t for r in kept for t in r["transforms"]}
    assert applied == {"lowercase", "typos", "slang", "no_punctuation"}
    assert any(not r["transforms"] for r in kept)
    assert "negative kind" in (out / "README.md").read_text()


def test_transforms_leave_labels_alone(tmp_path: Path) -> None:
    plain = realistic(realism={"long_posts": {"n": 0}})
    noisy = realistic(realism={"long_posts": {"n": 0}, "transforms": {"lowercase": 1.0, "slang": 1.0}})
    run_pipeline(run_config(plain), tmp_path / "a", progress=False)
    run_pipeline(run_config(noisy), tmp_path / "b", progress=False)
    a = {r["id"]: r for r in pq.read_table(tmp_path / "a" / "dataset.parquet").to_pylist()}
    b = {r["id"]: r for r in pq.read_table(tmp_path / "b" / "dataset.parquet").to_pylist()}
    assert a.keys() == b.keys()
    for key, row in b.items():
        assert row["symptoms"] == a[key]["symptoms"] and row["labels_dsm14"] == a[key]["labels_dsm14"]
        assert row["text"] == row["text"].lower() and "lowercase" in row["transforms"]


def test_a_rerun_resumes_to_the_same_rows(run: tuple[Path, list[dict], list[dict]], tmp_path: Path) -> None:
    _, kept, _ = run
    again = tmp_path / "again"
    run_pipeline(run_config(realistic()), again, progress=False)
    (again / "state.json").write_text(
        '{"format": 5, "done": {}}'
    )  # forget every stage: answers from the cache
    run_pipeline(run_config(realistic()), again, progress=False)
    assert pq.read_table(again / "dataset.parquet").to_pylist() == kept


def test_the_llm_judge_checks_negatives_on_every_symptom(tmp_path: Path) -> None:
    run_pipeline(run_config(realistic("llm")), tmp_path, progress=False)
    kept = pq.read_table(tmp_path / "dataset.parquet").to_pylist()
    dropped = pq.read_table(tmp_path / "dropped.parquet").to_pylist()
    for r in kept + dropped:
        if r["stage"] == "negatives" and r["negative_kind"] != "negated" and dict(r["judge_scores"]):
            assert set(dict(r["judge_scores"])) == set(NAMES)
    assert any(r["drop_class"] == "expressed_in_negative" for r in dropped)


def row(symptoms: list[str], kind: str | None = None, near: str | None = None) -> Any:
    return new_post(id="x", text="t", style="s", symptoms=symptoms, stage="negatives", negative_kind=kind,
                    near_symptom=near, backend="b", model="m", template="t", request_key="k")  # fmt: skip


def test_verdicts() -> None:
    negative = row([], "advice", "Sleep_disturbance")
    assert targets(negative, NAMES) == list(NAMES)
    assert verdict(negative, {"Sleep_disturbance": 2, "Depressed_Mood": 0}, 4, 3) is None
    assert verdict(negative, {"Sleep_disturbance": 3}, 4, 3) == (
        DropClass.EXPRESSED_IN_NEGATIVE,
        "is a negative but expresses Sleep_disturbance 3 >= 3",
    )
    negated = row(["Anger_Irritability"], "negated", "Depressed_Mood")
    assert targets(negated, NAMES) == ["Anger_Irritability", "Depressed_Mood"]
    assert verdict(negated, {"Anger_Irritability": 5, "Depressed_Mood": 1}, 4, 3) is None
    assert "denies but expresses Depressed_Mood" in str(
        verdict(negated, {"Anger_Irritability": 5, "Depressed_Mood": 4}, 4, 3)
    )
    assert verdict(negated, {"Anger_Irritability": 2, "Depressed_Mood": 0}, 4, 3) == (
        DropClass.BELOW_THRESHOLD,
        "Anger_Irritability 2 < 4",
    )
    # the embedding judge cannot hear negation: no negative threshold for a negated statement
    assert verdict(negated, {"Anger_Irritability": 5, "Depressed_Mood": 5}, 4, None) is None


def test_split_counts_and_context_cleanup() -> None:
    assert sorted(split_counts(10, [1, 1, 1])) == [3, 3, 4]
    assert split_counts(7, [2, 1, 0.5]) == [4, 2, 1]
    assert split_counts(0, [1, 2]) == [0, 0]
    text = "Title: Moving day\n\nSo we moved on Saturday.\n\nThe van was late by two hours, and it rained."
    expected = "So we moved on Saturday. The van was late by two hours, and it rained."
    assert clean_passage(text, MIN_CONTEXT_WORDS) == expected
    assert clean_passage("Too short.", MIN_CONTEXT_WORDS) is None


def test_a_taxonomy_without_negation_writes_no_negated_statements(tmp_path: Path) -> None:
    source = Path(__file__).parents[1] / "src" / "synsym" / "data" / "taxonomies" / "depression-14.yaml"
    custom = tmp_path / "tax.yaml"
    custom.write_text(source.read_text().replace("negation: stated_only", "negation: unsupported"))
    cfg = realistic(taxonomy=str(custom), realism={"long_posts": {"n": 0}})
    run_pipeline(run_config(cfg), tmp_path / "run", progress=False)
    rows = pq.read_table(tmp_path / "run" / "dataset.parquet").to_pylist()
    assert not [r for r in rows if r["negative_kind"] == "negated"]
    assert [r for r in rows if r["stage"] == "negatives"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("realism.transforms.shouting=0.5", "unknown 'shouting'"),
        ("realism.transforms.typos=2", "probability from 0 to 1"),
        ("realism.long_posts.min_words=500", "min_words must not exceed max_words"),
        ("negatives.n=-1", "negatives.n"),
    ],
)
def test_bad_realism_settings_are_config_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_run_config(None, [override])


def test_changing_transforms_redoes_only_the_realism_and_export_stages() -> None:
    def prints(cfg: dict[str, Any]) -> dict[str, str]:
        return fingerprints(STAGES, run_config(cfg))

    before = prints(realistic())
    noisier = realistic()
    noisier["realism"] = {**noisier["realism"], "transforms": {"lowercase": 1.0}}
    after = prints(noisier)
    assert [s for s in before if before[s] != after[s]] == ["realism", "export"]
    longer = realistic()
    longer["realism"] = {**longer["realism"], "long_posts": {"n": 41}}
    after = prints(longer)
    assert [s for s in before if before[s] != after[s]] == [
        "contexts",
        "dedup",
        "judge",
        "contrast",
        "realism",
        "export",
    ]


def test_review_samples_negatives_for_clinicians(run: tuple[Path, list[dict], list[dict]]) -> None:
    from synsym.quality.data import load_quality_data
    from synsym.review import sample_items

    out, _, _ = run
    items = sample_items(load_quality_data(out / "dataset.parquet"), n=120)
    negatives = [it for it in items if it["component"] == "negative"]
    assert negatives and all(it["symptoms"] == "" for it in negatives)
    assert {"single", "multi", "negative"} <= {it["component"] for it in items}


def test_every_judge_checks_the_first_person_voice(tmp_path: Path) -> None:
    from synsym.recipe.common.scoring import first_person

    assert (
        first_person("I can't sleep")
        and first_person("my sister and i argue")
        and first_person("We’re tired")
    )
    assert not first_person("She hasn't slept in days.") and not first_person("Insomnia is common in winter.")
    for method in ("llm", "embedding"):
        cfg = realistic(method, realism={"long_posts": {"n": 0}})
        run_pipeline(run_config(cfg), tmp_path / method, progress=False)
        kept = pq.read_table(tmp_path / method / "dataset.parquet").to_pylist()
        dropped = pq.read_table(tmp_path / method / "dropped.parquet").to_pylist()
        assert all(first_person(r["text"]) for r in kept if r["symptoms"])
        voiceless = [r for r in dropped if r["drop_class"] == "no_first_person"]
        assert all(r["dropped_by"] == "judge" and not r["judge_scores"] for r in voiceless)  # nothing scored
