"""The fake backend, found through the real registry: deterministic for a seed, different across seeds,
and a valid answer to any pydantic schema, through the engine, without re-asks."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Literal

import pytest
from pydantic import BaseModel, Field, conint

from synsym.backends.base import ChatRequest, available_backends, create_backend
from synsym.backends.fake import FakeBackend
from synsym.core.config import BackendConfig
from synsym.engine.engine import Engine, Task


class Statement(BaseModel):
    text: str = Field(min_length=10, max_length=400)
    style: Literal["clinical", "colloquial"]


class Statements(BaseModel):
    symptom: str
    statements: list[Statement] = Field(min_length=3, max_length=5)


class Judgement(BaseModel):
    score: conint(ge=0, le=5)  # type: ignore[valid-type]
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str


class Combination(BaseModel):
    symptoms: list[str] = Field(min_length=2, max_length=5)
    severity: Literal["mild", "moderate", "severe"]
    note: str | None = None
    weights: dict[str, int] = Field(default_factory=dict)
    plausible: bool


class Expansion(BaseModel):
    subconcepts: list[str] = Field(min_length=4, max_length=8)
    tags: set[str] = Field(default_factory=set)
    reviewed: bool = False


SCHEMAS: list[type[BaseModel]] = [Statement, Statements, Judgement, Combination, Expansion]
PROMPT = "Symptom: Fatigue_or_loss_of_energy\nWrite first-person statements."


def fake(seed: int = 0, **extra: object) -> Engine:
    config = BackendConfig(name="fake", seed=seed, max_reasks=0, **extra)  # type: ignore[arg-type]
    return Engine(create_backend(config), progress=False)


def tasks(schemas: list[type[BaseModel]] = SCHEMAS, n: int = 3) -> list[Task]:
    return [
        Task(
            id=f"{schema.__name__}-{i}",
            request=ChatRequest(
                messages=(("system", "Answer with JSON."), ("user", f"{PROMPT} ({i})")),
                json_schema=schema.model_json_schema(),
                schema_name=schema.__name__,
            ),
            schema=schema,
        )
        for schema in schemas
        for i in range(n)
    ]


def texts(seed: int) -> list[str | None]:
    return [r.text for r in fake(seed).run_sync(tasks())]


def test_registered_through_the_entry_point() -> None:
    assert available_backends()["fake"] is FakeBackend
    assert isinstance(create_backend(BackendConfig(name="fake")), FakeBackend)


def test_answers_every_schema_validly_without_reasks() -> None:
    engine = fake()
    results = engine.run_sync(tasks(n=5))
    assert all(r.ok for r in results), [(r.task.id, r.error) for r in results if not r.ok]
    assert engine.meter.reasks == 0 and engine.meter.calls == len(results)
    for r in results:
        assert isinstance(r.value, r.task.schema)  # type: ignore[arg-type]
        assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    judgement = next(r.value for r in results if isinstance(r.value, Judgement))
    assert 0 <= judgement.score <= 5


def test_same_seed_same_answers_other_seed_other_answers() -> None:
    first, again, other = texts(0), texts(0), texts(1)
    assert first == again
    assert sum(a != b for a, b in zip(first, other, strict=True)) >= len(first) * 0.8
    assert len(set(first)) >= len(first) - 2  # different prompts get (nearly always) different answers


def test_plain_text_is_a_first_person_sentence() -> None:
    task = Task(id="plain", request=ChatRequest(messages=(("user", "Symptom: insomnia"),)))
    [result] = fake(3).run_sync([task])
    assert result.ok and result.value is None and result.text
    assert len(result.text.split()) >= 4 and result.text[0].isupper()
    with pytest.raises(ValueError):
        json.loads(result.text)


def test_request_seed_and_parameters_change_the_answer() -> None:
    base = ChatRequest(messages=(("user", PROMPT),), json_schema=Statements.model_json_schema())
    backend = create_backend(BackendConfig(name="fake"))

    async def answer(request: ChatRequest) -> str:
        return (await backend.complete(request)).text

    async def go() -> list[str]:
        return [await answer(r) for r in (base, base, ChatRequest(**{**base.as_dict(), "seed": 1}))]

    a, b, c = asyncio.run(go())
    assert a == b != c


def test_latency_is_simulated() -> None:
    engine = fake(latency_s=0.2)
    start = time.perf_counter()
    assert all(r.ok for r in engine.run_sync(tasks([Judgement], n=4)))
    assert time.perf_counter() - start >= 0.15  # concurrent: about one latency, not four
