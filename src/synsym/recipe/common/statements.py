"""What the post-writing stages share: the structured answer (statements per style), the plain-text
cleanup for small models, and turning answers into rows."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, create_model

from synsym.core.columns import DropClass, Post, dropped, new_post, post_id
from synsym.core.taxonomy import Symptom
from synsym.engine.engine import Result
from synsym.pipeline.context import StageContext
from synsym.pipeline.settings import Style

Statement = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=600)]
_LABEL = re.compile(r"^(post|answer|example|new post)\s*:\s*", re.IGNORECASE)
_PREAMBLE = re.compile(r"^(here(?:'s| is| are)|sure|okay|certainly)\b[^:\n]{0,80}:\s*", re.IGNORECASE)
_TITLE = re.compile(r"^(title|\*\*title)\s*:.*$", re.IGNORECASE | re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def statements_model(styles: list[Style], m: int) -> type[BaseModel]:
    """`{style: [m statements]}` for every style: one schema, so one call answers all styles."""
    fields: dict[str, Any] = {
        s.name: (list[Statement], Field(min_length=m, max_length=2 * m)) for s in styles
    }
    return create_model("Statements", **fields)


def answer_shape(styles: list[Style]) -> str:
    return ", ".join(f'"{s.name}": ["...", ...]' for s in styles)


def styles_block(styles: list[Style]) -> str:
    return "\n".join(f"- {s.name}: {s.description}" for s in styles)


def symptom_phrase(symptom: Symptom) -> str:
    """The definition as a phrase that reads after "someone experiencing ..." in a few-shot prompt."""
    text = symptom.definition.strip().rstrip(".")
    return text[:1].lower() + text[1:]


def example_pool(symptom: Symptom, style: str) -> list[str]:
    """Few-shot examples for a style: the style's own, else any the symptom has, else its seeds."""
    return symptom.examples.get(style) or [e for v in symptom.examples.values() for e in v] or symptom.seeds


def clean_plain(text: str, max_sentences: int = 3, cut: bool = False) -> str | None:
    """A small model's one-post answer, reduced to the post: no "Here is a post:" preamble, first
    paragraph, no label, no quotes. `cut`: the answer stopped at max_tokens, so its last sentence is
    unfinished and is left out (None when it has no other)."""
    text = _PREAMBLE.sub("", text.strip()).strip().split("\n\n")[0].strip()
    text = _LABEL.sub("", text).strip().strip('"').strip("“”").strip()
    sentences = _SENTENCE_END.split(text)
    if cut and len(sentences) <= max_sentences:
        sentences = sentences[:-1]
    text = " ".join(sentences[:max_sentences])
    return text if len(text.split()) >= 4 else None


def clean_passage(text: str, min_words: int) -> str | None:
    """A long answer (a Reddit-length passage) on one line, without a preamble or a title; None when it
    has fewer than `min_words` words."""
    text = _TITLE.sub("", _PREAMBLE.sub("", text.strip())).strip().strip('"')
    text = " ".join(text.split())
    return text if len(text.split()) >= min_words else None


def rows_from_result(
    ctx: StageContext, result: Result, stage: str, styles: list[Style], m: int
) -> list[Post]:
    """Rows for every statement in one answer (or a dropped row saying why there are none). The task's
    payload holds the rows' fields; a plain-text task (no schema) is one post in the payload's `style`,
    a structured one holds up to `m` statements per style."""
    fields = dict(result.task.payload)
    if not result.ok:
        return [ctx.failed_post(result, stage, **{"style": "", **fields})]
    prov = ctx.provenance(result)
    limits = {s.name: s.max_words for s in styles}
    if result.task.schema is None:
        cut = result.finish_reason == "length"
        text = clean_plain(result.text or "", cut=cut)
        if text is None:
            why = (
                "the answer was cut off at max_tokens before a sentence of it ended"
                if cut
                else "the answer held no post of at least 4 words"
            )
            drop = DropClass.TRUNCATED if cut else DropClass.UNUSABLE_OUTPUT
            return [ctx.failed_post(result, stage, drop, why, **fields)]
        texts = [(fields.pop("style"), text)]
    else:
        texts = [(s.name, " ".join(t.split())) for s in styles for t in getattr(result.value, s.name)[:m]]
    rows: list[Post] = []
    for style, text in texts:
        row = new_post(
            id=post_id(result.key, len(rows), text), text=text, style=style, stage=stage, **prov, **fields
        )
        limit, words = limits.get(style), len(text.split())
        if limit is not None and words > limit:
            row = dropped(row, stage, DropClass.TOO_LONG, f"{words} words > {limit} for style {style}")
        rows.append(row)
    return rows
