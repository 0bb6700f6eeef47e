"""A run made ready but not started: its config loaded and checked, its stage list and inputs known.
`plan()` says what it will ask before anything is sent; `run()` runs (or resumes) it. `synsym generate`
is `prepare_run(...)`, then its plan, then its run; `synsym augment` and `synsym contrast` prepare theirs
around a given dataset (synsym.augment)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from synsym.core.errors import UserError
from synsym.pipeline.config import RunConfig, load_run_config
from synsym.pipeline.plan import RunPlan, plan_pipeline
from synsym.pipeline.runner import RunResult, run_pipeline
from synsym.pipeline.stage import Stage

DEFAULT_CONFIG = "demo"  # the embedded local model: no key, no server


@dataclass(frozen=True)
class PreparedRun:
    config: RunConfig
    out: Path
    stages: tuple[Stage, ...] | None = None  # None: the registered stages
    inputs: dict[str, str] | None = None  # what else the stages depend on, by the name they declare
    subconcepts_file: Path | None = None  # a reviewed file in place of the expand stage's answers

    def plan(self, timed: bool = True) -> RunPlan:
        return plan_pipeline(
            self.config, self.out, subconcepts_file=self.subconcepts_file, stages=self.stages,
            inputs=self.inputs, timed=timed,
        )  # fmt: skip

    def run(self, restart: bool = False, progress: bool | None = None) -> RunResult:
        return run_pipeline(
            self.config, self.out, subconcepts_file=self.subconcepts_file, restart=restart,
            progress=progress, stages=self.stages, inputs=self.inputs,
        )  # fmt: skip


def prepare_run(
    config: RunConfig | str | Path | None,
    out: str | Path,
    *,
    overrides: Sequence[str] | None = None,
    backend: str | None = None,
    max_cost: float | None = None,
    subconcepts_file: Path | None = None,
) -> PreparedRun:
    """The run of `config` (a RunConfig, or a file or built-in name, default `demo`, with `overrides`,
    `backend` and `max_cost` applied) in `out`."""
    if isinstance(config, RunConfig):
        if overrides or backend or max_cost is not None:
            raise UserError("overrides, backend and max_cost go with a config file or name, not a RunConfig")
    else:
        extra = [f"max_cost={max_cost}"] if max_cost is not None else []
        config = load_run_config(config or DEFAULT_CONFIG, [*(overrides or []), *extra], backend)
    return PreparedRun(config, Path(out), subconcepts_file=subconcepts_file)
