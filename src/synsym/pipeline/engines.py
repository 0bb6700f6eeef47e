"""Which engines a run has: THE rule, used by the run (which engines it builds), the plan (whose
backends it shows and times) and the API-key check.

A stage names the engine roles it sends requests through, given the config (`Stage.roles(config)`:
an LLM stage `default`, the judge `judge` when it asks a model). Role R uses `R.backend` when the run
config has a section R whose `backend` is set, else the top-level `backend`: `judge` uses
`judge.backend` or `backend`, and a plugin stage with a `backend` key in its own section gets its own
engine with no edit here. Roles whose backend is the same section share one engine.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from synsym.core.config import BackendConfig
from synsym.pipeline.settings import RunConfig
from synsym.pipeline.stage import Stage

__all__ = ["DEFAULT", "engine_backends", "role_backend", "roles_of"]

DEFAULT = "default"


def roles_of(stage: Stage, config: RunConfig) -> tuple[str, ...]:
    """The engine roles `stage` sends requests through with `config` (a stage that declares none: none)."""
    roles = getattr(stage, "roles", None)
    return tuple(roles(config)) if roles is not None else ()


def role_backend(role: str, config: RunConfig) -> tuple[str, BackendConfig]:
    """(where, backend config) of one role: its own section's `backend` when set, else `backend`."""
    section = getattr(config, role, None) if role in type(config).model_fields else None
    if isinstance(section, BaseModel) and "backend" in type(section).model_fields:
        own = getattr(section, "backend", None)
        if isinstance(own, BackendConfig):
            return f"{role}.backend", own
    return "backend", config.backend


def engine_backends(stages: Sequence[Stage], config: RunConfig) -> dict[str, tuple[str, BackendConfig]]:
    """Every role the stages send requests through with `config`, in the order they first name it, to the
    (where, backend config) its engine is built from. Roles with the same `where` share one engine."""
    out: dict[str, tuple[str, BackendConfig]] = {}
    for stage in stages:
        for role in roles_of(stage, config):
            if role not in out:
                out[role] = role_backend(role, config)
    return out
