"""One small error hierarchy. Every message says what went wrong and what to do next.

`UserError` subclasses are the user's to fix (bad config, bad input file, unknown symptom):
the CLI prints their message on one line and exits with code 2, without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SynsymError(Exception):
    """Base of every error synsym raises on purpose."""

    exit_code = 1


class UserError(SynsymError):
    """Bad input the user can fix: the message names the problem and the fix."""

    exit_code = 2


class ConfigError(UserError):
    """A config file or override that does not validate. Lines read `path -> what is wrong`."""


class InputError(UserError):
    """A data file, taxonomy or argument that cannot be used as given."""


class BackendError(SynsymError):
    """A backend could not be set up or answered in a way no retry can fix."""


class BudgetExceeded(SynsymError):
    """The run stopped before exceeding `--max-cost`; rerun with a larger budget to resume."""

    exit_code = 3


def suggest(name: str, known: Iterable[str]) -> str:
    """`; did you mean X?` for the closest known names, or `; known: a, b, c` when nothing is close."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if not close:
        close = [k for k in known if k.lower() == name.lower()]
    if close:
        return "; did you mean " + " or ".join(close) + "?"
    shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
    return f"; known: {shown}"


class EndpointUnavailable(SynsymError):
    """The run stopped early because its endpoint cannot be used (unreachable, key refused, no such
    model); the message names the failure, the endpoint and what to check."""

    exit_code = 4


class RunFailed(SynsymError):
    """The run finished but made nothing, or far less than planned (most requests failed); the message
    says why in one line and what to try. `result` is what it did make, for a summary."""

    exit_code = 4

    def __init__(self, message: str, result: object = None) -> None:
        super().__init__(message)
        self.result = result
