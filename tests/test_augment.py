"""`synsym augment`: hard negatives and negated statements added to a labelled dataset the user already
has, with its own rows kept as they are (never deduplicated or judged away); nothing to add is refused."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import yaml

from synsym.augment import augment
from synsym.core.dataset import read_export
from synsym.pipeline.config import load_run_config


def given_csv(tmp_path: Path) -> Path:
    """The paper's layout; rows 0 and 1 are the same post (a user's duplicate stays theirs)."""
    data = tmp_path / "posts.csv"
    with data.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["post", "type", "label"])
        for i in range(20):
            vec = [0] * 14
            vec[i % 14] = 1
            text = "I have felt awful for weeks and I can't shake it." if i < 2 else f"I feel off, day {i}."
            w.writerow([text, "colloquial", str(vec)])
    return data


def test_negatives_are_added_and_the_given_rows_kept(tmp_path: Path) -> None:
    config = load_run_config(
        None,
        ["backend.name=fake", "expand.method=seeds", "negatives.n=6", "negatives.negated=3",
         "judge.method=embedding"],
    )  # fmt: skip
    result = augment(given_csv(tmp_path), tmp_path / "run", config, progress=False)
    kept = read_export(tmp_path / "run" / "dataset.parquet").rows
    given = [r for r in kept if r["stage"] == "input"]
    assert len(given) == 20  # the duplicate pair included: dedup compares against them, never drops them
    assert not any(r["judge_scores"] for r in given)  # the user's labels are not judged
    added = [
        r for r in kept + read_export(tmp_path / "run" / "dropped.parquet").rows if r["stage"] == "negatives"
    ]
    assert len(added) == 9 and all(r["judge_method"] == "embedding" for r in added if r["drop_class"] is None)
    assert result.counts["kept"] >= 20


def test_augment_with_nothing_to_add_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "synsym.cli.main", "augment", str(given_csv(tmp_path)), "--out", str(out),
         "--backend", "fake"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "nothing to add" in done.stderr and "negatives.n" in done.stderr
    assert not out.exists()


def test_augment_from_a_config_file_on_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "add.yaml"
    config.write_text(yaml.safe_dump({
        "backend": {"name": "fake"}, "expand": {"method": "seeds"}, "judge": {"method": "none"},
        "negatives": {"n": 4}, "contrast": {"n": 5, "kinds": ["person_swap"]},
    }))  # fmt: skip
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "synsym.cli.main", "augment", str(given_csv(tmp_path)), "--out", str(out),
         "--config", str(config)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    stages = [r["stage"] for r in read_export(out / "dataset.parquet").rows]
    assert stages.count("input") == 20 and stages.count("negatives") == 4 and stages.count("contrast") == 5


def test_a_given_dataset_with_nothing_added_is_a_run_that_made_nothing() -> None:
    from synsym.core.config import BackendConfig
    from synsym.pipeline.outcome import run_outcome

    manifest = {
        "counts": {"kept": 30, "kept_by_stage": {"input": 30}},
        "usage": {
            "backend": {"tasks": 7, "failures": {"not_minimal": 4, "example_copy": 2, "kind_not_met": 1}}
        },
    }
    said = run_outcome(manifest, BackendConfig(), 0.5)
    assert said is not None and said.startswith("the run added no post") and "rule-made kinds" in said
    manifest["counts"] = {"kept": 31, "kept_by_stage": {"input": 30, "contrast": 1}}
    manifest["usage"] = {"backend": {"tasks": 7, "failures": {"not_minimal": 2}}}
    assert run_outcome(manifest, BackendConfig(), 0.5) is None


def test_contrast_from_python_rewrites_a_given_dataset(tmp_path: Path) -> None:
    """`synsym.contrast` is `synsym contrast` without the command line: the kinds, the count, the seeds
    as sub-concepts when no config is named, and the given rows kept with their style."""
    import synsym

    result = synsym.contrast(
        given_csv(tmp_path), tmp_path / "run", n=5, kinds="person_swap", backend="fake",
        overrides=["judge.method=none"], progress=False,
    )  # fmt: skip
    rows = read_export(tmp_path / "run" / "dataset.parquet").rows
    rewrites = [r for r in rows if r["stage"] == "contrast"]
    assert len(rewrites) == 5 and {r["contrast_kind"] for r in rewrites} == {"person_swap"}
    assert all(r["style"] == "colloquial" for r in rows if r["stage"] == "input")
    assert result.counts["kept_by_stage"]["contrast"] == 5


def test_contrast_config_checks_what_the_command_line_checks(tmp_path: Path) -> None:
    import pytest

    from synsym.augment import contrast_config, prepare_contrast
    from synsym.core.errors import UserError

    with pytest.raises(UserError, match="--n and --share name the same thing"):
        contrast_config(n=3, share=0.5)
    with pytest.raises(UserError, match="--kinds nope -> not a declared kind"):
        contrast_config(n=3, kinds=["nope"])
    with pytest.raises(UserError, match="nothing to rewrite"):
        contrast_config(backend="fake")
    config = contrast_config(share=0.5, kinds="person_swap, reported_speech", backend="fake")
    assert (config.contrast.n, config.contrast.share) == (0, 0.5)
    assert [k.name for k in config.contrast.kinds] == ["person_swap", "reported_speech"]
    assert config.expand.method == "seeds"  # no config named: the seeds are the sub-concepts
    plain = load_run_config(None, ["backend.name=fake"])  # a RunConfig is taken as it is, the count set
    config = contrast_config(plain, n=4, kinds=["person_swap"])
    assert (config.contrast.n, [k.name for k in config.contrast.kinds]) == (4, ["person_swap"])
    with pytest.raises(UserError, match="overrides and backend go with a config file or name"):
        contrast_config(plain, n=4, backend="fake")
    job = prepare_contrast(given_csv(tmp_path), tmp_path / "run", config)
    assert len(job.given.rows) == 20 and not (tmp_path / "run").exists()  # read, planned on demand, not run
