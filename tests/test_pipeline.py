"""The pipeline end to end on the fake backend: resumable after SIGKILL, identical row for row."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from synsym.testing.runs import small_fake_run

CONFIG = small_fake_run(seed=7, formats=("parquet", "jsonl", "csv"), concurrency=4)
CONFIG["backend"]["latency_s"] = 0.01  # slow enough to be killed mid-stage


def synsym(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synsym.cli.main", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def rows(run: Path, name: str = "dataset.parquet") -> list[dict]:
    return pq.read_table(run / name).to_pylist()


def test_run_covers_every_symptom_and_style(config: Path, tmp_path: Path) -> None:
    done = synsym("generate", "--config", str(config), "--out", str(tmp_path / "a"))
    assert done.returncode == 0, done.stderr
    kept = rows(tmp_path / "a")
    assert {s for r in kept for s in r["symptoms"]} >= {
        "Depressed_Mood",
        "Suicidal_ideas",
        "Sleep_disturbance",
    }
    assert {r["style"] for r in kept} == {"clinical", "colloquial"}
    assert any(len(r["symptoms"]) > 1 for r in kept)
    assert all(r["judge_scores"] for r in kept)
    dropped = rows(tmp_path / "a", "dropped.parquet")
    assert all(r["drop_class"] and r["dropped_by"] for r in dropped)
    card = (tmp_path / "a" / "README.md").read_text()
    assert "988" in card
    subconcepts = yaml.safe_load((tmp_path / "a" / "subconcepts.yaml").read_text())
    assert len(subconcepts) == 14 and all(len(v) >= 4 for v in subconcepts.values())


def test_killed_runs_resume_to_the_same_dataset(config: Path, tmp_path: Path) -> None:
    reference = synsym("generate", "--config", str(config), "--out", str(tmp_path / "a"))
    assert reference.returncode == 0, reference.stderr
    run = tmp_path / "b"
    for delay in (1.2, 2.0, 2.8, 3.6):
        proc = subprocess.Popen(
            [sys.executable, "-m", "synsym.cli.main", "generate", "--config", str(config), "--out", str(run)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    resumed = synsym("generate", "--config", str(config), "--out", str(run))
    assert resumed.returncode == 0, resumed.stderr
    for got, want in zip(rows(run), rows(tmp_path / "a"), strict=True):
        assert got == want, {k: (got[k], want[k]) for k in got if got[k] != want[k]}
    assert rows(run, "dropped.parquet") == rows(tmp_path / "a", "dropped.parquet")
    assert (run / "dataset.csv").read_bytes() == (tmp_path / "a" / "dataset.csv").read_bytes()


def test_a_changed_config_is_refused_then_restarted(config: Path, tmp_path: Path) -> None:
    run = str(tmp_path / "a")
    assert synsym("generate", "--config", str(config), "--out", run).returncode == 0
    changed = synsym(
        "generate", "--config", str(config), "--out", run, "--set", "generate.statements_per_style=3"
    )
    assert changed.returncode == 2
    assert "generate" in changed.stderr and "--restart" in changed.stderr
    transport_only = synsym(
        "generate", "--config", str(config), "--out", run, "--set", "backend.max_concurrency=2"
    )
    assert transport_only.returncode == 0, transport_only.stderr
    restarted = synsym(
        "generate",
        "--config",
        str(config),
        "--out",
        run,
        "--restart",
        "--set",
        "generate.statements_per_style=3",
    )
    assert restarted.returncode == 0, restarted.stderr


def test_budget_stops_cleanly_and_resumes(config: Path, tmp_path: Path) -> None:
    run = str(tmp_path / "a")
    prices = ["--set", "backend.prices.input_per_mtok=1000", "--set", "backend.prices.output_per_mtok=1000"]
    stopped = synsym("generate", "--config", str(config), "--out", run, "--max-cost", "0.5", *prices)
    assert stopped.returncode == 3, stopped.stderr
    assert "max-cost" in stopped.stderr
    assert not (tmp_path / "a" / "dataset.parquet").exists()
    resumed = synsym("generate", "--config", str(config), "--out", run, "--max-cost", "1000", *prices)
    assert resumed.returncode == 0, resumed.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("generate.bogus=1", "generate.bogus"),
        ("taxonomy=nope", "nope"),
        ("judge.method=magic", "judge.method"),
    ],
)
def test_bad_config_exits_2_with_the_path(config: Path, tmp_path: Path, override: str, message: str) -> None:
    done = synsym("generate", "--config", str(config), "--out", str(tmp_path / "a"), "--set", override)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_paper_subconcepts_file_is_accepted(config: Path, tmp_path: Path) -> None:
    paper = Path(__file__).resolve().parents[2] / "shared/data/synsym-kdd2026/symptom_sub_concepts.json"
    if not paper.exists():
        pytest.skip("../shared/data/synsym-kdd2026 is not present (a fresh clone has no ../shared)")
    done = synsym(
        "generate",
        "--config",
        str(config),
        "--out",
        str(tmp_path / "a"),
        "--subconcepts",
        str(paper),
        "--set",
        "generate.max_subconcepts=1",
        "--set",
        "compose.n_combinations=0",
    )
    assert done.returncode == 0, done.stderr
    assert {r["subconcept"] for r in rows(tmp_path / "a")} - {None}
