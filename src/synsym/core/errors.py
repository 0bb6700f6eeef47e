"""One small error hierarchy. Every message says what went wrong and what to do next.

`UserError` subclasses are the user's to fix (bad config, bad input file, unknown symptom):
the CLI prints their message on one line and exits with code 2, without a traceback.
"""

from __future__ import annotations


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
