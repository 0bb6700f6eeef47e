"""The README's main job, shrunk: configs/demo.yaml on the embedded SmolLM2 with the embedding judge."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from synsym.core.taxonomy import load_taxonomy

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install 'synsym[local]'")
pytest.importorskip("sentence_transformers", reason="the embedding judge needs: pip install 'synsym[ml]'")

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


@pytest.mark.slow
def test_demo_config_runs_end_to_end_on_the_local_model(tmp_path: Path) -> None:
    taxonomy = load_taxonomy()
    subconcepts = tmp_path / "subconcepts.yaml"  # one per symptom keeps this to ~30 model calls
    subconcepts.write_text(yaml.safe_dump({s.name: [s.seeds[0]] for s in taxonomy.symptoms}))
    run = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "synsym.cli.main", "generate", "--config", str(DEMO), "--out", str(run),
         "--subconcepts", str(subconcepts), "--set", "generate.include_symptom=false",
         "--set", "compose.n_combinations=1", "--set", "backend.n_threads=2"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    kept = pq.read_table(run / "dataset.parquet").to_pylist()
    dropped = pq.read_table(run / "dropped.parquet").to_pylist()
    assert len(kept) + len(dropped) == 14 * 2 + 2  # every post is kept or dropped with a reason
    assert all(r["drop_class"] and r["dropped_by"] for r in dropped)
    assert all(r["judge_method"] == "embedding" and r["judge_scores"] for r in kept)
    assert {r["backend"] for r in kept} <= {"llamacpp"}
    assert (run / "README.md").read_text().count("988") >= 1
