"""The run: a loop over the stage list inside one run directory, resumable at any point.

Every stage runs as soon as what it reads is there, all in one event loop: the LLM stages whose inputs
are ready share the engines (one queue, one concurrency limit), a stage that streams (dedup, judge) works on
rows while the stages before it are still answering, and local work runs in worker threads so it overlaps
requests. Each stage's output is written atomically when it finishes and recorded in `state.json` with the
stage's fingerprint. A rerun with the same config skips finished stages and answers the rest from the
response cache, so a run killed at any moment resumes without losing, duplicating or paying twice, and
ends with the same dataset, row for row. A rerun whose config changed a finished stage stops and says
which.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synsym.core.atomic import write_json
from synsym.core.errors import InputError, RunFailed
from synsym.core.executor import Executor, create_executor
from synsym.core.taxonomy import load_taxonomy
from synsym.engine.build import build_engine
from synsym.engine.cache import ResponseCache
from synsym.engine.engine import Engine
from synsym.engine.events import Events
from synsym.engine.progress import RunProgress
from synsym.pipeline.config import RunConfig
from synsym.pipeline.context import StageContext
from synsym.pipeline.engines import engine_backends
from synsym.pipeline.graph import STAGE_FORMAT, fingerprints, resolve_reads, rows_before, upstream
from synsym.pipeline.outcome import run_outcome
from synsym.pipeline.record import MANIFEST, record_print, write_record
from synsym.pipeline.registry import stage_list
from synsym.pipeline.stage import Inputs, Output, Stage


@dataclass
class RunResult:
    run_dir: Path
    manifest: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, Any]:
        return dict(self.manifest.get("counts") or {})

    @property
    def files(self) -> dict[str, Path]:
        """The dataset's files by name: the export's, the card and the manifest."""
        names = [*(self.manifest.get("export") or {}).get("files", {}), "README.md", "manifest.json"]
        return {name.rstrip("/"): self.run_dir / name for name in names}


class RunState:
    """`state.json`: which stages finished, with which fingerprint, in which stage-file format."""

    def __init__(self, run_dir: Path, fingerprints: dict[str, str]) -> None:
        self.path = run_dir / "state.json"
        self.fingerprints = fingerprints
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.format: int = data.get("format", 3 if data else STAGE_FORMAT)
        self.done: dict[str, str] = data.get("done", {})

    def changed(self) -> list[str]:
        return [s for s in self.fingerprints if s in self.done and self.done[s] != self.fingerprints[s]]

    def forget(self, stages: Sequence[str]) -> None:
        for stage in stages:
            self.done.pop(stage, None)
        self.format = STAGE_FORMAT
        self._write()

    def is_done(self, stage: str) -> bool:
        return self.done.get(stage) == self.fingerprints[stage]

    def mark(self, stage: str, fingerprint: str | None = None) -> None:
        """A stage done with its fingerprint (or the record, `manifest.json`, with what it depends on)."""
        self.done[stage] = fingerprint or self.fingerprints[stage]
        self._write()

    def _write(self) -> None:
        write_json(self.path, {"format": self.format, "done": self.done})


@contextmanager
def _exclusive(run_dir: Path) -> Iterator[None]:
    """One process per run directory. The lock dies with its process, so a kill never blocks a resume."""
    with (run_dir / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(
                f"{run_dir} is in use by another synsym process; wait for it or use another --out"
            ) from None
        yield


def run_pipeline(
    config: RunConfig,
    run_dir: str | Path,
    *,
    subconcepts_file: Path | None = None,
    restart: bool = False,
    progress: bool | None = None,
    stages: Sequence[Stage] | None = None,
    inputs: dict[str, str] | None = None,
) -> RunResult:
    """Run (or resume) every stage of `stages` (default: the registered ones, synsym's recipe and
    plugins) for `config` in `run_dir`. `inputs` names what else the stages depend on (a given dataset's
    digest, by the name its stage declares in `inputs`), for their fingerprints."""
    run_dir = Path(run_dir)
    stages = stage_list() if stages is None else tuple(stages)
    taxonomy = load_taxonomy(config.taxonomy)
    executor = create_executor(config.executor)
    executor.check()  # a package it needs is not installed (ray): say how, before anything is written
    check_keys(config, stages)
    run_dir.mkdir(parents=True, exist_ok=True)
    extra = {
        "subconcepts_file": subconcepts_digest(subconcepts_file) if subconcepts_file else None,
        **(inputs or {}),
    }
    prints = fingerprints(stages, config, extra)
    with _exclusive(run_dir):
        state = RunState(run_dir, prints)
        if state.format != STAGE_FORMAT and state.done:
            if not restart:
                raise InputError(
                    f"{run_dir} was made by an earlier synsym whose stage files (format {state.format}) this "
                    f"version (format {STAGE_FORMAT}) does not read; pass --restart to redo its stages "
                    "(answers already paid for come from the cache), or use a new --out"
                )
            state.forget(list(state.done))
        changed = state.changed()
        if changed and not restart:
            raise InputError(
                f"{run_dir} was made with a different config: the {', '.join(changed)} stage(s) would "
                "change. Use a new --out, or pass --restart to redo them (answers already paid for come "
                "from the cache)."
            )
        state.forget(changed)
        names = [s.name for s in stages]
        ctx = StageContext(config, taxonomy, {}, run_dir, subconcepts_file=subconcepts_file,
                           stage_names=names, fingerprints=prints)  # fmt: skip
        for stage in stages:
            stage.check(ctx)
        manifest = _recorded(stages, state, run_dir) or _run(stages, ctx, state, executor, progress)
    result = RunResult(run_dir, manifest, ctx.notes)
    problem = run_outcome(manifest, config.backend, config.backend.stop_failure_share)
    if problem is not None:
        raise RunFailed(f"{problem}; what it made is in {run_dir}", result)
    return result


def _recorded(stages: Sequence[Stage], state: RunState, run_dir: Path) -> dict[str, Any] | None:
    """The record of a run whose stages are all done and whose manifest is current: nothing to run."""
    path = run_dir / MANIFEST
    if state.done.get(MANIFEST) != record_print(state.fingerprints) or not path.exists():
        return None
    if not all(state.is_done(s.name) and (run_dir / s.artifact()).exists() for s in stages):
        return None
    record: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return record


def _run(
    stages: Sequence[Stage], ctx: StageContext, state: RunState, executor: Executor, progress: bool | None
) -> dict[str, Any]:
    """Build the engines and run the stages left; the engines are closed however the loop ends."""
    cache = ResponseCache(ctx.config.cache or ctx.run_dir / "cache.sqlite")
    engines: list[Engine] = []
    try:
        engines = _connect(ctx, stages, executor, cache, progress)
        return asyncio.run(_loop(stages, ctx, state, engines))
    finally:
        cache.close()
        ctx.notes += [line for e in engines if (line := e.dispatch.summary())]


def _connect(
    ctx: StageContext,
    stages: Sequence[Stage],
    executor: Executor,
    cache: ResponseCache,
    progress: bool | None,
) -> list[Engine]:
    """Give the run its engines by role and a progress display over them; their status lines go to the
    progress line, their notes (an endpoint or a worker taken out, back or given up on, a batch whose
    results the provider deleted) to the run's notes and the progress line. The engines, one each."""
    events = Events()
    ctx.engines = _engines(ctx.config, stages, executor, cache, events)
    engines = list({id(e): e for e in ctx.engines.values()}.values())
    ctx.progress = RunProgress([e.meter for e in engines], progress)
    events.subscribe(status=ctx.progress.status, note=ctx.notes.append)
    events.subscribe(note=ctx.progress.status)
    return engines


def _engines(
    config: RunConfig, stages: Sequence[Stage], executor: Executor, cache: ResponseCache, events: Events
) -> dict[str, Engine]:
    """An engine per role the stages send requests through (synsym.pipeline.engines), one per backend
    section, built by the engine layer's one builder (with `executor: {name: ray}`, Ray actors answer)."""
    built: dict[str, Engine] = {}
    out = {}
    for role, (where, backend) in engine_backends(stages, config).items():
        if where not in built:
            built[where] = build_engine(
                backend, where, executor=executor, cache=cache, max_cost=config.max_cost, events=events
            )
        out[role] = built[where]
    return out


async def _loop(
    stages: Sequence[Stage], ctx: StageContext, state: RunState, engines: list[Engine]
) -> dict[str, Any]:
    """Start every stage that is not done, loading the outputs of done ones that a running stage or the
    record reads; when all are done, write the run's record (`manifest.json`)."""
    reads = resolve_reads(stages)
    final = rows_before(stages, len(stages))  # the rows as the list leaves them: what the record counts
    outputs = {s.name: Output() for s in stages}
    todo = [s for s in stages if not (state.is_done(s.name) and (ctx.run_dir / s.artifact()).exists())]
    needed = {name for s in todo for name in upstream(reads[s.name])} | set(final)
    needed |= {s.name for s in stages if not s.makes_rows}  # values are small; a stage may record one
    for stage in stages:
        if stage not in todo and stage.name in needed:
            value = await asyncio.to_thread(stage.load, ctx, ctx.run_dir / stage.artifact())
            if stage.makes_rows:
                outputs[stage.name].extend(value)
                value = None
            outputs[stage.name].close(value)

    async def run(stage: Stage) -> None:
        began = time.perf_counter()
        inputs = Inputs({key: [outputs[n] for n in names] for key, names in reads[stage.name].items()})
        out = outputs[stage.name]
        await stage.run(ctx, inputs, out)
        value = out.rows if stage.makes_rows else out.value
        await asyncio.to_thread(stage.save, ctx, ctx.run_dir / stage.artifact(), value)
        ctx.stage_seconds[stage.name] = round(time.perf_counter() - began, 2)
        state.mark(stage.name)

    with ctx.progress:
        running = [asyncio.ensure_future(run(s)) for s in todo]
        try:
            await asyncio.gather(*running)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            for engine in engines:
                await engine.aclose()
    rows = [row for name in final for row in outputs[name].rows]
    entries = {k: v for s in stages for k, v in s.record(ctx, outputs[s.name].value).items()}
    manifest = await asyncio.to_thread(write_record, ctx, rows, entries)
    state.mark(MANIFEST, record_print(ctx.fingerprints))
    return manifest


def check_keys(config: RunConfig, stages: Sequence[Stage] | None = None) -> None:
    """An API key's environment variable that is not set, of a backend the run will send requests to
    (synsym.pipeline.engines): exit 2 before the run directory exists, not exit 4 after the first
    requests failed."""
    stages = stage_list() if stages is None else stages
    sections = dict(engine_backends(stages, config).values())
    for where, backend in sections.items():
        env = backend.options.get("api_key_env")
        if isinstance(env, str) and env and not os.environ.get(env):
            raise InputError(
                f"{where}.api_key_env -> the environment variable {env} is not set; export it with your "
                f"API key (e.g. export {env}=...), then rerun; nothing was written"
            )


def subconcepts_digest(path: Path) -> str:
    """A reviewed sub-concepts file is part of the expand stage's fingerprint, by its content."""
    if not path.is_file():
        raise InputError(f"{path} -> sub-concepts file not found")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
