"""`synsym probe`: send a few structured requests through the engine and show what came back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from synsym.cli.app import SetOption, app, console
from synsym.core.config import load_backend_config
from synsym.engine.probe import probe_backend, probe_capacity


@app.command()
def probe(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Run config; its `backend` is used.")
    ] = None,
    backend: Annotated[str | None, typer.Option(help="Backend name, overriding the config's.")] = None,
    n: Annotated[int, typer.Option("-n", min=1, max=1000, help="How many requests.")] = 4,
    cache: Annotated[Path | None, typer.Option(help="SQLite response cache to use.")] = None,
    capacity: Annotated[
        bool, typer.Option(help="Also time 1 request alone and 4 at once: how many the server takes at once.")
    ] = True,
    set_: SetOption = None,
) -> None:
    """Check that a backend answers structured requests (defaults to the embedded local model), and how
    many it answers at once."""
    backend_config = load_backend_config(config, set_, backend)
    report = probe_backend(backend_config, n=n, cache_path=cache)
    table = Table(
        "id", "ok", "answer / failure", title=f"{backend_config.name} ({backend_config.model or 'default'})"
    )
    for r in report.results:
        table.add_row(
            r.task.id,
            "yes" if r.ok else "no",
            str(r.value.model_dump()) if r.value is not None else f"{r.failure}: {r.error}",
        )
    console.print(table)
    m = report.engine.meter
    console.print(
        f"{len(report.results)} requests in {report.seconds:.1f} s; {m.calls} calls, {m.cache_hits} cached, "
        f"{m.prompt_tokens}+{m.completion_tokens} tokens, failures {dict(m.failures) or 0}"
    )
    if m.failures:
        raise typer.Exit(1)
    if capacity and backend_config.max_concurrency > 1:
        console.print(probe_capacity(backend_config, min(4, backend_config.max_concurrency)).describe())
