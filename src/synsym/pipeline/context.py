"""What every stage gets: the validated config, the taxonomy, the engines, and where to write."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synsym.core.taxonomy import Taxonomy
from synsym.engine.engine import Engine, Result
from synsym.pipeline.config import Persona, RunConfig
from synsym.pipeline.records import Post, new_post, post_id


@dataclass
class StageContext:
    config: RunConfig
    taxonomy: Taxonomy
    engine: Engine  # the generator
    judge_engine: Engine
    run_dir: Path

    def rng(self, *parts: object) -> random.Random:
        """A generator seeded by the run seed and a stable label: the same draw on every rerun."""
        return random.Random(":".join(str(p) for p in (self.config.seed, *parts)))

    def request_seed(self, sample: int) -> int:
        """The decoding seed for repeated draws of one prompt: different per draw, the same per rerun."""
        return self.config.seed * 1_000_003 + sample

    def persona(self, *parts: object) -> tuple[str | None, str]:
        """(name, prompt text) of the declared persona for one prompt, a seeded draw; (None, "") when the
        config declares none."""
        if not self.config.personas:
            return None, ""
        persona: Persona = self.rng("persona", *parts).choice(self.config.personas)
        return persona.name, persona.describe()

    def provenance(self, result: Result) -> dict[str, Any]:
        identity = self.engine.backend.identity()
        return {
            "backend": str(identity.get("backend")),
            "model": str(identity.get("model")),
            "template": result.task.template,
            "request_key": result.key,
        }

    def failed_post(self, result: Result, stage: str, reason: str | None = None, **fields: Any) -> Post:
        """A request that ended without a usable answer, kept as a dropped row with its reason."""
        return new_post(
            id=post_id(result.key, -1, ""),
            text=result.text or "",
            stage=stage,
            drop_reason=reason or f"request_failed: {result.failure}: {result.error}",
            **self.provenance(result),
            **fields,
        )
