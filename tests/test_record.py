"""The run's record (`manifest.json`) is the runner's: its counts are the rows', whatever stages made
them, and no stage has to be last for it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from synsym.core.columns import is_kept
from synsym.core.dataset import read_export
from synsym.core.funnel import NOT_MADE
from synsym.pipeline.config import run_config
from synsym.pipeline.runner import run_pipeline
from synsym.recipe.stages import STAGES
from synsym.testing.runs import small_fake_run


def with_negatives_and_rewrites() -> dict[str, Any]:
    cfg = small_fake_run(seed=4)
    cfg["negatives"] = {"n": 8, "negated": 4}
    cfg["contrast"] = {"n": 12, "kinds": ["person_swap", "reported_speech"]}
    cfg["realism"] = {"long_posts": {"n": 3, "min_words": 20, "max_words": 200}}
    return cfg


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("record")
    result = run_pipeline(run_config(with_negatives_and_rewrites()), out, progress=False)
    kept = read_export(out / "dataset.parquet").rows
    dropped = read_export(out / "dropped.parquet").rows
    return result.manifest, kept, dropped  # type: ignore[return-value]


def test_the_manifest_counts_what_the_files_hold(run: tuple[dict[str, Any], list[Any], list[Any]]) -> None:
    manifest, kept, dropped = run
    counts = manifest["counts"]
    kinds = Counter(
        r["negative_kind"] or r["contrast_kind"] or ("positive" if r["symptoms"] else "negative")
        for r in kept
    )
    assert counts["kept"] == len(kept) == sum(counts["kept_by_kind"].values())
    assert counts["kept_by_kind"] == dict(sorted(kinds.items()))
    assert {"person_swap", "reported_speech"} <= set(counts["kept_by_kind"])  # the rewrites are not positives
    positives = counts["kept_by_kind"].get("positive", 0)
    assert positives == sum(
        bool(r["symptoms"]) and not r["negative_kind"] and not r["contrast_kind"] for r in kept
    )
    assert counts["kept_negative"] == sum(not r["symptoms"] for r in kept)
    assert counts["kept_by_stage"] == dict(Counter(r["stage"] for r in kept))
    made = Counter(
        r["stage"]
        for r in kept + dropped
        if not (r["drop_class"] in NOT_MADE and r["dropped_by"] == r["stage"])
    )
    assert {s["stage"]: s["made"] for s in counts["stages"] if s["made"]} == dict(made)
    dropped_by = Counter(
        r["drop_class"]
        for r in dropped
        if not (r["drop_class"] in NOT_MADE and r["dropped_by"] == r["stage"])
    )
    assert counts["dropped_by_class"] == dict(sorted(dropped_by.items()))
    assert manifest["export"]["rows"] == {"kept": len(kept), "dropped": len(dropped)}


def test_no_stage_has_to_be_last(tmp_path: Path) -> None:
    """Export before realism: the manifest counts the rows the list ends with (realism's typos
    included), the export entry what export saw, and a rerun returns the record as written."""
    order = [s for s in STAGES if s.name != "export"]
    at = [s.name for s in order].index("realism")
    stages = (*order[:at], next(s for s in STAGES if s.name == "export"), *order[at:])
    cfg = {**with_negatives_and_rewrites(), "realism": {"transforms": {"lowercase": 1.0}}}
    result = run_pipeline(run_config(cfg, stages), tmp_path, progress=False, stages=stages)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest == result.manifest and manifest["stages"][-1] == "realism"
    realism = [json.loads(line) for line in (tmp_path / "stages" / "realism.jsonl").read_text().splitlines()]
    assert manifest["counts"]["kept"] == sum(is_kept(r) for r in realism)
    assert (
        manifest["counts"]["kept_transformed"] == manifest["counts"]["kept"] > 0
    )  # realism ran after export
    assert manifest["export"]["rows"]["kept"] == manifest["counts"]["kept"]
    exported = read_export(tmp_path / "dataset.parquet").rows
    assert not any(r["transforms"] for r in exported)  # what export saw: the rows before realism
    again = run_pipeline(run_config(cfg, stages), tmp_path, progress=False, stages=stages)
    assert again.manifest == manifest


def test_a_list_without_export_still_gets_its_record(tmp_path: Path) -> None:
    stages = tuple(s for s in STAGES if s.name != "export")
    cfg = small_fake_run()
    with pytest.raises(ValueError, match="export"):  # a section no stage of the list owns
        run_config(cfg, stages)
    del cfg["export"]
    result = run_pipeline(run_config(cfg, stages), tmp_path, progress=False, stages=stages)
    assert result.manifest["counts"]["kept"] > 0 and "export" not in result.manifest
    assert not (tmp_path / "dataset.parquet").exists()


def test_a_finished_run_reruns_without_building_an_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its record is current: nothing is loaded, connected or started (a model, Ray workers)."""
    first = run_pipeline(run_config(small_fake_run()), tmp_path, progress=False)
    import synsym.pipeline.runner as runner

    def no_engines(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a finished run built an engine")

    monkeypatch.setattr(runner, "build_engine", no_engines)
    assert run_pipeline(run_config(small_fake_run()), tmp_path, progress=False).manifest == first.manifest
