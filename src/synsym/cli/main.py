"""Entry point: attaches every command module to the app and maps errors to exit codes."""

from __future__ import annotations

import sys

from rich.markup import escape

# command modules register themselves on import; add one line per module here
from synsym.cli import (  # noqa: F401
    classify_cmd,
    generate_cmd,
    probe_cmd,
    quality_cmd,
    taxonomy_cmd,
)
from synsym.cli.app import app, console, state
from synsym.core.errors import SynsymError


def main() -> None:
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except SynsymError as exc:
        if state["debug"]:
            console.print_exception()
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.print("interrupted; rerun the same command to resume")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click's usage errors and the unexpected
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        if state["debug"]:
            raise
        console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc} (rerun with --debug for details)"
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
