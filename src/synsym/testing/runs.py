"""A run config sized for tests: the fake backend, every symptom, both styles and multi-symptom posts,
judged and exported in a few seconds. For synsym's tests and for users testing code built on synsym."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def small_fake_run(
    seed: int = 0, formats: Sequence[str] = ("parquet",), concurrency: int = 8
) -> dict[str, Any]:
    """A `synsym generate` config (as a dict, ready for `yaml.safe_dump` or `RunConfig.model_validate`)."""
    return {
        "seed": seed,
        "backend": {"name": "fake", "max_concurrency": concurrency},
        "expand": {"n_subconcepts": 4},
        "generate": {"calls": 1, "statements_per_style": 2, "max_subconcepts": 3},
        "compose": {"n_combinations": 12, "statements_per_style": 2},
        "judge": {"method": "llm", "threshold": 3},
        "export": {"formats": list(formats)},
    }
