"""A run that made nothing, or far less than planned, never exits 0 (issue 18, finding 1): answers that
are never valid count toward the early stop as endpoint failures do, and a finished run that kept no
post, or whose requests mostly failed, ends with exit 4 and one line on why and what to try."""

from __future__ import annotations

from pathlib import Path

import pytest

from synsym.core.config import BackendConfig
from synsym.core.errors import RunFailed
from synsym.pipeline.config import run_config
from synsym.pipeline.outcome import diagnose, run_outcome
from synsym.pipeline.runner import run_pipeline
from synsym.testing.runs import small_fake_run
from test_failfast import generate, openai_run


def test_a_model_that_never_writes_the_json_asked_for_stops_the_run(tmp_path: Path, test_server) -> None:
    server = test_server(p_schema_fail=1.0)
    done = generate(openai_run(server.url, max_reasks=0), tmp_path / "run")
    assert done.returncode == 4, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "invalid_output" in line and "never produced the JSON asked for" in line
    assert "structured_output" in line and "synsym probe" in line
    assert not (tmp_path / "run" / "dataset.parquet").exists()


def test_a_short_run_that_kept_nothing_fails_after_it_ends(tmp_path: Path, test_server) -> None:
    """Too few requests to fill the early stop's window: the verdict comes when the run ends."""
    server = test_server(p_schema_fail=1.0)
    cfg = openai_run(server.url, max_reasks=0, stop_window=10_000)
    with pytest.raises(RunFailed) as err:
        run_pipeline(run_config(cfg), tmp_path / "run", progress=False)
    assert err.value.exit_code == 4
    assert "kept no post" in str(err.value) and "never produced the JSON" in str(err.value)
    assert err.value.result is not None and err.value.result.counts["kept"] == 0


def test_the_cli_prints_the_summary_then_one_line_and_exits_4(tmp_path: Path, test_server) -> None:
    server = test_server(p_schema_fail=1.0)
    done = generate(openai_run(server.url, max_reasks=0, stop_window=10_000), tmp_path / "run")
    assert done.returncode == 4, done.stderr
    assert "kept 0" in done.stderr and done.stderr.strip().splitlines()[-1].startswith("error: the run")
    assert "Traceback" not in done.stderr


def test_a_run_that_keeps_posts_still_exits_0(tmp_path: Path) -> None:
    result = run_pipeline(run_config(small_fake_run()), tmp_path / "run", progress=False)
    assert result.counts["kept"] > 0


def test_the_diagnosis_names_the_cause_and_what_to_try() -> None:
    backend = BackendConfig(name="openai", timeout_s=120, max_concurrency=16)
    timeouts = diagnose({"timeout": 16, "invalid_output": 3}, backend)
    assert "timed out" in timeouts and "max_concurrency 16" in timeouts and "synsym probe" in timeouts
    assert "JSON" in diagnose({"truncated": 2}, backend)
    manifest = {
        "counts": {"kept": 3},
        "usage": {"generator": {"tasks": 60, "failures": {"invalid_output": 30, "timeout": 16}}},
    }
    line = run_outcome(manifest, backend, 0.5)
    assert line is not None and line.startswith("the run kept only 3 post(s): 46 of 60 requests failed")
    manifest["usage"]["generator"]["failures"] = {"timeout": 5}
    assert run_outcome(manifest, backend, 0.5) is None
