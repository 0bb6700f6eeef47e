"""`synsym generate`: build a dataset with the SynSym recipe, resumable with the same command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from synsym.cli.app import SetOption, app, console
from synsym.pipeline.config import load_run_config
from synsym.pipeline.runner import RunResult, run_pipeline


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
    if max_cost is not None:
        overrides += [f"max_cost={max_cost}"]
    run_config = load_run_config(config, overrides, backend)
    result = run_pipeline(run_config, out, subconcepts_file=subconcepts, restart=restart)
    render_summary(result)


def render_summary(result: RunResult) -> None:
    """One row per stage: rows made, requests failed and rows dropped, by class; then what was kept."""
    c = result.counts
    table = Table(
        "stage", "rows made", "requests failed", "rows dropped", title=f"synsym run in {result.run_dir}"
    )

    def classes(counts: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"

    for s in c["stages"]:
        table.add_row(s["stage"], str(s["made"] or "-"), classes(s["failed"]), classes(s["dropped"]))
    kinds = [f"{c['kept_single']} single", f"{c['kept_multi']} multi"]
    kinds += [f"{c['kept_negative']} negative"] if c["kept_negative"] else []
    kinds += [f"{c['kept_by_stage'].get('realism', 0)} long"] if c["kept_by_stage"].get("realism") else []
    console.print(table)
    console.print(f"[bold]kept {c['kept']}[/] ({', '.join(kinds)})", highlight=False)
    failed = sum(c["failed_by_class"].values())
    if failed:
        console.print(
            f"{failed} request(s) failed ({classes(c['failed_by_class'])}); their rows are in "
            "dropped.parquet with the reason. Rerun the same command to retry them (answers already paid "
            "for are kept).",
            highlight=False,
        )
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    for name, path in sorted(result.files.items()):
        console.print(f"{name}: {path}", highlight=False)
