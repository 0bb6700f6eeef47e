"""`synsym generate`: build a dataset with the SynSym recipe, resumable with the same command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from synsym.cli.app import SetOption, app, console
from synsym.core.errors import RunFailed
from synsym.pipeline.outcome import request_failures
from synsym.pipeline.plan import RunPlan
from synsym.pipeline.prepare import prepare_run
from synsym.pipeline.runner import RunResult


@app.command()
def generate(
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            help="Run config: a YAML file or a built-in name (demo, depression-14, realistic).",
        ),
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
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (requests per stage, worst-case cost) and stop.")
    ] = False,
    set_: SetOption = None,
) -> None:
    """Expand, generate, compose, judge and export a symptom-level dataset into OUT."""
    if config is None:
        console.print(
            "no --config: running the built-in demo (configs/demo.yaml: the embedded SmolLM2-135M, "
            "in-process, a few minutes on 2 cores); pass --config for your own or `--config depression-14` "
            "for the paper's recipe",
            highlight=False,
        )
    job = prepare_run(
        config, out, overrides=set_, backend=backend, max_cost=max_cost, subconcepts_file=subconcepts
    )
    render_plan(job.plan(), restart)
    if dry_run:
        return
    try:
        result = job.run(restart=restart)
    except RunFailed as failed:  # made nothing or far less than planned: the summary, then the one line
        if isinstance(failed.result, RunResult):
            render_summary(failed.result)
        raise
    render_summary(result)


def render_plan(plan: RunPlan, restart: bool) -> None:
    """Before the first request: stages, requests per stage, the backend, the worst-case cost, what a
    resume keeps."""
    todo = [p for p in plan.stages if p.stage not in plan.done and p.requests]
    if todo:
        table = Table(
            "stage", "requests", "worst-case cost", title=f"plan for {plan.run_dir}: {plan.backend}"
        )
        for p in todo:
            cost = "-" if p.worst_cost is None else f"{p.worst_cost:,.2f}"
            table.add_row(p.stage, f"{'' if p.exact else 'up to '}{p.requests:,}", cost)
        console.print(table)
    if todo:
        total = f"{'' if plan.exact else 'up to '}{plan.requests:,} requests"
        cost = (
            "no prices set (backend.prices), so no bound on the cost"
            if plan.worst_cost is None
            else f"worst case {plan.worst_cost:,.2f} in backend.prices' currency (every answer at "
            "max_tokens, before re-asks)"
        )
        console.print(f"{total}; {cost}", highlight=False)
    else:
        console.print("no requests to a model: every stage left is local", highlight=False)
    for line in plan.timing:
        console.print(f"time: {line}", highlight=False)
    if plan.done:
        redo = f"; {', '.join(plan.changed)} changed and will be redone" if plan.changed and restart else ""
        console.print(
            f"resuming {plan.run_dir}: {', '.join(plan.done)} done; {plan.cached_answers:,} answers in the "
            f"cache are not paid for again{redo}",
            highlight=False,
        )
    elif plan.cached_answers:
        console.print(f"{plan.cached_answers:,} answers already in the cache are not paid for again")


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
    failures, tasks = request_failures(result.manifest)
    if failures:
        rows = sum(c["failed_by_class"].values())
        console.print(
            f"{sum(failures.values())} of {tasks} request(s) failed ({classes(dict(failures))}); {rows} "
            "made rows, in dropped.parquet with the reason (the others, if any, are in the notes). Rerun "
            "the same command to retry them (answers already paid for are kept).",
            highlight=False,
        )
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    for name, path in sorted(result.files.items()):
        console.print(f"{name}: {path}", highlight=False)
