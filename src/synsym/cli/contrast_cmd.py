"""`synsym contrast INPUT --out DIR`: contrastive rewrites of a labelled dataset you already have (the
paper's release, your own annotated posts), with the same stage, checks and cache as a generated run."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer

from synsym.cli.app import SetOption, app, console


@app.command()
def contrast(
    input_file: Annotated[Path, typer.Argument(help="A labelled dataset (any layout `synsym train` reads).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run directory; rerun the same command to resume.")
    ],
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", help="Run config (YAML or built-in name) for backend, judge."),
    ] = None,
    n: Annotated[int | None, typer.Option("--n", help="Rewrites to write (one per post).")] = None,
    share: Annotated[
        float | None, typer.Option("--share", help="Instead of --n: this share of the posts.")
    ] = None,
    kinds: Annotated[
        str | None,
        typer.Option("--kinds", help="Comma-separated kinds (default: the config's), e.g. person_swap"),
    ] = None,
    backend: Annotated[str | None, typer.Option(help="Run on another backend, e.g. `fake`.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Dataset layout, as for `synsym train`.")] = "auto",
    text_column: Annotated[str | None, typer.Option("--text-column")] = None,
    label_column: Annotated[str | None, typer.Option("--label-column")] = None,
    restart: Annotated[bool, typer.Option(help="Redo stages whose config changed.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and stop.")] = False,
    set_: SetOption = None,
) -> None:
    """Rewrite a labelled dataset's posts so each changes one dimension of what a label means; export
    them beside the originals (the rewrites' `contrast_of` names their source)."""
    from synsym.classify.sources import load_dataset
    from synsym.cli.generate_cmd import render_plan, render_summary
    from synsym.core.dataset import read_rows
    from synsym.core.errors import UserError
    from synsym.core.taxonomy import load_taxonomy
    from synsym.pipeline.config import load_run_config
    from synsym.pipeline.given import contrast_stages, rows_from_labels
    from synsym.pipeline.plan import plan_pipeline
    from synsym.pipeline.runner import run_pipeline

    # sub-concepts serve only the embedding judge's prototypes here: the taxonomy's seeds, unless a config
    # asks for more
    overrides = ([] if config else ["expand.method=seeds"]) + list(set_ or [])
    if n is not None and share is not None:
        raise UserError("--n and --share name the same thing; give one")
    overrides += [f"contrast.n={n}"] if n is not None else []
    overrides += [f"contrast.share={share}", "contrast.n=0"] if share is not None else []
    run_config = load_run_config(config, overrides, backend)
    if kinds is not None:
        wanted = [k.strip() for k in kinds.split(",") if k.strip()]
        known = {k.name: k for k in run_config.contrast.kinds}
        missing = [k for k in wanted if k not in known]
        if missing:
            raise UserError(f"--kinds {missing[0]} -> not a declared kind; declared: {', '.join(known)}")
        run_config = run_config.model_copy(
            update={"contrast": run_config.contrast.model_copy(update={"kinds": [known[k] for k in wanted]})}
        )
    if not (run_config.contrast.n or run_config.contrast.share):
        raise UserError("nothing to rewrite: pass --n or --share (or set contrast.n in the config)")
    data = load_dataset(input_file, fmt, text_column, label_column)
    raw = (
        read_rows(input_file) if input_file.suffix in (".csv", ".tsv", ".jsonl", ".json", ".parquet") else []
    )
    style_col = next((c for c in ("style", "type") if raw and c in raw[0]), None)
    styles = [r.get(style_col) for r in raw] if style_col and len(raw) == len(data) else [None] * len(data)
    symptoms = [
        [data.label_names[j] for j in range(len(data.label_names)) if row[j] > 0]
        for row in data.labels * data.mask
    ]
    digest = hashlib.sha256(input_file.read_bytes()).hexdigest()[:16]
    taxonomy = load_taxonomy(run_config.taxonomy)
    rows = rows_from_labels(data.texts, symptoms, styles, taxonomy, input_file, digest)
    stages = contrast_stages(rows)
    inputs = {"input": f"{digest}:{fmt}:{text_column}:{label_column}"}
    render_plan(plan_pipeline(run_config, out, stages=stages, inputs=inputs), restart)
    if dry_run:
        return
    console.print(f"{len(rows)} posts read from {input_file}", highlight=False)
    result = run_pipeline(run_config, out, restart=restart, stages=stages, inputs=inputs)
    render_summary(result)
