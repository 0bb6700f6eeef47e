"""Entry point: attaches every command module to the app and maps errors to exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.markup import escape

# command modules register themselves on import; add one line per module here
from synsym.cli import (  # noqa: F401
    augment_cmd,
    batches_cmd,
    calibrate_cmd,
    classify_cmd,
    config_cmd,
    generate_cmd,
    probe_cmd,
    quality_cmd,
    taxonomy_cmd,
)
from synsym.cli.app import app, console, state
from synsym.core.errors import SynsymError


def _out_paths(argv: list[str]) -> list[Path]:
    """The paths given to --out (and -o), which a failing command must not leave behind empty."""
    return [Path(argv[i + 1]) for i, arg in enumerate(argv[:-1]) if arg in ("--out", "-o")]


def _remove_if_empty(paths: list[Path], existed: list[bool]) -> None:
    for path, was in zip(paths, existed, strict=True):
        if not was and path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def main() -> None:
    """Run the CLI. Usage errors exit 2 (click's standalone handling); so do SynsymErrors the user can fix.
    A command that fails leaves no empty output directory of its own making behind."""
    outs = _out_paths(sys.argv[1:])
    existed = [p.exists() for p in outs]
    try:
        app()  # standalone: --help, usage errors (exit 2) and Ctrl-C are handled by click
    except SynsymError as exc:
        _remove_if_empty(outs, existed)
        if state["debug"]:
            console.print_exception()
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        _remove_if_empty(outs, existed)
        if state["debug"]:
            raise
        detail = escape(f"{type(exc).__name__}: {exc}")
        console.print(f"[bold red]internal error:[/] {detail} (rerun with --debug for details)")
        sys.exit(1)


if __name__ == "__main__":
    main()
