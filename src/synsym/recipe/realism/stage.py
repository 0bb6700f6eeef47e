"""The realism stage, after the judge and with no model calls: long posts and surface transformations.

- Long posts: judged statements embedded at random sentence boundaries of judged neutral passages (the
  contexts stage's rows), so a post is Reddit-length and most of its sentences are about something else.
  Its labels are exactly those of the embedded statements, which the judge has passed; a share carries
  none and is an all-zero row. `parts` lists the passages and statements, in order; a passage used in a
  long post leaves the rows as `used_in_long_post`, one left over as `unused_context`.
- Surface transformations (lowercase, typos, slang, no punctuation) on kept rows, each with its declared
  probability, seeded by the row id; labels are unchanged and each row lists what was applied.
"""

from __future__ import annotations

import random
import re

from synsym.core.columns import DropClass, Post, dropped, is_kept, new_post, post_id, with_fields
from synsym.pipeline.context import StageContext
from synsym.pipeline.stage import RowStage
from synsym.recipe.realism.config import RealismConfig
from synsym.recipe.realism.transforms import apply_transforms

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
LONG_STYLE = "long"


class RealismStage(RowStage):
    name = "realism"
    Config = RealismConfig

    def compute(self, ctx: StageContext, rows: list[Post]) -> list[Post]:
        """The rows with passages turned into long posts (appended) and transformations applied."""
        passages = [r for r in rows if is_kept(r) and r["stage"] == "contexts"]
        statements = [r for r in rows if is_kept(r) and r["symptoms"] and r["stage"] != "contexts"]
        long_posts, fates = build_long_posts(ctx, passages, statements)
        rows = [fates.get(r["id"], r) for r in rows] + long_posts
        if any(ctx.config.realism.transforms.values()):
            rows = [transformed(ctx, r) if is_kept(r) else r for r in rows]
        return rows


def transformed(ctx: StageContext, row: Post) -> Post:
    rng = random.Random(f"{ctx.config.seed}:transforms:{row['id']}")
    text, applied = apply_transforms(row["text"], ctx.config.realism.transforms, rng)
    return with_fields(row, text=text, transforms=applied) if applied else row


def build_long_posts(
    ctx: StageContext, contexts: list[Post], statements: list[Post]
) -> tuple[list[Post], dict[str, Post]]:
    """(long posts, passage id -> the passage as used or left over). Passages are used in order, several
    for one post when a passage is shorter than the post's drawn length."""
    cfg = ctx.config.realism.long_posts
    rng = ctx.rng("long_posts")
    queue = list(contexts)
    posts: list[Post] = []
    fates: dict[str, Post] = {}
    while queue:
        target = rng.randint(cfg.min_words, cfg.max_words)
        k = 0 if not statements or rng.random() < cfg.negative_share else rng.randint(1, cfg.max_expressions)
        embedded = rng.sample(statements, min(k, len(statements)))
        words = sum(len(s["text"].split()) for s in embedded)
        used: list[Post] = []
        while queue and (not used or words < target):
            used.append(queue.pop(0))
            words += len(used[-1]["text"].split())
        if words < cfg.min_words:
            detail = f"{words} words left, fewer than long_posts.min_words {cfg.min_words}"
            fates.update((c["id"], dropped(c, "realism", DropClass.UNUSED_CONTEXT, detail)) for c in used)
            break
        posts.append(_assemble(ctx, rng, used, embedded, cfg.max_words))
        detail = f"part of long post {posts[-1]['id']}"
        fates.update((c["id"], dropped(c, "realism", DropClass.USED_IN_LONG_POST, detail)) for c in used)
    return posts, fates


def _assemble(
    ctx: StageContext, rng: random.Random, contexts: list[Post], embedded: list[Post], max_words: int
) -> Post:
    sentences = [s for c in contexts for s in _SENTENCE_END.split(c["text"]) if s.strip()]
    budget = max_words - sum(len(s["text"].split()) for s in embedded)
    while len(sentences) > 1 and sum(len(s.split()) for s in sentences) > budget:
        sentences.pop()  # trim neutral sentences from the end, never a statement
    slots = sorted(rng.randint(0, len(sentences)) for _ in embedded)
    for offset, (slot, statement) in enumerate(zip(slots, embedded, strict=True)):
        sentences.insert(slot + offset, statement["text"])
    first = contexts[0]
    parts = [c["id"] for c in contexts] + [s["id"] for s in embedded]
    symptoms = ctx.taxonomy.order({name for s in embedded for name in s["symptoms"]})
    text = " ".join(sentences)
    return new_post(
        id=post_id(first["request_key"], len(parts), "|".join(parts)),
        text=text,
        style=LONG_STYLE,
        symptoms=list(symptoms),
        stage="realism",
        negative_kind=None if embedded else "long",
        persona=first["persona"],
        parts=parts,
        backend=first["backend"],
        model=first["model"],
        template=first["template"],
        request_key=first["request_key"],
        judge_scores={k: v for s in embedded for k, v in s["judge_scores"].items()},
        judge_method=first["judge_method"],
    )
