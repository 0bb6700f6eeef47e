"""`synsym augment INPUT --out DIR`: hard negatives, negated statements, long posts and contrastive
rewrites added to a labelled dataset you already have (synsym.augment); `synsym contrast` is the same
with rewrites only, named on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from synsym.cli.app import SetOption, app, console

if TYPE_CHECKING:
    from synsym.pipeline.config import RunConfig

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
    from synsym.pipeline.config import load_run_config

    run_given(input_file, out, load_run_config(config, _seeds(config, set_), backend),
              fmt, text_column, label_column, restart, dry_run)  # fmt: skip


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
    from synsym.core.errors import UserError
    from synsym.pipeline.config import load_run_config

    if n is not None and share is not None:
        raise UserError("--n and --share name the same thing; give one")
    overrides = _seeds(config, set_)
    overrides += [f"contrast.n={n}"] if n is not None else []
    overrides += [f"contrast.share={share}", "contrast.n=0"] if share is not None else []
    run_config = load_run_config(config, overrides, backend)
    if kinds is not None:
        wanted = [k.strip() for k in kinds.split(",") if k.strip()]
        known = {k.name: k for k in run_config.contrast.kinds}
        missing = [k for k in wanted if k not in known]
        if missing:
            raise UserError(f"--kinds {missing[0]} -> not a declared kind; declared: {', '.join(known)}")
        chosen = run_config.contrast.model_copy(update={"kinds": [known[k] for k in wanted]})
        run_config = run_config.model_copy(update={"contrast": chosen})
    if not (run_config.contrast.n or run_config.contrast.share):
        raise UserError("nothing to rewrite: pass --n or --share (or set contrast.n in the config)")
    run_given(input_file, out, run_config, fmt, text_column, label_column, restart, dry_run)


def _seeds(config: str | None, set_: list[str] | None) -> list[str]:
    """With no --config, sub-concepts are the taxonomy's seeds (they serve only the negatives' topics and
    the embedding judge's prototypes here), unless --set says otherwise."""
    return ([] if config else ["expand.method=seeds"]) + list(set_ or [])


def run_given(
    input_file: Path,
    out: Path,
    run_config: RunConfig,
    fmt: str,
    text_column: str | None,
    label_column: str | None,
    restart: bool,
    dry_run: bool,
) -> None:
    """Read the dataset, print the plan, and (unless a dry run) run it and print the summary."""
    from synsym.augment import check_adds, read_given
    from synsym.cli.generate_cmd import render_plan, render_summary
    from synsym.pipeline.plan import plan_pipeline
    from synsym.pipeline.runner import run_pipeline

    check_adds(run_config)
    given = read_given(input_file, run_config, fmt, text_column, label_column)
    render_plan(plan_pipeline(run_config, out, stages=given.stages, inputs=given.inputs), restart)
    if dry_run:
        return
    console.print(f"{len(given.rows)} posts read from {input_file}", highlight=False)
    result = run_pipeline(run_config, out, restart=restart, stages=given.stages, inputs=given.inputs)
    render_summary(result)
