"""`synsym augment INPUT --out DIR`: hard negatives, negated statements, long posts and contrastive
rewrites added to a labelled dataset you already have (synsym.augment); `synsym contrast` is the same
with rewrites only, named on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from synsym.cli.app import SetOption, app, console

if TYPE_CHECKING:
    from synsym.augment import GivenRun

InputArg = Annotated[Path, typer.Argument(help="A labelled dataset (any layout `synsym train` reads).")]
OutOption = Annotated[
    Path, typer.Option("--out", "-o", help="Run directory; rerun the same command to resume.")
]
ConfigOption = Annotated[
    str | None,
    typer.Option("--config", "-c", help="Run config (YAML or built-in name): what to add, backend, judge."),
]
BackendOption = Annotated[str | None, typer.Option(help="Run on another backend, e.g. `fake`.")]
FormatOption = Annotated[str, typer.Option("--format", help="Dataset layout, as for `synsym train`.")]
TextColumn = Annotated[str | None, typer.Option("--text-column")]
LabelColumn = Annotated[str | None, typer.Option("--label-column")]
RestartOption = Annotated[bool, typer.Option(help="Redo stages whose config changed.")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print the plan and stop.")]


@app.command()
def augment(
    input_file: InputArg,
    out: OutOption,
    config: ConfigOption = None,
    backend: BackendOption = None,
    fmt: FormatOption = "auto",
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    restart: RestartOption = False,
    dry_run: DryRunOption = False,
    set_: SetOption = None,
) -> None:
    """Add what the config asks for (negatives.n, negatives.negated, realism.long_posts.n, contrast.n)
    to a labelled dataset; export it with its own rows, which are kept as they are."""
    from synsym.augment import prepare_augment

    job = prepare_augment(input_file, out, config, overrides=set_, backend=backend, fmt=fmt,
                          text_column=text_column, label_column=label_column)  # fmt: skip
    run_given(job, input_file, restart, dry_run)


@app.command()
def contrast(
    input_file: InputArg,
    out: OutOption,
    config: ConfigOption = None,
    n: Annotated[int | None, typer.Option("--n", help="Rewrites to write (one per post).")] = None,
    share: Annotated[
        float | None, typer.Option("--share", help="Instead of --n: this share of the posts.")
    ] = None,
    kinds: Annotated[
        str | None,
        typer.Option("--kinds", help="Comma-separated kinds (default: the config's), e.g. person_swap"),
    ] = None,
    backend: BackendOption = None,
    fmt: FormatOption = "auto",
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    restart: RestartOption = False,
    dry_run: DryRunOption = False,
    set_: SetOption = None,
) -> None:
    """Rewrite a labelled dataset's posts so each changes one dimension of what a label means; export
    them beside the originals (the rewrites' `contrast_of` names their source)."""
    from synsym.augment import prepare_contrast

    job = prepare_contrast(input_file, out, config, n=n, share=share, kinds=kinds, overrides=set_,
                           backend=backend, fmt=fmt, text_column=text_column,
                           label_column=label_column)  # fmt: skip
    run_given(job, input_file, restart, dry_run)


def run_given(job: GivenRun, input_file: Path, restart: bool, dry_run: bool) -> None:
    """Print the plan, and (unless a dry run) run it and print the summary."""
    from synsym.cli.generate_cmd import render_plan, render_summary

    render_plan(job.plan(), restart)
    if dry_run:
        return
    console.print(f"{len(job.given.rows)} posts read from {input_file}", highlight=False)
    render_summary(job.run(restart=restart))
