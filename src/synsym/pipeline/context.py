"""What every stage gets: the validated config, the taxonomy, the engines by role, where to write, and
`answers`, the one way a stage asks questions (through the shared engines, with its own progress bar)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncIterator, Iterable, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synsym.backends.base import create_backend
from synsym.core.columns import DropClass, Post, new_post, post_id
from synsym.core.errors import BudgetExceeded, EndpointUnavailable
from synsym.core.taxonomy import Taxonomy
from synsym.engine.engine import Engine, Result, Task
from synsym.engine.progress import Bar, RunProgress
from synsym.pipeline.outcome import diagnose
from synsym.pipeline.settings import Persona, RunConfig

SUBMIT_SLICE = 256  # tasks queued per turn of the event loop


@dataclass
class StageContext:
    config: RunConfig
    taxonomy: Taxonomy
    engines: dict[str, Engine]  # by role (synsym.pipeline.engines): roles on one backend share one engine
    run_dir: Path
    progress: RunProgress = field(default_factory=lambda: RunProgress([], enabled=False))
    subconcepts_file: Path | None = None  # a reviewed file that replaces the expand stage's answers
    stage_names: list[str] = field(default_factory=list)  # the run's stage list, in order
    fingerprints: dict[str, str] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # stages this process ran
    started: float = field(default_factory=time.time)
    notes: list[str] = field(default_factory=list)
    _idle: Engine | None = field(default=None, repr=False)  # the default role's, when no stage has it

    def engine_for(self, role: str) -> Engine:
        """The engine a role's requests go through; a role without its own (`judge` when the judge asks no
        model) gets the default one. A run none of whose stages asks a model still has an idle one over its
        `backend`, for its record's usage; it sends nothing."""
        engine = self.engines.get(role) or self.engines.get("default")
        if engine is None:
            if self._idle is None:
                self._idle = Engine(create_backend(self.config.backend))
            engine = self._idle
        return engine

    @property
    def engine(self) -> Engine:
        """The default role's engine: the run's `backend`, which writes the posts."""
        return self.engine_for("default")

    @property
    def judge_engine(self) -> Engine:
        """The judge role's engine (`judge.backend`, else the default one)."""
        return self.engine_for("judge")

    def rng(self, *parts: object) -> random.Random:
        """A generator seeded by the run seed and a stable label: the same draw on every rerun."""
        return random.Random(":".join(str(p) for p in (self.config.seed, *parts)))

    def request_seed(self, sample: int) -> int:
        """The decoding seed for repeated draws of one prompt: different per draw, the same per rerun."""
        return self.config.seed * 1_000_003 + sample

    def persona(self, *parts: object) -> tuple[str | None, str]:
        """(name, prompt text) of the declared persona for one prompt, a seeded draw; (None, "") when the
        config declares none."""
        if not self.config.personas:
            return None, ""
        persona: Persona = self.rng("persona", *parts).choice(self.config.personas)
        return persona.name, persona.describe()

    async def answers(
        self, tasks: Iterable[Task], label: str = "", engine: Engine | None = None, bar: Bar | None = None
    ) -> AsyncIterator[Result]:
        """The results of `tasks`, in task order, each as soon as it and those before it are in, counted
        on `bar` (default: a new bar named `label`; a bar given is the caller's to size). A run that must
        stop (the budget is spent, the endpoint cannot be used) raises here, so no stage writes rows for
        requests never answered.

        Tasks are built (when `tasks` is a generator) and queued `SUBMIT_SLICE` at a time, with the event
        loop free between slices: 6,000 judge tasks at once held it for 0.7 s, while the answers of every
        other stage waited unread."""
        engine = engine or self.engine
        futures: list[asyncio.Future[Result]] = []
        if bar is None and isinstance(tasks, Sized) and len(tasks):
            bar = self.progress.bar(label, len(tasks))
        source, grows = iter(tasks), bar is None  # a generator's bar grows slice by slice
        while chunk := list(itertools.islice(source, SUBMIT_SLICE)):
            if bar is None:
                bar = self.progress.bar(label, len(chunk))
            elif grows:
                bar.add_total(len(chunk))
            futures += engine.submit(chunk)
            await asyncio.sleep(0)
        for future in futures:
            result = await future
            if bar is not None:
                bar.advance(result.cached)
            check_engine(engine, result)
            yield result

    def provenance(self, result: Result) -> dict[str, Any]:
        identity = self.engine.backend.identity()
        return {
            "backend": str(identity.get("backend")),
            "model": str(identity.get("model")),
            "template": result.task.template,
            "request_key": result.key,
        }

    def failed_post(
        self, result: Result, stage: str, drop_class: DropClass | None = None, detail: str = "", **fields: Any
    ) -> Post:
        """A request that ended without a usable answer, kept as a dropped row with its class."""
        return new_post(
            id=post_id(result.key, -1, ""),
            text=result.text or "",
            stage=stage,
            drop_class=(drop_class or DropClass(result.failure)).value,
            drop_detail=detail or result.error,
            dropped_by=stage,
            **self.provenance(result),
            **fields,
        )


def check_engine(engine: Engine, result: Result) -> None:
    """Raise when a result says the run cannot go on: the budget is spent or the endpoint is unusable."""
    if engine.stopped is not None:
        stop = engine.stopped
        hint = diagnose({stop.failure: 1}, engine.backend.config)
        raise EndpointUnavailable(
            f"stopped: requests to {stop.endpoint} keep failing ({stop.failure}): {stop.message}. "
            f"{hint[0].upper()}{hint[1:]}. Answers so far are kept in the cache; no dataset was written."
        )
    if result.failure == "budget":
        raise BudgetExceeded(
            f"stopped before exceeding max_cost {engine.budget.max_cost}; rerun with a larger --max-cost "
            "to resume (nothing paid for is lost)"
        )
