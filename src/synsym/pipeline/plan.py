"""What a run is about to do, before it sends anything: per stage, the requests it will make, their
worst-case cost and whether it is already done; the backend and model; answers already in the cache.

Each stage estimates itself from the estimates of what it reads (`Stage.estimate`), so the plan follows
the stage list like everything else. Figures that depend on answers not yet given (sub-concepts the model
will propose, rows the judge will see after dedup) are upper bounds and say so.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from synsym.backends.base import Backend, create_backend
from synsym.core.taxonomy import load_taxonomy
from synsym.engine.engine import Engine
from synsym.pipeline.config import RunConfig
from synsym.pipeline.context import StageContext
from synsym.pipeline.engines import engine_backends, roles_of
from synsym.pipeline.graph import STAGE_FORMAT, fingerprints, resolve_reads
from synsym.pipeline.registry import stage_list
from synsym.pipeline.runner import RunState, subconcepts_digest
from synsym.pipeline.stage import Stage, StagePlan
from synsym.pipeline.timing import duration


@dataclass
class RunPlan:
    run_dir: Path
    stages: list[StagePlan]
    done: list[str]  # finished stages a rerun keeps
    changed: list[str]  # finished stages whose config changed (they need --restart)
    backend: str  # "name (model)", and the judge's when it has its own
    cached_answers: int
    notes: list[str] = field(default_factory=list)
    timing: list[str] = field(default_factory=list)  # the expected time, per backend with requests
    engines: dict[str, str] = field(default_factory=dict)  # role -> the backend section its engine uses

    @property
    def requests(self) -> int:
        return sum(p.requests for p in self.stages if p.stage not in self.done)

    @property
    def exact(self) -> bool:
        return all(p.exact for p in self.stages if p.stage not in self.done)

    @property
    def worst_cost(self) -> float | None:
        costs = [p.worst_cost for p in self.stages if p.stage not in self.done and p.requests]
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)


def plan_pipeline(
    config: RunConfig,
    run_dir: str | Path,
    *,
    subconcepts_file: Path | None = None,
    stages: Sequence[Stage] | None = None,
    inputs: dict[str, str] | None = None,
    timed: bool = True,
) -> RunPlan:
    """The plan of `run_pipeline(config, run_dir, ...)`: reads the run directory, writes nothing there.
    `timed`: estimate the time too (a local model is loaded for a short warm-up to measure its speed)."""
    run_dir = Path(run_dir)
    stages = stage_list() if stages is None else tuple(stages)
    extra = {
        "subconcepts_file": subconcepts_digest(subconcepts_file) if subconcepts_file else None,
        **(inputs or {}),
    }
    prints = fingerprints(stages, config, extra)
    state = RunState(run_dir, prints)
    current = state.format == STAGE_FORMAT
    done = [s.name for s in stages if current and state.is_done(s.name) and (run_dir / s.artifact()).exists()]
    changed = state.changed() if current else list(state.done)
    backends = _backends(stages, config)
    shared: dict[int, Engine] = {}
    for backend in backends.values():
        if id(backend) not in shared:
            shared[id(backend)] = Engine(backend)
    engines = {role: shared[id(backend)] for role, backend in backends.items()}
    with tempfile.TemporaryDirectory(prefix="synsym-plan-") as scratch:  # planning may write side files
        ctx = StageContext(
            config, load_taxonomy(config.taxonomy), engines, Path(scratch),
            subconcepts_file=subconcepts_file, stage_names=[s.name for s in stages], fingerprints=prints,
        )  # fmt: skip
        for stage in stages:
            stage.check(ctx)
        plans = asyncio.run(_estimate(stages, ctx))
    todo = [p for p in plans if p.stage not in done]
    timing = duration(_by_backend(stages, config, backends, todo)) if timed else []
    where = {role: where for role, (where, _) in engine_backends(stages, config).items()}
    who = _who(config, backends)
    return RunPlan(run_dir, plans, done, changed, who, _cached(config, run_dir), ctx.notes, timing, where)


def _backends(stages: Sequence[Stage], config: RunConfig) -> dict[str, Backend]:
    """A backend per role the stages send requests through, one per backend section (as the run's
    engines: synsym.pipeline.engines)."""
    made: dict[str, Backend] = {}
    out = {}
    for role, (where, cfg) in engine_backends(stages, config).items():
        out[role] = made.get(where) or made.setdefault(where, create_backend(cfg, where))
    return out


def _who(config: RunConfig, backends: dict[str, Backend]) -> str:
    """ "name (model)" of the run's backend, then of each role's own ("judge name (model)")."""
    parts: dict[int, str] = {}
    for role, backend in backends.items():
        own = backend.config is not config.backend
        label = f"{role} " if own else ""
        parts.setdefault(id(backend), f"{label}{backend.config.name} ({backend.identity().get('model')})")
    return "; ".join(parts.values()) or f"{config.backend.name} (no requests)"


def _by_backend(
    stages: Sequence[Stage], config: RunConfig, backends: dict[str, Backend], plans: Sequence[StagePlan]
) -> list[tuple[Backend, list[StagePlan]]]:
    """The plans each backend answers for: a stage's requests are counted on its first role's."""
    first = {s.name: roles[0] for s in stages if (roles := roles_of(s, config))}
    groups: dict[int, tuple[Backend, list[StagePlan]]] = {}
    for plan in plans:
        role = first.get(plan.stage)
        if role is not None:
            backend = backends[role]
            groups.setdefault(id(backend), (backend, []))[1].append(plan)
    return list(groups.values())


async def _estimate(stages: Sequence[Stage], ctx: StageContext) -> list[StagePlan]:
    reads = resolve_reads(stages)
    by_name: dict[str, StagePlan] = {}
    for stage in stages:
        upstream = {key: [by_name[n] for n in names] for key, names in reads[stage.name].items()}
        by_name[stage.name] = await stage.estimate(ctx, upstream)
    return [replace(by_name[s.name]) for s in stages]


def _cached(config: RunConfig, run_dir: Path) -> int:
    """Answers in the run's response cache (0 when there is none yet), read without opening it for writing."""
    path = Path(config.cache) if config.cache else run_dir / "cache.sqlite"
    if not path.is_file():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
    except sqlite3.Error:
        return 0
