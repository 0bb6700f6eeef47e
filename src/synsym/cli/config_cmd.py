"""`synsym config keys`: every key a run config may hold, with its type, default and meaning."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from synsym.cli.app import app

config_app = typer.Typer(help="What a run config may hold.", no_args_is_help=True)
app.add_typer(config_app, name="config")
out = Console(soft_wrap=True)


@config_app.command("keys")
def keys(
    backend: Annotated[
        str | None, typer.Option("--backend", help="Also list this backend's own options (e.g. openai).")
    ] = None,
) -> None:
    """List every key of a run config (dotted), with its type, default and meaning."""
    from synsym.backends.base import available_backends
    from synsym.classify.models import available_classifiers
    from synsym.core.config import describe_keys
    from synsym.core.errors import UserError, suggest
    from synsym.core.executor import available_executors
    from synsym.pipeline.config import run_config_model
    from synsym.pipeline.registry import stage_list

    backends = available_backends()
    names = [backend] if backend else sorted(backends)
    unknown = [n for n in names if n not in backends]
    if unknown:
        raise UserError(f"--backend {unknown[0]} -> unknown backend{suggest(unknown[0], backends)}")
    stages = stage_list()
    out.print("[bold]run config keys[/] (a YAML file, or --set KEY=VALUE)", highlight=False)
    out.print(f"  stages, in the order they run: {', '.join(s.name for s in stages)}", highlight=False)
    own = ("backend.options", "executor.options")  # each backend's and executor's, listed below
    show([row for row in describe_keys(run_config_model(stages)) if row[0] not in own])
    for name in names:
        rows = describe_keys(backends[name].Options, "backend.")
        if rows:
            out.print(
                f"\n[bold]backend.name: {name}[/], its own options (beside the shared ones)", highlight=False
            )
            show(rows)
    for name, executor in sorted(available_executors().items()):
        plugin(
            f"executor.name: {name}",
            "its own options (beside name)",
            describe_keys(executor.Options, "executor."),
        )
    for name, classifier in sorted(available_classifiers().items()):
        plugin(
            f"synsym train --model {name}", "its options (--set KEY=VALUE)", describe_keys(classifier.Params)
        )


def plugin(title: str, what: str, rows: list[tuple[str, str, str, str]]) -> None:
    """One plugin's own options, under its title."""
    out.print(f"\n[bold]{title}[/], {what if rows else 'no options of its own'}", highlight=False)
    if rows:
        show(rows)


def show(rows: list[tuple[str, str, str, str]]) -> None:
    width = max(len(key) for key, *_ in rows)
    for key, kind, default, meaning in rows:
        shown = f"{kind} = {default}" if default else kind
        out.print(f"  {key:<{width}}  {shown}: {meaning}", highlight=False, markup=False)
