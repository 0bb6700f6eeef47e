"""A quick check that a backend answers structured requests: the first thing to run against a new
endpoint or model, before paying for a whole dataset."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from synsym.backends.base import ChatRequest, create_backend
from synsym.core.config import BackendConfig
from synsym.engine.cache import ResponseCache
from synsym.engine.engine import Engine, Result, Task
from synsym.engine.limits import MIN_TIMED_S

PROBE_TEMPLATE = "probe-v1"
_TOPICS = ("sleep", "energy", "appetite", "concentration", "mood", "motivation", "worry", "work")


class ProbeAnswer(BaseModel):
    """A deliberately small schema that even a 135M model fills under a JSON grammar."""

    statement: str = Field(..., min_length=3, max_length=400)
    topic: str = Field(..., min_length=1, max_length=40)


@dataclass
class Capacity:
    """How many requests the server answers at once: one request timed alone, then `sent` at once."""

    alone_s: float
    together_s: float  # the time until the last of `sent` requests sent at once was answered
    sent: int

    @property
    def slots(self) -> int:
        """About how many it answers at once: `sent` requests that take `sent` times as long as one alone
        were answered one at a time; that take as long as one alone, all at once."""
        if self.together_s < MIN_TIMED_S or self.alone_s <= 0:  # too fast to see a queue in
            return self.sent
        return max(1, min(self.sent, round(self.sent * self.alone_s / self.together_s)))

    def describe(self) -> str:
        few = self.slots < self.sent
        at_once = f"about {self.slots} at a time" if few else f"{self.sent} or more at once"
        return (
            f"capacity: 1 request alone took {self.alone_s:.2f} s, {self.sent} sent at once "
            f"{self.together_s:.2f} s: the server answers {at_once}"
            + (f"; set backend.max_concurrency: {self.slots}" if few else "")
        )


@dataclass
class ProbeReport:
    results: list[Result]
    seconds: float
    engine: Engine
    capacity: Capacity | None = None


def probe_capacity(config: BackendConfig, sent: int = 4) -> Capacity:
    """Time one short request alone, then `sent` at once, sent straight to the backend (no cache, no
    limiter): a server that queues what it cannot answer at once (llama-cpp-python's answers one at a
    time) takes `sent` times as long for each."""
    backend = create_backend(config)

    def request(i: int) -> ChatRequest:
        topic = _TOPICS[i % len(_TOPICS)]
        return ChatRequest(
            messages=(("user", f"Write one short sentence about {topic}."),),
            temperature=0.0,
            max_tokens=32,
            seed=i,
        )

    async def timed(i: int) -> float:
        began = time.perf_counter()
        await backend.complete(request(i))
        return time.perf_counter() - began

    async def go() -> Capacity:
        try:
            await timed(0)  # a warm-up: connections, a model that loads on first use
            alone = await timed(1)
            together = await asyncio.gather(*(timed(2 + i) for i in range(sent)))
            return Capacity(alone, max(together), sent)
        finally:
            await backend.aclose()

    return asyncio.run(go())


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
