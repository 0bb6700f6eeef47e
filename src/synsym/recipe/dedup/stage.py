"""Drop exact and near-duplicate posts, keeping the first occurrence and recording why each drop happened.

LLMs repeat themselves, most of all small ones and most of all within one (symptom, style) cell, and a
dataset full of paraphrase-level copies inflates its size and leaks between train and test splits. Two passes:

- exact: the same text after normalisation (lowercase, punctuation removed, whitespace collapsed), so
  "I can't sleep." and "i cant  sleep" are one post;
- near: MinHash over word 3-shingles (word unigrams when a text has too few words for 3-shingles to mean
  anything), with an LSH index so each post is compared only to plausible matches, never to all others.

Input order decides who is kept, so the result is deterministic for a given row order and seed. A near
duplicate names the kept post it is closest to; an exact duplicate names the first post with its text. A
post that copies one of the prompts' few-shot examples or the taxonomy's seeds (the best examples there
are, so every judge passes them) is dropped as an example copy: the same text, a near duplicate of it, or
`EXAMPLE_RUN` words of it in a row. Kept rows are returned as given; dropped
rows are copies with `drop_class` and `drop_detail` set.

The sketch is datasketch's MinHash and its LSH band layout, computed a block at a time in numpy
(`synsym.recipe.dedup.minhash`), with the same signatures and candidates: all of dedup on the paper's 18k
posts plus 2.6k planted near copies takes 1.5-1.7 s of CPU, against 2.7-3.0 s with datasketch's per-post
objects and ~14 s with one `update` per shingle.
"""

from __future__ import annotations

import asyncio
import re
import string
from collections.abc import Sequence

import numpy as np
from pydantic import Field, PositiveInt

from synsym.core.columns import GIVEN_STAGE, DropClass, Post, dropped, is_kept
from synsym.core.config import StrictModel
from synsym.core.errors import InputError
from synsym.pipeline.context import StageContext
from synsym.pipeline.stage import ROWS, Inputs, Output, RowsFile, StagePlan, rows_by_stage, rows_in
from synsym.recipe.dedup.minhash import BandIndex, jaccard, signatures

_PUNCT = re.compile(f"[{re.escape(string.punctuation)}‘’“”–—…]")
_SPACE = re.compile(r"\s+")
SHINGLE = 3
MIN_WORDS_FOR_SHINGLES = 6  # below this, 3-shingles are too few (<= 3) for a Jaccard estimate to mean much
# A post that holds this many words in a row of an example copies it, however it goes on: of the paper's
# 18,254 posts (not written from our examples) 25 share 8 words in a row with one, 187 share 6; 7 of 108
# kept demo posts held 12 or more, which MinHash over the whole post missed.
EXAMPLE_RUN = 8


def normalise(text: str) -> str:
    """Lowercase, punctuation removed (so `can't` == `cant`), whitespace collapsed and stripped."""
    return _SPACE.sub(" ", _PUNCT.sub("", text.lower())).strip()


def shingles(norm: str, k: int = SHINGLE) -> set[str]:
    """Word k-shingles of normalised text; word unigrams for texts shorter than MIN_WORDS_FOR_SHINGLES."""
    words = norm.split()
    if len(words) < max(k, MIN_WORDS_FOR_SHINGLES):
        return set(words)
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


class Deduplicator:
    """Dedup in input order, fed chunk by chunk as rows arrive: a row's fate depends only on the rows
    before it, so the result is the same however the rows were chunked. `references` are texts no row may
    copy (the prompts' few-shot examples, the taxonomy's seeds): a row that repeats one, exactly or nearly,
    is dropped as an example copy, and so is one that holds EXAMPLE_RUN words in a row of one of
    `examples` (default: every reference; a stage passes the example posts only, as a post may well name
    its seed's description). Only kept rows are compared; dropped ones pass through unchanged, and given
    rows (a user's own dataset) are compared against but never dropped."""

    def __init__(
        self,
        threshold: float = 0.8,
        num_perm: int = 128,
        seed: int = 1,
        references: Sequence[str] = (),
        stage: str = "dedup",
        examples: Sequence[str] | None = None,
    ) -> None:
        if threshold <= 0.0:
            raise InputError(
                f"dedup threshold must be in (0, 1] (or > 1 to skip near duplicates), got {threshold}"
            )
        if num_perm < 16:
            raise InputError(
                f"dedup num_perm must be at least 16 for a usable Jaccard estimate, got {num_perm}"
            )
        self.threshold, self.num_perm, self.seed, self.stage = threshold, num_perm, seed, stage
        self._first: dict[str, str] = {}  # normalised text -> id of the first row (or reference) with it
        self._ids: list[str] = []  # index key -> row id, or `example:<n>` for a reference
        self._sigs: list[np.ndarray] = []
        # Bands chosen to make misses rare: a candidate costs one signature compare, a miss keeps a duplicate.
        near = threshold <= 1.0
        self._index = BandIndex(threshold, num_perm, weights=(0.05, 0.95)) if near else None
        self._references = list(references)
        lifted = self._references if examples is None else list(examples)
        self._runs = {run: text for text in lifted for run in _runs(normalise(text))}
        self._decide([(f"example:{i}", text) for i, text in enumerate(self._references)])

    def feed(self, rows: Sequence[Post]) -> list[Post]:
        """The same rows in the same order, duplicates and copies as dropped copies with their class."""
        out = list(rows)
        for i, row in enumerate(rows):
            copied = self._copied_run(row["text"]) if is_kept(row) and row["stage"] != GIVEN_STAGE else None
            if copied is not None:
                out[i] = dropped(row, self.stage, DropClass.EXAMPLE_COPY, copied)
        kept = [(i, row) for i, row in enumerate(out) if is_kept(row)]
        for (i, row), fate in zip(kept, self._decide([(r["id"], r["text"]) for _, r in kept]), strict=True):
            if fate is not None and row["stage"] != GIVEN_STAGE:
                out[i] = dropped(row, self.stage, *fate)
        return out

    def _decide(self, items: list[tuple[str, str]]) -> list[tuple[DropClass, str] | None]:
        norms = [normalise(text) for _, text in items]
        sets = [shingles(n) for n in norms]
        index = self._index
        hashed = [k for k, s in enumerate(sets) if s] if index is not None else []
        sigs = signatures([[sh.encode("utf-8") for sh in sets[k]] for k in hashed], self.num_perm, self.seed)
        signature = dict(zip(hashed, sigs, strict=True))
        fates: list[tuple[DropClass, str] | None] = []
        for k, (row_id, _) in enumerate(items):
            first = self._first.get(norms[k])
            if first is not None:
                fates.append(self._fate(first, DropClass.EXACT_DUPLICATE, f"exact_duplicate of {first}"))
                continue
            self._first[norms[k]] = row_id
            if index is not None and k in signature:
                keys = index.keys(signature[k])
                near = sorted(index.query(keys))
                if near:
                    est = jaccard(np.stack([self._sigs[j] for j in near]), signature[k])
                    best = max(range(len(near)), key=lambda n: (est[n], -near[n]))  # most similar, earliest
                    if est[best] >= self.threshold:
                        match = self._ids[near[best]]
                        detail = f"near_duplicate of {match} (jaccard {est[best]:.2f})"
                        fates.append(self._fate(match, DropClass.NEAR_DUPLICATE, detail))
                        continue
                index.insert(len(self._ids), keys)
                self._ids.append(row_id)
                self._sigs.append(signature[k])
            fates.append(None)
        return fates

    def _copied_run(self, text: str) -> str | None:
        """Why `text` copies an example: the first run of EXAMPLE_RUN words it shares with one; None."""
        for run in _runs(normalise(text)):
            if run in self._runs:
                example = self._runs[run][:80]
                return f"copies an example or seed text, {EXAMPLE_RUN} words in a row ({run!r}): {example!r}"
        return None

    def _fate(self, match: str, kind: DropClass, detail: str) -> tuple[DropClass, str]:
        if match.startswith("example:"):
            text = self._references[int(match.split(":")[1])]
            return DropClass.EXAMPLE_COPY, f"copies an example or seed text: {text[:80]!r}"
        return kind, detail


def _runs(norm: str) -> list[str]:
    """Every EXAMPLE_RUN words in a row of normalised text."""
    words = norm.split()
    return [" ".join(words[i : i + EXAMPLE_RUN]) for i in range(len(words) - EXAMPLE_RUN + 1)]


def deduplicate(
    rows: Sequence[Post],
    threshold: float = 0.8,
    num_perm: int = 128,
    seed: int = 1,
    references: Sequence[str] = (),
) -> tuple[list[Post], list[Post]]:
    """(kept, dropped) of `rows` in one go: exact duplicates of normalised text, then near duplicates with
    estimated Jaccard >= `threshold` over word shingles, then copies of `references`. The first occurrence
    in input order is kept; a near duplicate names the most similar earlier kept post (ties: the earliest).
    `threshold` > 1 turns the near pass off."""
    out = Deduplicator(threshold, num_perm, seed, references).feed(rows)
    return [r for r in out if is_kept(r)], [r for r in out if not is_kept(r)]


class DedupConfig(StrictModel):
    """Exact and near duplicates, and copies of the prompts' examples, dropped before judging."""

    near_threshold: float = Field(
        0.8, gt=0, le=1, description="MinHash Jaccard at or above which posts are near duplicates"
    )
    num_perm: PositiveInt = Field(128, description="MinHash permutations (more: a finer Jaccard estimate)")


class DedupStage(RowsFile):
    """Exact and near duplicates, and copies of the prompts' examples, dropped before judging (so none
    is paid for), streamed: rows are decided as they arrive, while requests are still in flight."""

    name = "dedup"
    Config = DedupConfig
    uses = ("seed", "taxonomy", "negatives.kinds")
    reads = (ROWS,)

    async def run(self, ctx: StageContext, inputs: Inputs, out: Output) -> None:
        cfg = ctx.config.dedup
        dedup = Deduplicator(
            cfg.near_threshold,
            cfg.num_perm,
            ctx.config.seed,
            reference_texts(ctx),
            examples=example_posts(ctx),
        )
        async for chunk in inputs.chunks():
            out.extend(await asyncio.to_thread(dedup.feed, chunk))
        out.close()

    async def estimate(self, ctx: StageContext, upstream: dict[str, list[StagePlan]]) -> StagePlan:
        rows, known = rows_in(upstream)
        return StagePlan(self.name, rows=rows, known=known, by_stage=rows_by_stage(upstream))


def example_posts(ctx: StageContext) -> list[str]:
    """The example posts the prompts show (the taxonomy's and the negative kinds'), not the seeds."""
    texts = [e for s in ctx.taxonomy.symptoms for v in s.examples.values() for e in v]
    texts += [e for kind in ctx.config.negatives.kinds for e in kind.examples]
    return list(dict.fromkeys(texts))


def reference_texts(ctx: StageContext) -> list[str]:
    """What no post may copy: every few-shot example a prompt can show, and the taxonomy's seeds."""
    texts = [
        t for s in ctx.taxonomy.symptoms for t in (*s.seeds, *(e for v in s.examples.values() for e in v))
    ]
    texts += [e for kind in ctx.config.negatives.kinds for e in kind.examples]
    return list(dict.fromkeys(texts))
