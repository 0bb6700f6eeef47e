"""Stage 4, judge and filter: score every (post, target symptom) 0-5 and drop what falls short (the dedup
stage drops exact and near duplicates just before, so none is paid for). Scores stay on every row, kept
or dropped, and every drop says why.

`judge.method`: `llm` (a rubric prompt; the judge may be another backend), `embedding` (offline MiniLM
margins, for runs without a capable model), `both` (embedding as a cheap pre-filter, then the LLM), `none`.
Every judge first checks the voice the recipe asks for (`judge.first_person`): a post that states a
symptom without a first-person pronoun is dropped before anything is scored or paid for.
Hard negatives, denied symptoms and passages are checked by the LLM judge only (see `JudgeStage`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from synsym.core.columns import GIVEN_STAGE, Post, is_kept, new_post
from synsym.pipeline.context import StageContext
from synsym.pipeline.stage import (
    ROWS,
    SCORE_TOKENS,
    Inputs,
    Output,
    RowsFile,
    StagePlan,
    prompt_tokens,
    rows_by_stage,
    rows_in,
    worst_cost,
)
from synsym.recipe.common.calibrated import check_calibration
from synsym.recipe.common.judge_config import JudgeConfig
from synsym.recipe.common.scoring import judge_block, judge_tasks, load_embedding_judge


class JudgeStage(RowsFile):
    """Scores rows as they arrive from dedup, so judge requests go out while the last generation answers
    are still coming in. The embedding judge takes blocks of `BLOCK` rows cut by row count, never by
    timing, so it sees the same batches (and gives the same scores) on every rerun; the LLM judge asks
    about each row on its own, so it takes whatever has arrived."""

    name = "judge"
    Config = JudgeConfig
    reads = ("expand", ROWS)
    BLOCK = 256

    def roles(self, config: Any) -> tuple[str, ...]:
        """The judge's engine (`judge.backend`, else `backend`) when it asks a model."""
        return ("judge",) if config.judge.method in ("llm", "both") else ()

    def check(self, ctx: StageContext) -> None:
        check_calibration(ctx.config.judge, ctx.taxonomy)

    async def run(self, ctx: StageContext, inputs: Inputs, out: Output) -> None:
        cfg = ctx.config.judge
        encodes = cfg.method in ("embedding", "both")
        loading: asyncio.Future[Any] | None = None

        async def load() -> Any:
            subconcepts = await inputs.value("expand")
            ctx.progress.status("loading the MiniLM encoder for the embedding judge")
            judge = await asyncio.to_thread(load_embedding_judge, ctx, subconcepts)
            ctx.progress.status("")
            return judge

        async def judged(rows: list[Post]) -> list[Post]:
            """The block judged; the encoder is loaded for the first block with a row to judge."""
            nonlocal loading
            embedding = None
            if encodes and any(is_kept(r) and r["stage"] != GIVEN_STAGE for r in rows):
                loading = loading or asyncio.ensure_future(load())
                embedding = await loading
            return await judge_block(ctx, rows, self.name, embedding, lock, bar)

        bar = ctx.progress.bar("judge", 0) if cfg.method in ("llm", "both") else None
        lock = asyncio.Lock()  # one block on the encoder at a time: it already uses every core
        blocks: asyncio.Queue[asyncio.Future[list[Post]] | None] = asyncio.Queue()

        def start(rows: list[Post]) -> None:
            blocks.put_nowait(asyncio.ensure_future(judged(rows)))

        async def cut() -> None:
            block: list[Post] = []
            async for chunk in inputs.chunks():
                if not encodes:  # the LLM judge scores each row on its own: take what has arrived
                    start(chunk)
                    continue
                block += chunk
                while len(block) >= self.BLOCK:
                    start(block[: self.BLOCK])
                    block = block[self.BLOCK :]
            start(block)
            blocks.put_nowait(None)

        async def emit() -> None:
            while (block := await blocks.get()) is not None:
                out.extend(await block)

        await asyncio.gather(cut(), emit())
        out.close()

    async def estimate(self, ctx: StageContext, upstream: dict[str, list[StagePlan]]) -> StagePlan:
        """One LLM question per row that passes dedup (and the embedding pre-filter): at most every row
        but the given ones (a user's own dataset is not judged)."""
        rows, _ = rows_in(upstream)
        if ctx.config.judge.method not in ("llm", "both"):
            return StagePlan(self.name, rows=rows, known=False)
        made = rows_by_stage(upstream)
        given = made.get(GIVEN_STAGE, 0)
        unlabelled = made.get("negatives", 0) + made.get("contexts", 0)
        posts = [  # a long post scored on one symptom, and one scored on every symptom (a negative)
            new_post(id="x", text="x" * 600, style="", symptoms=symptoms, stage="plan", backend="", model="",
                     template="", request_key="")
            for symptoms in ([ctx.taxonomy.names[0]], [])
        ]  # fmt: skip
        examples = [list(judge_tasks(ctx, [p])) for p in posts]
        one, every = (worst_cost(ctx.engine_for("judge"), tasks) for tasks in examples)
        stated = rows - unlabelled - given
        cost = None if one is None or every is None else one * stated + every * unlabelled
        prompts = prompt_tokens(examples[0]) * stated + prompt_tokens(examples[1]) * unlabelled
        scores = stated * 2 + unlabelled * len(ctx.taxonomy.names)  # ~1.6 symptoms a post
        return StagePlan(
            self.name, rows - given, cost, rows, exact=False, known=False,
            prompt_tokens=prompts, answer_tokens=scores * SCORE_TOKENS,
        )  # fmt: skip
