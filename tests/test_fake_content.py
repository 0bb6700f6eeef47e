"""The fake content generator: every instance validates, content is on-topic, varied and seeded."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal
from enum import Enum
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field, conint, conlist, constr

from synsym.backends.fake_content import extract_phrases, fake_sentence, instance_for_schema

PROMPT = (
    "Write 5 first-person statements.\n"
    "Symptom: Sleep disturbance\n"
    "Sub-concept: waking up at 4am and not falling back asleep\n"
    "Style: colloquial\n"
)


class Severity(str, Enum):
    mild = "mild"
    moderate = "moderate"
    severe = "severe"


class SubConcept(BaseModel):
    name: str
    description: str


class Expansion(BaseModel):
    symptom: Literal["sleep_disturbance", "depressed_mood", "fatigue"]
    subconcepts: list[SubConcept] = Field(min_length=3, max_length=8)


class Statements(BaseModel):
    statements: conlist(str, min_length=5, max_length=5)  # type: ignore[valid-type]


class Judgement(BaseModel):
    score: conint(ge=0, le=5)  # type: ignore[valid-type]
    reason: str


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: conint(ge=1, le=9)  # type: ignore[valid-type]


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Post(BaseModel):
    text: constr(min_length=20, max_length=60)  # type: ignore[valid-type]
    symptoms: list[Literal["a", "b", "c", "d"]] = Field(min_length=2, max_length=4)
    severity: Severity
    weight: float = Field(gt=0, lt=1)
    count: int = Field(ge=-3, le=-1)
    even: int = Field(ge=1, le=9, multiple_of=2)
    note: str | None = None
    tags: set[str] = Field(min_length=1)
    pair: tuple[int, str]
    extra: dict[str, int]
    created: dt.datetime
    day: dt.date
    uid: uuid.UUID
    flag: bool
    amount: Decimal = Field(ge=0, le=10)
    level: Literal[1, 2, 3]
    groups: dict[str, list[str]] | None
    either: Cat | Dog


class Node(BaseModel):
    label: str
    children: list[Node] = []
    pet: Annotated[Cat | Dog, Field(discriminator="kind")] | None = None


class Batch(BaseModel):
    judgements: list[Judgement] = Field(min_length=1, max_length=3)
    posts: list[Post] = Field(max_length=2)
    tree: Node


MODELS = [SubConcept, Expansion, Statements, Judgement, Post, Node, Batch]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_instance_validates(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    for seed in range(60):
        value = instance_for_schema(schema, random.Random(seed), PROMPT)
        model.model_validate(value)


def test_same_seed_same_answer_and_seeds_differ() -> None:
    schema = Batch.model_json_schema()
    a = instance_for_schema(schema, random.Random(7), PROMPT)
    assert a == instance_for_schema(schema, random.Random(7), PROMPT)
    assert a != instance_for_schema(schema, random.Random(8), PROMPT)


def test_strings_in_arrays_are_distinct() -> None:
    schema = Statements.model_json_schema()
    for seed in range(50):
        items = instance_for_schema(schema, random.Random(seed), "Symptom: fatigue")["statements"]
        assert len(set(items)) == len(items)


def test_names_are_distinct_across_objects_of_one_answer() -> None:
    schema = Expansion.model_json_schema()
    for seed in range(50):
        names = [s["name"] for s in instance_for_schema(schema, random.Random(seed), PROMPT)["subconcepts"]]
        assert len(set(names)) == len(names)


def test_judge_scores_lean_high() -> None:
    schema = Judgement.model_json_schema()
    scores = [instance_for_schema(schema, random.Random(s))["score"] for s in range(1000)]
    high = sum(s >= 4 for s in scores) / len(scores)
    assert 0.75 <= high <= 0.97
    assert min(scores) < 4


def test_sentences_pick_up_the_prompt_topic() -> None:
    rng = random.Random(0)
    sentences = [fake_sentence(rng, PROMPT) for _ in range(100)]
    on_topic = [s for s in sentences if "waking up at 4am" in s or "sleep disturbance" in s]
    assert len(on_topic) == len(sentences)
    assert any("waking up at 4am" in s for s in sentences)
    assert all("colloquial" not in s for s in sentences)
    quoted = fake_sentence(random.Random(1), 'Write a statement expressing "loss of appetite".')
    assert "loss of appetite" in quoted


def test_sentences_are_varied_and_plausible() -> None:
    rng = random.Random(3)
    sentences = [fake_sentence(rng, "Symptom: fatigue") for _ in range(300)]
    assert len(set(sentences)) >= 60
    starts = {s.split()[0] for s in sentences}
    assert len(starts) >= 15
    for s in sentences:
        assert s[0].isupper() and s.rstrip()[-1] in ".?!"
        assert 1 <= sum(s.count(c) for c in ".?!") <= 4
        assert "string" not in s.lower()
    assert fake_sentence(random.Random(1))  # no prompt: a generic topic


def test_field_names_steer_content() -> None:
    rng = random.Random(5)
    for _ in range(30):
        sub = instance_for_schema(SubConcept.model_json_schema(), rng, PROMPT)
        assert len(sub["name"]) < 90 and not sub["name"].endswith(".")
        assert sub["description"].endswith(".")
        judged = instance_for_schema(Judgement.model_json_schema(), rng, PROMPT)
        assert not judged["reason"].startswith("I ")


def test_extract_phrases_ranks_sub_concept_then_symptom() -> None:
    phrases = extract_phrases(PROMPT)
    assert phrases[:2] == ("waking up at 4am and not falling back asleep", "sleep disturbance")
    assert "colloquial" not in phrases
    described = "Symptom: Fatigue\nDescription: tired, drained, no energy\nSub-concept: heavy limbs\nN: 5"
    assert extract_phrases(described) == ("heavy limbs", "fatigue", "tired, drained, no energy")
    assert extract_phrases("") == ()
    assert extract_phrases("Description: Feels sad most days.") == ("feeling sad most days",)
    assert extract_phrases("I can't sleep and I don't eat") == ()  # apostrophes are not quotes
    long_key = "Write 5 first-person statements expressing depressed mood: feeling hopeless"
    assert extract_phrases(long_key) == ("feeling hopeless",)


def test_a_list_of_symptoms_gives_a_post_that_mentions_each() -> None:
    prompt = "Write a post.\nSymptoms: depressed mood, insomnia, fatigue and poor concentration"
    for seed in range(20):
        post = fake_sentence(random.Random(seed), prompt)
        for item in ("depressed mood", "insomnia", "fatigue", "poor concentration"):
            assert item in post
        assert sum(post.count(c) for c in ".!") <= 3
        assert "depressed mood, insomnia" not in post


COMPOSE = """Write posts by one person who is experiencing all of these symptoms together, at a mild level:
- Sleep_disturbance: Insomnia or hypersomnia nearly every day.
- Depressed_Mood: Feeling sad, empty or hopeless most of the day.

Write 2 posts for each style below. Every post:
- is written in the first person,
- expresses every listed symptom clearly.

Styles:
- clinical: plain clinical wording
- colloquial: casual social-media voice

Answer as {"clinical": ["...", ...], "colloquial": ["...", ...]}."""

EXPAND = """Symptom: Fatigue
Definition: Fatigue or loss of energy nearly every day.
Other symptoms in the same taxonomy (your sub-concepts must not belong to any of them):
- Depressed_Mood: sad
- Sleep_disturbance: insomnia
List at least 6 distinct sub-concepts of "Fatigue".
Answer as {"subconcepts": ["...", "..."]}."""


def test_bullet_lists_headers_and_answer_shapes_are_read_like_a_person_would() -> None:
    assert extract_phrases(COMPOSE) == ("sleep disturbance, depressed mood",)
    for seed in range(10):
        post = fake_sentence(random.Random(seed), COMPOSE)
        assert "sleep disturbance" in post and "depressed mood" in post
        assert "clinical" not in post and "first person" not in post
    phrases = extract_phrases(EXPAND)
    assert phrases[0] == "fatigue" and not {"subconcepts", "sad", "insomnia"} & set(phrases)
    assert extract_phrases('Post: "I can\'t sleep."\nSymptom: Insomnia') == ("insomnia", "I can't sleep")
