"""The stage list as a graph: which outputs each stage reads (ROWS resolved) and each stage's fingerprint.

A fingerprint is a versioned hash of the stage's own config section, the other keys it `uses`, its
`inputs` and the fingerprints of the stages it reads, so changing a section redoes that stage and
everything downstream of it, and nothing else. Shared backend settings that change how requests are
sent, never what is answered (concurrency, rate limits, timeouts, prices) and each backend's own
transport options are left out; a section model with a `fingerprint()` method says itself what counts
(the judge's: its backend's answer settings, its calibration file's content). A key in `uses` that the
config does not have is refused before anything runs: a typo would otherwise hash nothing and let a
rerun reuse stale rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from synsym.backends.base import answer_settings
from synsym.core.config import known_keys
from synsym.core.errors import ConfigError, InputError, suggest
from synsym.pipeline.settings import RunConfig
from synsym.pipeline.stage import ROWS, Stage

# Bump when a stage file's format changes: finished stages of older runs are redone. 5: rows carry
# contrast_of, contrast_kind and removed.
STAGE_FORMAT = 5


def resolve_reads(stages: Sequence[Stage]) -> dict[str, dict[str, list[str]]]:
    """stage -> {what it reads: the names of the outputs that are}; a named stage is itself, ROWS is the
    last stage before it that read ROWS and made rows, then every row-making stage after that one."""
    seen: set[str] = set()
    out: dict[str, dict[str, list[str]]] = {}
    for i, stage in enumerate(stages):
        if stage.name in seen:
            raise InputError(f"two stages are named {stage.name!r}")
        groups: dict[str, list[str]] = {}
        for read in stage.reads:
            if read == ROWS:
                groups[read] = rows_before(stages, i)
            elif read in seen:
                groups[read] = [read]
            else:
                raise InputError(f"stage {stage.name} reads {read!r}, which is not an earlier stage")
        seen.add(stage.name)
        out[stage.name] = groups
    return out


def upstream(reads: dict[str, list[str]]) -> list[str]:
    """Every output a stage reads, once each, in order."""
    return list(dict.fromkeys(name for names in reads.values() for name in names))


def rows_before(stages: Sequence[Stage], index: int) -> list[str]:
    found: list[str] = []
    for stage in reversed(stages[:index]):
        if stage.makes_rows:
            found.append(stage.name)
            if ROWS in stage.reads:
                break
    return found[::-1]


def _section(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        data = data.get(part) if isinstance(data, dict) else None  # type: ignore[assignment]
    return data


def fingerprints(
    stages: Sequence[Stage], config: RunConfig, inputs: dict[str, Any] | None = None
) -> dict[str, str]:
    """One hash per stage. `inputs` holds what is not config, such as the digest of a reviewed
    sub-concepts file (`subconcepts_file`), for the stages that name them among their `inputs`."""
    check_sections(stages, config)
    data = fingerprint_data(config)
    inputs = inputs or {}
    reads = resolve_reads(stages)
    prints: dict[str, str] = {}
    for stage in stages:
        part = {
            "v": STAGE_FORMAT,
            **({stage.name: data[stage.name]} if stage.Config is not None else {}),
            **{key: _section(data, key) for key in stage.uses},
            **{name: inputs.get(name) for name in stage.inputs},
            **{f"<{name}>": prints[name] for name in upstream(reads[stage.name])},
        }
        prints[stage.name] = hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()[:16]
    return prints


def fingerprint_data(config: RunConfig) -> dict[str, Any]:
    """The config as fingerprints see it: the backend by its answer settings, a section by its own
    `fingerprint()` where it has one."""
    data = config.model_dump(mode="json", by_alias=True)
    data["backend"] = answer_settings(config.backend)
    for name in type(config).model_fields:
        section = getattr(config, name)
        if name not in RunConfig.model_fields and hasattr(section, "fingerprint"):
            data[name] = section.fingerprint()
    return data


def check_sections(stages: Sequence[Stage], config: RunConfig) -> None:
    """Every stage's section is in the config, and every key a stage `uses` exists."""
    model = type(config)
    for stage in stages:
        if stage.Config is not None and model.model_fields.get(stage.name) is None:
            raise InputError(
                f"the config has no {stage.name!r} section for the {stage.name} stage: load it for this "
                "stage list (load_run_config(..., stages=...))"
            )
        for key in stage.uses:
            parts = key.split(".")
            for depth, part in enumerate(parts):
                known = known_keys(model, tuple(parts[:depth]))
                if part not in known:
                    raise ConfigError(
                        f"stage {stage.name} uses {key!r}, which is no config key{suggest(part, known)}"
                    )
