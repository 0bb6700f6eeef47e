"""Surface transformations: each changes only what it should, reproducibly, and says what it did."""

from __future__ import annotations

import random

import pytest

from synsym.recipe.realism.transforms import TRANSFORM_NAMES, apply_transforms

TEXT = "To be honest, I don't know why you are still awake. It's 3.5 hours past midnight!"


def test_lowercase_and_no_punctuation() -> None:
    text, applied = apply_transforms(TEXT, {"lowercase": 1.0}, random.Random(0))
    assert text == TEXT.lower() and applied == ["lowercase"]
    text, applied = apply_transforms(TEXT, {"no_punctuation": 1.0}, random.Random(0))
    assert applied == ["no_punctuation"]
    assert "don't" in text and "It's" in text and "3.5" in text
    assert not any(c in text for c in ",!") and "awake It's" in text


def test_slang_replaces_common_phrases() -> None:
    replaced = set()
    for seed in range(20):
        text, applied = apply_transforms(TEXT, {"slang": 1.0}, random.Random(seed))
        assert applied == ["slang"] or text == TEXT
        replaced |= {w for w in ("tbh", "idk", "u", "r") if w in text.lower().replace(",", "").split()}
    assert replaced == {"tbh", "idk", "u", "r"}


def test_typos_keep_the_words_roughly() -> None:
    text, applied = apply_transforms(TEXT, {"typos": 1.0}, random.Random(3))
    assert applied == ["typos"] and text != TEXT
    assert abs(len(text.split()) - len(TEXT.split())) <= 2
    assert apply_transforms("so tired", {"typos": 1.0}, random.Random(3)) == ("so tired", [])


def test_typos_leave_the_global_random_state_alone() -> None:
    random.seed(5)
    expected = random.random()
    random.seed(5)
    apply_transforms(TEXT, {"typos": 1.0}, random.Random(3))
    assert random.random() == expected


def test_deterministic_and_recorded_in_order() -> None:
    rates = dict.fromkeys(TRANSFORM_NAMES, 1.0)
    first = apply_transforms(TEXT, rates, random.Random(11))
    assert first == apply_transforms(TEXT, rates, random.Random(11))
    assert first[1] == [n for n in TRANSFORM_NAMES if n in first[1]] and "lowercase" in first[1]
    assert apply_transforms(TEXT, dict.fromkeys(TRANSFORM_NAMES, 0.0), random.Random(1)) == (TEXT, [])


def test_a_transform_that_changes_nothing_is_not_recorded() -> None:
    assert apply_transforms("my cat sleeps a lot", {"lowercase": 1.0, "slang": 1.0}, random.Random(0)) == (
        "my cat sleeps a lot",
        [],
    )


def test_unknown_names_are_refused() -> None:
    with pytest.raises(ValueError, match="shouting"):
        apply_transforms(TEXT, {"shouting": 1.0}, random.Random(0))
