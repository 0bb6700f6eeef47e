"""Contexts: neutral, Reddit-length passages about an everyday situation (`realism.long_posts.n`), written
by the model and checked by the judge like negatives (a passage must express no symptom). The realism stage
embeds judged statements in them to make long posts; a passage is never a dataset row of its own."""

from __future__ import annotations

from synsym.core.columns import DropClass, Post, new_post, post_id
from synsym.engine.engine import Result, Task
from synsym.pipeline.context import StageContext
from synsym.pipeline.stage import Inputs, LLMStage
from synsym.recipe.common.prompts import load_template
from synsym.recipe.common.requests import plain_request
from synsym.recipe.common.statements import clean_passage

MIN_CONTEXT_WORDS = 8


class ContextsStage(LLMStage):
    name = "contexts"
    uses = ("seed", "backend", "personas", "realism.long_posts")

    async def plan(self, ctx: StageContext, inputs: Inputs) -> list[Task]:
        cfg = ctx.config.realism.long_posts
        template = load_template("context")
        tasks: list[Task] = []
        for j in range(cfg.n):
            rng = ctx.rng("context", j)
            words = rng.randint(cfg.min_words, cfg.max_words)
            persona, who = ctx.persona("context", j)
            messages = template.render(persona=who, words=words, situation=rng.choice(cfg.situations))
            request = plain_request(ctx, messages, j, min(cfg.max_tokens, 2 * words), cfg.temperature)
            tasks.append(Task(f"context|{j}", request, None, j, template.hash, {"persona": persona}))
        return tasks

    def finish(self, ctx: StageContext, result: Result) -> list[Post]:
        fields = {"style": "", "symptoms": [], **result.task.payload}
        if not result.ok:
            return [ctx.failed_post(result, self.name, **fields)]
        text = clean_passage(result.text or "", MIN_CONTEXT_WORDS)
        if text is None:
            detail = f"no passage of {MIN_CONTEXT_WORDS}+ words"
            return [ctx.failed_post(result, self.name, DropClass.UNUSABLE_OUTPUT, detail, **fields)]
        row = new_post(
            id=post_id(result.key, 0, text), text=text, stage=self.name, **ctx.provenance(result), **fields
        )
        return [row]
