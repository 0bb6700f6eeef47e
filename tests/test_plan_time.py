"""The plan says how long a run will take: from a local model's measured speed, or at a server's
request ceilings; a plan with no model requests says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from synsym.pipeline.config import run_config
from synsym.pipeline.plan import plan_pipeline
from synsym.pipeline.timing import minutes
from synsym.testing.runs import small_fake_run


def plan(tmp_path: Path, **backend: Any) -> Any:
    values = small_fake_run()
    values["backend"] = {**values["backend"], **backend}
    return plan_pipeline(run_config(values), tmp_path / "run")


def test_a_server_plan_is_timed_at_its_ceilings(tmp_path: Path) -> None:
    timed = plan(tmp_path, requests_per_minute=60)
    assert len(timed.timing) == 1 and "requests_per_minute 60" in timed.timing[0]
    # one request a second: the requests' count in seconds, at least
    assert f"at least {minutes(timed.requests)} for {timed.requests:,} requests" in timed.timing[0]
    free = plan(tmp_path)
    assert "no per-minute ceilings set" in free.timing[0]


def test_a_plan_with_no_model_requests_has_no_time(tmp_path: Path) -> None:
    values = {**small_fake_run(), "generate": {"calls": 0}, "compose": {"n_combinations": 0}}
    values["expand"] = {"method": "seeds"}
    values["judge"] = {"method": "none"}
    made = plan_pipeline(run_config(values), tmp_path / "run")
    assert made.requests == 0 and made.timing == []


@pytest.mark.slow
def test_a_local_model_plan_is_timed_from_a_measured_warm_up(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    values = {**small_fake_run(), "backend": {"name": "llamacpp", "n_ctx": 1024}}
    values["generate"] = {
        "calls": 1,
        "statements_per_style": 1,
        "statements_per_call": 1,
        "max_subconcepts": 1,
    }
    made = plan_pipeline(run_config(values), tmp_path / "run")
    assert len(made.timing) == 1 and "measured now" in made.timing[0] and "tokens/s" in made.timing[0]
    assert not (tmp_path / "run").exists()  # planning writes nothing
