"""`synsym generate`: build a dataset with the SynSym recipe, resumable with the same command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from synsym.cli.app import SetOption, app, console
from synsym.pipeline.config import load_run_config
from synsym.pipeline.runner import run_pipeline


@app.command()
def generate(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Run config (YAML). Default: built-in defaults.")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run directory; rerun the same command to resume.")
    ] = Path("runs/synsym"),
    backend: Annotated[
        str | None, typer.Option(help="Run the same plan on another backend, e.g. `fake`.")
    ] = None,
    subconcepts: Annotated[
        Path | None,
        typer.Option(help="A reviewed sub-concepts file (ours or the paper's JSON); skips expand."),
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option(help="Stop before spending more than this; rerun with more to resume.")
    ] = None,
    restart: Annotated[
        bool, typer.Option(help="Redo stages whose config changed (cached answers are reused).")
    ] = False,
    set_: SetOption = None,
) -> None:
    """Expand, generate, compose, judge and export a symptom-level dataset into OUT."""
    overrides = list(set_ or [])
    if backend:
        overrides += [f"backend.name={backend}"]
    if max_cost is not None:
        overrides += [f"max_cost={max_cost}"]
    run_config = load_run_config(config, overrides)
    result = run_pipeline(run_config, out, subconcepts_file=subconcepts, restart=restart)
    c = result.counts
    table = Table("stage", "rows", title=f"synsym run in {result.run_dir}")
    table.add_row("generated (single-symptom)", str(c["generated"]))
    table.add_row("composed (multi-symptom)", str(c["composed"]))
    if c["negatives"]:
        table.add_row("negatives (hard, negated, long-post passages)", str(c["negatives"]))
    for reason, n in sorted(c["dropped_by_reason"].items()):
        table.add_row(f"dropped: {reason}", str(n))
    extra = [f"{c[k]} {label}" for k, label in (("kept_negative", "negative"), ("kept_long", "long")) if c[k]]
    kept = ", ".join([f"{c['kept_single']} single", f"{c['kept_multi']} multi", *extra])
    table.add_row("kept", f"{c['kept']} ({kept})")
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    for name, path in sorted(result.files.items()):
        console.print(f"{name}: {path}", highlight=False)
