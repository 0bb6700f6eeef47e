"""A quick check that a backend answers structured requests: the first thing to run against a new
endpoint or model, before paying for a whole dataset."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from synsym.backends.base import ChatRequest, create_backend
from synsym.core.config import BackendConfig
from synsym.engine.cache import ResponseCache
from synsym.engine.engine import Engine, Result, Task

PROBE_TEMPLATE = "probe-v1"
_TOPICS = ("sleep", "energy", "appetite", "concentration", "mood", "motivation", "worry", "work")


class ProbeAnswer(BaseModel):
    """A deliberately small schema that even a 135M model fills under a JSON grammar."""

    statement: str = Field(..., min_length=3, max_length=400)
    topic: str = Field(..., min_length=1, max_length=40)


@dataclass
class ProbeReport:
    results: list[Result]
    seconds: float
    engine: Engine


def probe_backend(config: BackendConfig, n: int = 4, cache_path: Path | None = None) -> ProbeReport:
    tasks = [
        Task(
            id=f"probe-{i}",
            request=ChatRequest(
                messages=(
                    ("system", "You answer with one JSON object and nothing else."),
                    (
                        "user",
                        f"Write one short first-person sentence about {_TOPICS[i % len(_TOPICS)]} "
                        f'as {{"statement": "...", "topic": "{_TOPICS[i % len(_TOPICS)]}"}}.',
                    ),
                ),
                temperature=0.7,
                max_tokens=96,
                json_schema=ProbeAnswer.model_json_schema(),
                schema_name="probe_answer",
            ),
            schema=ProbeAnswer,
            sample=i,
            template=PROBE_TEMPLATE,
        )
        for i in range(n)
    ]
    cache = ResponseCache(cache_path) if cache_path else None
    engine = Engine(create_backend(config), cache)
    start = time.perf_counter()
    try:
        results = engine.run_sync(tasks, label="probe")
    finally:
        if cache:
            cache.close()
    return ProbeReport(results=results, seconds=time.perf_counter() - start, engine=engine)
