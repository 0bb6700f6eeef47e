"""The realism stage, after the judge and with no model calls: long posts and surface transformations.

- Long posts: judged statements embedded at random sentence boundaries of judged neutral passages (the
  `context` rows of the negatives stage), so a post is Reddit-length and most of its sentences are about
  something else. Its labels are exactly those of the embedded statements, which the judge has passed; a
  share carries none and is an all-zero row. `parts` lists the passages and statements, in order.
- Surface transformations (lowercase, typos, slang, no punctuation) on kept rows, each with its declared
  probability, seeded by the row id; labels are unchanged and each row lists what was applied.
"""

from __future__ import annotations

import random
import re

from synsym.pipeline.context import StageContext
from synsym.pipeline.records import Post, new_post, post_id, with_fields
from synsym.pipeline.transforms import apply_transforms

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
LONG_STYLE = "long"


def realize(ctx: StageContext, rows: list[Post]) -> list[Post]:
    """The judged rows with contexts turned into long posts and transformations applied; dropped rows
    (and contexts left over) keep or get their reason."""
    kept = [r for r in rows if r["drop_reason"] is None]
    dropped = [r for r in rows if r["drop_reason"] is not None]
    contexts = [r for r in kept if r["negative_kind"] == "context"]
    statements = [r for r in kept if r["symptoms"] and r["negative_kind"] != "context"]
    long_posts, unused = build_long_posts(ctx, contexts, statements)
    kept = [r for r in kept if r["negative_kind"] != "context"] + long_posts
    rates = ctx.config.realism.transforms
    if any(rates.values()):
        kept = [transformed(ctx, r) for r in kept]
    return [*kept, *dropped, *unused]


def transformed(ctx: StageContext, row: Post) -> Post:
    rng = random.Random(f"{ctx.config.seed}:transforms:{row['id']}")
    text, applied = apply_transforms(row["text"], ctx.config.realism.transforms, rng)
    return with_fields(row, text=text, transforms=applied) if applied else row


def build_long_posts(
    ctx: StageContext, contexts: list[Post], statements: list[Post]
) -> tuple[list[Post], list[Post]]:
    """(long posts, contexts left unused with their reason). Passages are used in order, several for one
    post when a passage is shorter than the post's drawn length."""
    cfg = ctx.config.realism.long_posts
    rng = ctx.rng("long_posts")
    queue = list(contexts)
    posts: list[Post] = []
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
            reason = f"unused_context: {words} words left, fewer than long_posts.min_words {cfg.min_words}"
            return posts, [with_fields(c, drop_reason=reason) for c in used]
        posts.append(_assemble(ctx, rng, used, embedded, cfg.max_words))
    return posts, []


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
        stage="long",
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
