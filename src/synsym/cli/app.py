"""The typer application every command module attaches to, and the error boundary around it.

Commands are thin: parse, call one library function, render. Errors the user can fix print one line
and exit 2; no traceback reaches the user unless `--debug` is given.
"""

from __future__ import annotations

import logging
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from synsym import __version__
from synsym.core.errors import UserError

T = TypeVar("T")

app = typer.Typer(
    name="synsym",
    help="Synthetic symptom-level data for psychiatric symptom identification (SynSym), and its classifiers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
console = Console(stderr=True, soft_wrap=True)  # messages stay whole lines in logs; tables fit the width
state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"synsym {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    state["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(message)s")


SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config value: --set backend.max_concurrency=64 (repeatable)."),
]


def renamed(new: T | None, old: T | None, old_flag: str, new_flag: str) -> T | None:
    """The value of a flag under its new name, or under its old one with a deprecation note (old
    spellings work for one more release)."""
    if old is None:
        return new
    console.print(
        f"note: {old_flag} is deprecated; use {new_flag} (the old spelling works until the next release)",
        highlight=False,
    )
    if new is not None and new != old:
        raise UserError(f"{old_flag} and {new_flag} name the same thing; give only {new_flag}")
    return old


def required(value: T | None, flag: str) -> T:
    if value is None:
        raise UserError(f"{flag} is required")
    return value
