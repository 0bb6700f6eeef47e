"""The stage list a run uses when it is given none: every stage registered in the `synsym.stages` entry
point group (synsym.core.plugins), built-ins included. An entry point names a stage, a stage class, or
a sequence of stages: synsym's own is the recipe's list, `synsym.recipe.stages:STAGES`. A single stage
goes right after the stage its `after` names (None: at the end), so an installed package adds a step to
every run with one entry point and no edit here or in the recipe."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from synsym.core.errors import ConfigError
from synsym.core.plugins import group, plugins
from synsym.pipeline.stage import Stage


def stage_list() -> tuple[Stage, ...]:
    """The registered stages, in the order they run."""
    lists: list[Stage] = []
    singles: list[Stage] = []
    for name, found in plugins("stages").items():
        if isinstance(found, Sequence):
            lists += [_stage(name, s) for s in found]
        else:
            singles.append(_stage(name, found))
    out = list(lists)
    for stage in singles:
        after = getattr(stage, "after", None)
        if after is None:
            out.append(stage)
            continue
        names = [s.name for s in out]
        if after not in names:
            raise ConfigError(
                f"stage {stage.name!r} goes after {after!r}, which is not a registered stage; "
                f"registered: {', '.join(names)}"
            )
        out.insert(names.index(after) + 1, stage)
    return tuple(out)


def _stage(name: str, found: Any) -> Stage:
    stage = found() if isinstance(found, type) else found
    if not isinstance(stage, Stage):
        raise ConfigError(f"the {group('stages')} plugin {name!r} is not a stage: {found!r}")
    return stage
