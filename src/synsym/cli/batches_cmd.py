"""`synsym batches list|cancel RUN_DIR`: a run's provider batches, from its ledger (`batches.sqlite`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from synsym.cli.app import app, console
from synsym.engine.batch_ledger import batch_records, cancel_batches

batches_app = typer.Typer(
    help="A run's provider batches: list them, cancel the unfinished.", no_args_is_help=True
)
app.add_typer(batches_app, name="batches")
out = Console(soft_wrap=True)
RunDir = Annotated[Path, typer.Argument(help="The run directory (generate's --out).")]


def render(rows: list[dict[str, Any]], title: str) -> None:
    table = Table(
        "batch", "state", "status", "lines", "done", "failed", "created", "cost", "token", title=title
    )
    for r in rows:
        counts = json.loads(r["counts"]) if r["counts"] else {}
        created = dt.datetime.fromtimestamp(r["created"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            r["batch_id"] or "-",
            r["state"],
            r["status"] or "-",
            f"{r['n']:,}",
            f"{counts.get('done', 0):,}",
            f"{counts.get('failed', 0):,}",
            created,
            f"{r['cost']:.4f}",
            r["token"],
        )
    out.print(table)


@batches_app.command("list")
def list_batches(run_dir: RunDir) -> None:
    """Show every batch the run asked for: id, state, provider status, counts, created, cost, token."""
    rows = batch_records(run_dir)
    render(rows, f"{len(rows)} batch(es) in {run_dir}")


@batches_app.command("cancel")
def cancel(run_dir: RunDir) -> None:
    """Cancel the run's unfinished batches (they keep what they completed; a rerun collects it)."""
    rows = cancel_batches(run_dir)
    if not rows:
        console.print(f"no unfinished batches in {run_dir}", highlight=False)
        return
    render(rows, f"cancelled {sum(r['batch_id'] is not None for r in rows)} batch(es) in {run_dir}")
