"""The stage list as a graph: which outputs each stage reads (ROWS resolved) and each stage's fingerprint.

A fingerprint is a versioned hash of the config sections a stage declares and the fingerprints of the
stages it reads, so changing a section redoes that stage and everything downstream of it, and nothing
else. Shared backend settings that change how requests are sent, never what is answered (concurrency,
rate limits, timeouts, prices) and each backend's own transport options are left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from synsym.backends.base import answer_settings
from synsym.core.calibration import calibration_digest
from synsym.core.errors import InputError
from synsym.pipeline.config import RunConfig
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
    stages: Sequence[Stage], config: RunConfig, extra: dict[str, Any] | None = None
) -> dict[str, str]:
    """One hash per stage. `extra` holds inputs that are not config, such as the digest of a reviewed
    sub-concepts file (`subconcepts_file`), for stages that name them among their sections."""
    data = config.model_dump(mode="json", by_alias=True)
    data["backend"] = answer_settings(config.backend)
    if config.judge.backend is not None:
        data["judge"]["backend"] = answer_settings(config.judge.backend)
    # a calibration counts by its content; unset, it is left out so earlier runs keep their fingerprints
    calibration = data["judge"].pop("calibration", None)
    if calibration is not None:
        data["judge"]["calibration"] = calibration_digest(calibration)
    data.update(extra or {})
    reads = resolve_reads(stages)
    prints: dict[str, str] = {}
    for stage in stages:
        part = {
            "v": STAGE_FORMAT,
            **{key: _section(data, key) for key in stage.sections},
            **{f"<{name}>": prints[name] for name in upstream(reads[stage.name])},
        }
        prints[stage.name] = hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()[:16]
    return prints
