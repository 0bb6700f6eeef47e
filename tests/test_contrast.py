"""Contrastive rewrites: the rules, the convention deciding which kinds are negatives, the minimal-edit
check, the judge's verdict on what a rewrite removed and kept, and `synsym contrast` on a given dataset."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from synsym.backends.base import ChatRequest, ChatResponse, register_backend
from synsym.backends.fake import FakeBackend
from synsym.core.dataset import read_export
from synsym.core.errors import InputError
from synsym.core.taxonomy import load_taxonomy
from synsym.pipeline.config import run_config
from synsym.pipeline.runner import run_pipeline
from synsym.recipe.contrast.rewrites import person_swap, reported_speech, similarity, swap_person
from synsym.testing.runs import small_fake_run

NAMES = load_taxonomy().names


def test_person_swap_and_reported_speech() -> None:
    assert (
        swap_person("I feel worthless and I hate myself.", "he") == "He feels worthless and he hates himself."
    )
    assert swap_person("I'm tired, I don't sleep and my mind races", "she") == (
        "She's tired, she doesn't sleep and her mind races"
    )
    assert swap_person("i just cant focus", "she") == "she just cant focus"
    out = person_swap("I haven't slept all week.", random.Random(0))
    assert out.startswith("My ") and " says " in out and "hasn't slept all week." in out
    assert person_swap("i cant sleep", random.Random(0)) == person_swap("i cant sleep", random.Random(0))
    quoted = reported_speech("I haven't slept all week.", random.Random(1))
    assert '"I haven\'t slept all week."' in quoted
    assert (
        reported_speech("i cant sleep", random.Random(1))
        == reported_speech("i cant sleep", random.Random(1)).lower()
    )


def test_similarity_tells_a_minimal_rewrite_from_a_copy_and_a_new_post() -> None:
    post = "I haven't slept more than three hours a night all week."
    assert similarity(post, post) == 1.0
    assert 0.6 < similarity(post, "My sister hasn't slept more than three hours a night all week.") < 0.97
    assert similarity(post, "I love going to the gym on weekends with my friends.") < 0.5


class Judging(FakeBackend):
    """The fake backend, except that the judge scores a post 0 on every symptom when someone else's or
    a quoted state is its topic (a rewrite that worked) and 5 otherwise; rewrites copy the post (a model
    that cannot rewrite) when the post mentions sleep, and give it to someone else otherwise (right for
    other_person, wrong for every other kind): as her words (the judge hears it) or as her state without
    a frame (the judge does not)."""

    name = "fake-judging"

    async def complete(self, request: ChatRequest) -> ChatResponse:
        prompt = next(content for role, content in request.messages if role == "user")  # re-asks come after
        if request.schema_name == "judge_scores":
            post = prompt.split('"')[1] if '"' in prompt else prompt
            other = any(
                k in post.lower() for k in (" says ", "telling me", "texted me", "overheard", "novel")
            )
            names = [n for n in NAMES if f"- {n}:" in prompt]
            return ChatResponse(text=json.dumps({n: 0 if other else 5 for n in names}))
        if request.schema_name == "rewrite":
            post = prompt.split("Post:")[-1].split("\n")[0].strip()
            rng = random.Random(post)
            text = swap_person(post, "she") if rng.random() < 0.5 else person_swap(post, rng)
            text = post if "sleep" in post.lower() else text
            return ChatResponse(text=json.dumps({"rewrite": text}))
        return await super().complete(request)


register_backend(Judging)


def contrast_run(**contrast: Any) -> dict[str, Any]:
    cfg = small_fake_run(seed=2)
    cfg["backend"] = {"name": "fake-judging"}
    cfg["judge"] = {"method": "llm", "threshold": 3}
    cfg["contrast"] = {"n": 40, **contrast}
    return cfg


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], list[dict]]:
    out = tmp_path_factory.mktemp("contrast")
    run_pipeline(run_config(contrast_run()), out, progress=False)
    return read_export(out / "dataset.parquet").rows, read_export(out / "dropped.parquet").rows  # type: ignore[return-value]


def test_rewrites_name_their_source_kind_and_what_they_removed(run: tuple[list[dict], list[dict]]) -> None:
    kept, dropped = run
    by_id = {r["id"]: r for r in kept + dropped}
    rewrites = [r for r in kept if r["stage"] == "contrast"]
    assert {r["contrast_kind"] for r in rewrites} >= {"person_swap", "reported_speech"}
    for r in rewrites:
        source = by_id[r["contrast_of"]]
        assert source["stage"] in ("generate", "compose") and source["drop_class"] is None
        assert set(r["symptoms"]) == set(source["symptoms"]) - set(r["removed"])
        assert r["style"] == source["style"] and r["dropped_by"] is None
        if r["contrast_kind"] != "partial":
            assert r["symptoms"] == [] and r["removed"] == source["symptoms"]
    assert len({r["contrast_of"] for r in rewrites}) == len(rewrites)  # a source is rewritten once


def test_unchanged_copies_are_re_asked_then_dropped_as_not_minimal(
    run: tuple[list[dict], list[dict]],
) -> None:
    _, dropped = run
    copies = [r for r in dropped if r["stage"] == "contrast" and r["drop_class"] == "not_minimal"]
    assert copies and all(r["dropped_by"] == "contrast" for r in copies)
    assert any("unchanged" in (r["drop_detail"] or "") for r in copies)  # the copycat's answers


def test_the_llm_judge_drops_a_rewrite_that_still_expresses_what_it_removed(
    run: tuple[list[dict], list[dict]],
) -> None:
    kept, dropped = run
    still = [r for r in dropped if r["stage"] == "contrast" and r["drop_class"] == "expressed_in_negative"]
    assert still and all(r["judge_scores"] for r in still)
    judged = [r for r in kept if r["stage"] == "contrast" and not r["symptoms"] and r["backend"] != "rules"]
    assert judged and all(max(r["judge_scores"].values()) < 3 for r in judged)
    ruled = [r for r in kept if r["stage"] == "contrast" and r["backend"] == "rules"]
    assert ruled and not any(r["judge_scores"] for r in ruled)  # rule-made rewrites need no judge


def write_taxonomy(tmp_path: Path, **convention: Any) -> Path:
    source = Path(__file__).parents[1] / "src" / "synsym" / "data" / "taxonomies" / "depression-14.yaml"
    data = yaml.safe_load(source.read_text())
    data["convention"] = {**data["convention"], **convention}
    path = tmp_path / "tax.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_kind_the_convention_counts_is_refused_before_anything_is_asked(tmp_path: Path) -> None:
    cfg = contrast_run()
    cfg["taxonomy"] = str(write_taxonomy(tmp_path, time="ever"))
    with pytest.raises(InputError, match=r"past changes time, but taxonomy depression-14 counts that change"):
        run_pipeline(run_config(cfg), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "cache.sqlite").exists() or not list(
        (tmp_path / "run" / "stages").glob("*")
    )
    cfg["contrast"]["kinds"] = [
        k for k in run_config(cfg).contrast.model_dump()["kinds"] if k["name"] != "past"
    ]
    run_pipeline(run_config(cfg), tmp_path / "ok", progress=False)  # without it, it runs


def test_more_rewrites_than_kept_positives_is_a_clear_error(tmp_path: Path, synsym_cli: Any) -> None:
    cfg = contrast_run(n=100_000)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert synsym_cli("generate", "--config", str(path), "--out", str(tmp_path / "run")) == 2
    assert not (tmp_path / "run" / "dataset.parquet").exists()


def test_synsym_contrast_rewrites_a_given_dataset(tmp_path: Path) -> None:
    data = tmp_path / "posts.csv"
    with data.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["post", "type", "label"])
        for i in range(30):
            vec = [0] * 14
            vec[i % 14] = 1
            w.writerow(
                [f"I have felt awful for weeks, day {i}, and I can't shake it.", "colloquial", str(vec)]
            )
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "synsym.cli.main", "contrast", str(data), "--out", str(out), "--n", "12",
         "--kinds", "person_swap,reported_speech", "--set", "judge.method=none"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = read_export(out / "dataset.parquet").rows
    rewrites = [r for r in rows if r["stage"] == "contrast"]
    assert len(rows) == 42 and len(rewrites) == 12
    assert {r["contrast_of"] for r in rewrites} <= {r["id"] for r in rows if r["stage"] == "input"}
    assert all(r["symptoms"] == [] and len(r["removed"]) == 1 for r in rewrites)
    assert "## What a label means" in (out / "README.md").read_text()
