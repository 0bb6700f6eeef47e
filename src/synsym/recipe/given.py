"""Rows that come from outside the run: a labelled dataset someone already has (the paper's release, a
user's own annotated posts), as the first row stage of a run in place of generate and compose, so hard
negatives, negated statements, long posts and contrastive rewrites are added to it with the same code,
checks and cache as to generated posts (`synsym augment INPUT --out DIR`, `synsym contrast`). The given
rows are the user's labelled data: dedup and the judge compare against them but never drop them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from synsym.core.columns import GIVEN_STAGE, Post, new_post, post_id
from synsym.core.errors import InputError, suggest
from synsym.core.taxonomy import Taxonomy
from synsym.pipeline.context import StageContext
from synsym.pipeline.stage import Inputs, Output, RowsFile, Stage, StagePlan
from synsym.recipe.stages import STAGES


class GivenRows(RowsFile):
    """The rows of a dataset file, as given; its input `input` is the file's digest."""

    name = GIVEN_STAGE
    inputs = ("input",)
    reads = ()

    def __init__(self, rows: Sequence[Post]) -> None:
        self.rows = list(rows)

    async def estimate(self, ctx: StageContext, upstream: dict[str, list[StagePlan]]) -> StagePlan:
        return StagePlan(self.name, rows=len(self.rows))

    async def run(self, ctx: StageContext, inputs: Inputs, out: Output) -> None:
        out.extend(self.rows)
        out.close()


# the stages that make posts from nothing: a given dataset takes their place
_MAKERS = ("generate", "compose")


def given_stages(rows: Sequence[Post], stages: Sequence[Stage] = STAGES) -> tuple[Stage, ...]:
    """`stages` with the given rows in place of generate and compose: sub-concepts (for the negatives'
    topics and the embedding judge), the rows, then every stage that adds to rows (each as configured:
    one with nothing to make makes nothing), the judge of what was added, and the export."""
    out: list[Stage] = []
    for stage in stages:
        if stage.name == _MAKERS[0]:
            out.append(GivenRows(rows))
        elif stage.name not in _MAKERS:
            out.append(stage)
    return tuple(out)


def rows_from_labels(
    texts: Sequence[str],
    symptoms: Sequence[Sequence[str]],
    styles: Sequence[str | None],
    taxonomy: Taxonomy,
    source: Path,
    digest: str,
) -> list[Post]:
    """Post rows for a labelled dataset: its labels must be the taxonomy's symptoms (a dataset in another
    label space cannot say which symptom a rewrite removes)."""
    unknown = sorted({s for row in symptoms for s in row} - set(taxonomy.names))
    if unknown:
        raise InputError(
            f"{source} -> labels {', '.join(unknown[:5])} are not symptoms of taxonomy {taxonomy.name}"
            f"{suggest(unknown[0], taxonomy.names)}; pass the taxonomy they belong to (--set taxonomy=...)"
        )
    rows = []
    for i, (text, names, style) in enumerate(zip(texts, symptoms, styles, strict=True)):
        rows.append(
            new_post(
                id=post_id(digest, i, text),
                text=text,
                style=style or "",
                symptoms=list(taxonomy.order(names)),
                stage=GIVEN_STAGE,
                backend="input",
                model=source.name,
                template="",
                request_key="",
            )
        )
    return rows
