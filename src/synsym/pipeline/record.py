"""The run's record, written by the runner once every stage is done: `manifest.json`, with the versions,
the resolved config, the stage list and fingerprints, the funnel counted from the rows as the list left
them, usage, times and notes, plus what each stage adds (`Stage.record`: the export's files and their
checksums). No stage has to be last for it, and its counts are the rows'.

It is written last, atomically, so a manifest that matches the files marks a complete run.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from synsym import __version__
from synsym.core.atomic import write_json
from synsym.core.columns import Post
from synsym.core.funnel import funnel_counts
from synsym.pipeline.context import StageContext

MANIFEST = "manifest.json"

_PACKAGES = (
    "pydantic",
    "aiohttp",
    "openai",
    "llama_cpp_python",
    "pyarrow",
    "datasketch",
    "torch",
    "transformers",
    "sentence-transformers",
)


def record_print(fingerprints: dict[str, str]) -> str:
    """What the manifest depends on: every stage's fingerprint."""
    return hashlib.sha256(json.dumps(fingerprints, sort_keys=True).encode()).hexdigest()[:16]


def manifest(ctx: StageContext, rows: list[Post], entries: dict[str, Any]) -> dict[str, Any]:
    """The run's record: what made it, what it counted, what it cost, and each stage's own entries."""
    return {
        "synsym_version": __version__,
        "python": platform.python_version(),
        "packages": _versions(),
        "config": ctx.config.public_dict(),
        "seed": ctx.config.seed,
        "stages": ctx.stage_names,
        "fingerprints": ctx.fingerprints,
        "counts": funnel_counts(rows, ctx.stage_names),
        "usage": usage(ctx),
        "wall_seconds": round(time.time() - ctx.started, 1),
        "stage_seconds": ctx.stage_seconds,
        "notes": ctx.notes,
        **entries,
    }


def usage(ctx: StageContext) -> dict[str, Any]:
    """Tokens, calls and cost per engine: `generator` (the default role's), then each role with a backend
    of its own (`judge`, a plugin stage's)."""
    out = {"generator": ctx.engine.meter.as_dict()}
    seen = {id(ctx.engine)}
    for role, engine in ctx.engines.items():
        if id(engine) not in seen:
            seen.add(id(engine))
            out[role] = engine.meter.as_dict()
    return out


def write_record(ctx: StageContext, rows: list[Post], entries: dict[str, Any]) -> dict[str, Any]:
    """Write `manifest.json` into the run directory and return what it holds."""
    record = manifest(ctx, rows, entries)
    write_json(ctx.run_dir / MANIFEST, record)
    return json.loads((ctx.run_dir / MANIFEST).read_text(encoding="utf-8"))  # as a reader will see it


def _versions() -> dict[str, str]:
    found = {}
    for name in _PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
