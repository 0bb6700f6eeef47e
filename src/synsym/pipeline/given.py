"""Rows that come from outside the run: a labelled dataset someone already has (the paper's release, a
user's own annotated posts), as the first row stage of a run, so the contrast stage (and export) can work
on it with the same code, checks and cache as on generated posts (`synsym contrast INPUT --out DIR`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from synsym.core.columns import Post, new_post, post_id
from synsym.core.errors import InputError, suggest
from synsym.core.taxonomy import Taxonomy
from synsym.pipeline.context import StageContext
from synsym.pipeline.contrast import ContrastStage
from synsym.pipeline.expand import ExpandStage
from synsym.pipeline.export import ExportStage
from synsym.pipeline.stage import Inputs, Output, RowsFile, Stage, StagePlan


class GivenRows(RowsFile):
    """The rows of a dataset file, as given; `sections` names `input`, the file's digest."""

    name = "input"
    sections = ("input",)
    reads = ()

    def __init__(self, rows: Sequence[Post]) -> None:
        self.rows = list(rows)

    async def estimate(self, ctx: StageContext, upstream: dict[str, list[StagePlan]]) -> StagePlan:
        return StagePlan(self.name, rows=len(self.rows))

    async def run(self, ctx: StageContext, inputs: Inputs, out: Output) -> None:
        out.extend(self.rows)
        out.close()


def contrast_stages(rows: Sequence[Post]) -> tuple[Stage, ...]:
    """The stage list of `synsym contrast`: sub-concepts (for the embedding judge), the given rows, their
    rewrites, the export."""
    return (ExpandStage(), GivenRows(rows), ContrastStage(), ExportStage())


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
                stage="input",
                backend="input",
                model=source.name,
                template="",
                request_key="",
            )
        )
    return rows
