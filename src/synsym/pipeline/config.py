"""The run config: what a user writes to describe a dataset, built from the stage list.

The keys every stage may read (seed, taxonomy, prior, backend, styles, personas, cache, max_cost,
executor) are `RunConfig`'s own. Every other section belongs to a stage: a stage declares its `Config`
(a strict pydantic model) and the run config gets a section of that name, so a plugin stage's settings
validate, show in `synsym config keys` and take `--set <stage>.<key>=...` like the built-in ones. Every
section validates with `extra="forbid"`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, create_model

from synsym.backends.base import check_backend
from synsym.core.config import (
    KEYS_HINT,
    BackendConfig,
    apply_overrides,
    blame_overrides,
    read_yaml,
    validate,
)
from synsym.core.errors import ConfigError
from synsym.core.taxonomy import package_data_path, resolve_data_file
from synsym.pipeline.registry import stage_list
from synsym.pipeline.settings import DEFAULT_STYLES, Persona, RunConfig, Style
from synsym.pipeline.stage import Stage

__all__ = [
    "DEFAULT_STYLES", "Persona", "RunConfig", "Style", "builtin_configs", "load_run_config", "run_config",
    "run_config_model",
]  # fmt: skip


def run_config_model(stages: Sequence[Stage] | None = None) -> type[RunConfig]:
    """The run-config model of a stage list (default: the registered stages): `RunConfig` plus one section
    per stage with a `Config`, named after the stage, described by the Config's docstring."""
    stages = stage_list() if stages is None else stages
    return _model(tuple((s.name, s.Config) for s in stages if s.Config is not None))


@lru_cache(maxsize=32)
def _model(sections: tuple[tuple[str, type[BaseModel]], ...]) -> type[RunConfig]:
    fields: dict[str, Any] = {}
    for name, config in sections:
        if name in RunConfig.model_fields or name in fields:
            raise ConfigError(f"stage {name!r}: its config section would replace the key {name!r}")
        about = (config.__doc__ or name).strip().splitlines()[0]
        fields[name] = (config, Field(default_factory=config, description=about))
    return create_model("RunConfig", __base__=RunConfig, **fields)


def run_config(data: dict[str, Any], stages: Sequence[Stage] | None = None) -> RunConfig:
    """A run config from a dict (as a YAML file would hold it), for `stages` (default: the registered
    ones); pydantic's errors as they come, for code that builds configs (`load_run_config` reads files
    and words errors for people)."""
    return run_config_model(stages).model_validate(data)


def builtin_configs() -> list[str]:
    """Run configs shipped with synsym, by name: demo, depression-14 (the paper's recipe), realistic."""
    return sorted(p.stem for p in package_data_path("configs").glob("*.yaml"))


def load_run_config(
    path: str | Path | None,
    overrides: list[str] | None = None,
    backend: str | None = None,
    stages: Sequence[Stage] | None = None,
) -> RunConfig:
    """A run config from a YAML file or a built-in name (`demo`), plus `--set` overrides, for `stages`
    (default: the registered ones); each backend's own options are checked too. `backend` runs the same
    plan on another backend: the shared settings stay, the old backend's own options go (an openai
    `base_url` means nothing to `fake`)."""
    path = resolve_data_file(path, "configs", "config", builtin_configs()) if path is not None else None
    data = read_yaml(path) if path is not None else {}
    if backend is not None:
        section = data.get("backend") or {}
        data["backend"] = {k: v for k, v in section.items() if k in BackendConfig.model_fields} | {
            "name": backend
        }
    data = apply_overrides(data, overrides or [])
    source = str(path) if path else "config"
    try:
        config = validate(run_config_model(stages), data, source, hint=KEYS_HINT)
    except ConfigError as err:
        raise blame_overrides(err, source, overrides or []) from None
    for where, named in config.backends().items():
        check_backend(named, where)
    return config
