"""Entry point: attaches every command module to the app and maps errors to exit codes."""

from __future__ import annotations

import sys

from rich.markup import escape

# command modules register themselves on import; add one line per module here
from synsym.cli import (  # noqa: F401
    classify_cmd,
    config_cmd,
    generate_cmd,
    probe_cmd,
    quality_cmd,
    taxonomy_cmd,
)
from synsym.cli.app import app, console, state
from synsym.core.errors import SynsymError


def main() -> None:
    """Run the CLI. Usage errors exit 2 (click's standalone handling); so do SynsymErrors the user can fix."""
    try:
        app()  # standalone: --help, usage errors (exit 2) and Ctrl-C are handled by click
    except SynsymError as exc:
        if state["debug"]:
            console.print_exception()
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if state["debug"]:
            raise
        detail = escape(f"{type(exc).__name__}: {exc}")
        console.print(f"[bold red]internal error:[/] {detail} (rerun with --debug for details)")
        sys.exit(1)


if __name__ == "__main__":
    main()
