"""What a stage is: a name, its own config section (`Config`), the other config keys it `uses`, the
stages it reads, the work it does (LLM tasks with a finish step, or a local computation) and the
artifact it writes.

The runner loops over one ordered list of stages (the recipe's, synsym.recipe.stages, plus any
registered; see synsym.pipeline.registry). From that list and the stages' declarations come everything
a run needs to know about its structure: each stage's fingerprint (for resume), the order stages run and
stream into each other, and the funnel the CLI, the dataset card and `synsym inspect` show, which counts
rows by their own `stage` and `dropped_by` fields.

`reads` names earlier stages, or `ROWS`: the rows as the list has left them before this stage, that is the
output of the last stage before it that also read ROWS, followed by the rows of every row-making stage
since (or from the start). So a stage that reads and writes ROWS can be put anywhere in the list with one
line, and the stages after it read what it wrote.

Three bases cover the usual shapes: `LLMStage` (plan tasks, turn each answer into rows), `RowStage` (a
local function of every row so far) and `ValueStage` (a local value, such as the export). A stage with
another shape implements `run` itself: it may ask several rounds of questions and stream its rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

from synsym.core.atomic import read_jsonl, write_jsonl
from synsym.core.columns import Post
from synsym.engine.engine import Engine, Result, Task, max_prompt_tokens
from synsym.engine.usage import cost_of

if TYPE_CHECKING:
    from pathlib import Path

    from synsym.pipeline.context import StageContext

ROWS = "<rows>"

__all__ = ["ROWS", "Inputs", "LLMStage", "Output", "RowStage", "Stage", "StagePlan", "ValueStage"]


class Output:
    """What a stage makes: rows that arrive in order and can be read while they arrive, or one value."""

    def __init__(self) -> None:
        self.rows: list[Post] = []
        self.value: Any = None
        self.closed = False
        self._changed: asyncio.Future[None] | None = None

    def extend(self, rows: Sequence[Post]) -> None:
        if rows:
            self.rows.extend(rows)
            self._wake()

    def close(self, value: Any = None) -> None:
        self.value = value
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
        self._changed = None

    async def _next_change(self) -> None:
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        await self._changed

    async def chunks(self) -> AsyncIterator[list[Post]]:
        """The rows in order, in the chunks they arrived in, until the stage closes its output."""
        i = 0
        while True:
            if i < len(self.rows):
                chunk = self.rows[i:]
                i += len(chunk)
                yield chunk
            elif self.closed:
                return
            else:
                await self._next_change()

    async def wait(self) -> Any:
        """The value, or every row, once the stage is done."""
        while not self.closed:
            await self._next_change()
        return self.value if self.value is not None else self.rows


@dataclass
class StagePlan:
    """What a stage is about to do, before it does it: requests it will send (at most), their worst-case
    cost (None: prices unknown) and rows it will make (at most). `exact`: the request count is known, not
    a bound that depends on answers not yet given; `known`: so is its output. `value` is a value stage's
    output, or a stand-in when not `known`. `prompt_tokens` and `answer_tokens`: what its requests are
    expected to send and receive in all (not the worst case), for the plan's time estimate. `by_stage`:
    a stage that passes rows on says which stages made them (empty: all its own)."""

    stage: str
    requests: int = 0
    worst_cost: float | None = 0.0
    rows: int = 0
    exact: bool = True
    value: Any = None
    known: bool = True
    prompt_tokens: int = 0
    answer_tokens: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)


# An answer's expected size, for time estimates: a post with its JSON quoting (the paper's 18k posts
# average 100 characters, about 25 tokens), one judge score (`"Symptom_name": 4, `), one sub-concept.
POST_TOKENS = 40
SCORE_TOKENS = 8
SUBCONCEPT_TOKENS = 15


def prompt_tokens(tasks: list[Task]) -> int:
    """The tasks' prompts in tokens, at about four bytes a token (their chat framing and schema too)."""
    return sum(max_prompt_tokens(t.request) for t in tasks) // 4


def _done(plan: StagePlan) -> Output:
    out = Output()
    out.close(plan.value)
    return out


def dry_inputs(upstream: dict[str, list[StagePlan]]) -> Inputs:
    """Inputs for planning only: upstream values (or their stand-ins), no rows."""
    return Inputs({key: [_done(plan) for plan in plans] for key, plans in upstream.items()})


def rows_in(upstream: dict[str, list[StagePlan]]) -> tuple[int, bool]:
    """Rows arriving through ROWS, at most, and whether that count is known."""
    plans = upstream.get(ROWS, [])
    return sum(p.rows for p in plans), all(p.known for p in plans)


def rows_by_stage(upstream: dict[str, list[StagePlan]]) -> dict[str, int]:
    """Rows arriving through ROWS, at most, by the stage that made them."""
    out: dict[str, int] = {}
    for plan in upstream.get(ROWS, []):
        for stage, n in (plan.by_stage or {plan.stage: plan.rows}).items():
            out[stage] = out.get(stage, 0) + n
    return out


class Inputs:
    """What a stage reads: the outputs of the stages it names (ROWS: several, concatenated in order)."""

    def __init__(self, outputs: dict[str, list[Output]]) -> None:
        self._outputs = outputs

    async def value(self, name: str) -> Any:
        return await self._outputs[name][0].wait()

    async def rows(self, name: str = ROWS) -> list[Post]:
        return [row for out in self._outputs[name] for row in await out.wait()]

    async def chunks(self, name: str = ROWS) -> AsyncIterator[list[Post]]:
        """Rows as they arrive, in order: every row of the first output, then of the next, ..."""
        for out in self._outputs[name]:
            async for chunk in out.chunks():
                yield chunk


@runtime_checkable
class Stage(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def Config(self) -> type[BaseModel] | None:
        """Its settings: the run config's section named after the stage (None: it has none)."""

    @property
    def uses(self) -> tuple[str, ...]:
        """Other config keys (dotted: part of one) its output depends on: shared keys (`seed`,
        `backend`, ...) or other stages' sections. With its own section, its fingerprint."""

    @property
    def inputs(self) -> tuple[str, ...]:
        """What else its output depends on that is not config (a reviewed file's digest), by the name
        the run is given it under; part of its fingerprint."""

    @property
    def after(self) -> str | None:
        """For a stage registered on its own: the stage it runs after (None: at the end)."""

    @property
    def reads(self) -> tuple[str, ...]:
        """Earlier stages whose outputs it reads; ROWS: the rows so far."""

    @property
    def makes_rows(self) -> bool:
        """Its output is rows (else one value)."""

    def artifact(self) -> str:
        """Where its output lives, relative to the run directory."""

    def save(self, ctx: StageContext, path: Path, value: Any) -> None: ...

    def load(self, ctx: StageContext, path: Path) -> Any: ...

    async def estimate(self, ctx: StageContext, upstream: dict[str, list[StagePlan]]) -> StagePlan:
        """What it will do, from the plans of what it reads (by the keys of `reads`), without asking
        anything; for the plan `synsym generate` prints before the first request."""

    def check(self, ctx: StageContext) -> None:
        """Raise `InputError` for a config this stage cannot run, before any stage sends anything."""

    def roles(self, config: Any) -> tuple[str, ...]:
        """The engine roles it sends requests through with this run config (`default`, `judge`, ...);
        role R uses the backend of the config's section R when that sets one, else `backend`
        (synsym.pipeline.engines)."""

    async def run(self, ctx: StageContext, inputs: Inputs, out: Output) -> None:
        """Do the stage's work: `out.extend(rows)` as they are made (a row stage), then `out.close()`
        (with the value, for a value stage)."""

    def record(self, ctx: StageContext, value: Any) -> dict[str, Any]:
        """What it adds to the run's `manifest.json` (written by the runner), from its output."""


class Declared:
    """What every base declares by default: no settings, nothing used or given besides what it reads,
    its place in the list, nothing to check, nothing for the manifest, no requests."""

    name: str
    Config: type[BaseModel] | None = None
    uses: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    after: str | None = None

    def check(self, ctx: StageContext) -> None:
        """Nothing to check by default."""

    def record(self, ctx: StageContext, value: Any) -> dict[str, Any]:
        """Nothing for the manifest by default (a row stage's rows are counted by the funnel)."""
        return {}

    def roles(self, config: Any) -> tuple[str, ...]:
        """No requests by default."""
        return ()


class RowsFile(Declared):
    """A row stage's artifact: `stages/<name>.jsonl`, one row per line."""

    makes_rows: bool = True

    def artifact(self) -> str:
        return f"stages/{self.name}.jsonl"

    def save(self, ctx: StageContext, path: Path, value: Any) -> None:
        write_jsonl(path, value)

    def load(self, ctx: StageContext, path: Path) -> Any:
        return read_jsonl(path)


class LLMStage(RowsFile):
    """Rows from model answers: `plan` the tasks (each carrying the metadata its rows need in
    `Task.payload`), then `finish` turns each result into rows, in task order, as the answers arrive."""

    reads: tuple[str, ...] = ()

    def roles(self, config: Any) -> tuple[str, ...]:
        """Its requests go through the default engine (the run's `backend`)."""
        return ("default",)

    async def plan(self, ctx: StageContext, inputs: Inputs) -> list[Task]:
        raise NotImplementedError

    def finish(self, ctx: StageContext, result: Result) -> list[Post]:
        raise NotImplementedError

    def rows_per_answer(self, ctx: StageContext, task: Task) -> int:
        """Rows one answer makes, at most (for the plan)."""
        return 1

    def engine(self, ctx: StageContext) -> Engine:
        """The engine its requests go through: its first role's."""
        roles = self.roles(ctx.config)
        return ctx.engine_for(roles[0] if roles else "default")

    async def run(self, ctx: StageContext, inputs: Inputs, out: Output) -> None:
        tasks = await self.plan(ctx, inputs)
        async for result in ctx.answers(tasks, self.name, engine=self.engine(ctx)):
            out.extend(self.finish(ctx, result))
        out.close()

    async def estimate(self, ctx: StageContext, upstream: dict[str, list[StagePlan]]) -> StagePlan:
        tasks = await self.plan(ctx, dry_inputs(upstream))
        rows = sum(self.rows_per_answer(ctx, t) for t in tasks)
        exact = all(p.known for plans in upstream.values() for p in plans)
        return StagePlan(
            self.name, len(tasks), worst_cost(self.engine(ctx), tasks), rows, exact, known=exact,
            prompt_tokens=prompt_tokens(tasks), answer_tokens=rows * POST_TOKENS,
        )  # fmt: skip


class RowStage(RowsFile):
    """A local computation over every row so far: `compute` returns the rows after this stage (dropped
    ones included), run in a worker thread so requests still in flight are not held up."""

    reads: tuple[str, ...] = (ROWS,)

    def compute(self, ctx: StageContext, rows: list[Post]) -> list[Post]:
        raise NotImplementedError

    async def run(self, ctx: StageContext, inputs: Inputs, out: Output) -> None:
        rows = await inputs.rows()
        out.extend(await asyncio.to_thread(self.compute, ctx, rows))
        out.close()

    async def estimate(self, ctx: StageContext, upstream: dict[str, list[StagePlan]]) -> StagePlan:
        rows, known = rows_in(upstream)
        return StagePlan(self.name, rows=rows, known=known, by_stage=rows_by_stage(upstream))


class ValueStage(Declared):
    """A local computation that makes one value (not rows), saved and loaded by the stage itself."""

    reads: tuple[str, ...]
    makes_rows: bool = False

    async def estimate(self, ctx: StageContext, upstream: dict[str, list[StagePlan]]) -> StagePlan:
        return StagePlan(self.name)


def worst_cost(engine: Engine, tasks: list[Task]) -> float | None:
    """Every prompt at its byte-count bound and every answer at max_tokens, before any re-ask (the bound
    `--max-cost` reserves per request); None when the backend declares no prices."""
    cfg = engine.backend.config
    if not (cfg.prices.input_per_mtok or cfg.prices.output_per_mtok):
        return None
    return sum(cost_of(cfg.prices, max_prompt_tokens(t.request), t.request.max_tokens) for t in tasks)
