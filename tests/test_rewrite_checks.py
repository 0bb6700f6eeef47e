"""The checks that a model's contrastive rewrite makes the change its kind claims: planted failures are
refused with their class, hand-written good rewrites (benchmarks/data/rewrites.yaml) are kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from synsym.recipe.contrast.checks import rewrite_problem
from synsym.recipe.contrast.config import default_contrast_kinds

OWN = yaml.safe_load((Path(__file__).parents[1] / "benchmarks/data/rewrites.yaml").read_text())
KINDS = {k.name: k for k in default_contrast_kinds() if k.method == "llm"}


def check(kind: str, source: str, rewrite: str) -> tuple[str, str] | None:
    k = KINDS[kind]
    return rewrite_problem(k.dimension, source, rewrite, [(e.post, e.rewrite) for e in k.examples])


def test_hand_written_good_rewrites_are_kept() -> None:
    marks = [
        check(kind, OWN["sources"][sid], text) is None
        for kind, rows in OWN["good"].items()
        for sid, text in rows.items()
    ]
    assert len(marks) >= 45 and sum(marks) / len(marks) >= 0.9


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_failures_a_weak_model_makes_are_refused(kind: str) -> None:
    sources = [t for k, t in OWN["sources"].items() if k.startswith("m" if kind == "partial" else "s")]
    for post in sources:
        assert check(kind, post, post) == ("not_minimal", check(kind, post, post)[1])  # type: ignore[index]
        reason = f"{post.rstrip('.')}, because work has been insane lately."
        assert check(kind, post, reason)[0] == "kind_not_met", reason  # type: ignore[index]
        example = KINDS[kind].examples[0].rewrite
        assert check(kind, post, example)[0] == "example_copy"  # type: ignore[index]
        tokens = post.split()
        light = " ".join([tokens[0], "really", *tokens[1:]])  # still the writer's own, current state
        assert check(kind, post, light) is not None, light


def test_whose_hears_possessives_relations_and_observers() -> None:
    post = "My mood is persistently down and melancholic throughout the day."
    assert check("other_person", post, "My really mood is persistently down throughout the day.")
    assert (
        check("other_person", post, "My sister's mood is persistently down and melancholic all day.") is None
    )
    assert check("other_person", "I can't sleep at all.", "I think my brother can't sleep at all.") is None
    assert check("other_person", "I can't sleep at all.", "My brother says I can't sleep at all.")
    framed = "My coworker says everything feels so empty and meaningless."  # no one was named: a frame
    assert check("other_person", "Everything feels so empty and meaningless.", framed) is None


def test_denial_is_a_change_of_negation_or_a_stated_contrary() -> None:
    assert (
        check("denied", "I feel hopeless about everything.", "I don't feel hopeless about anything.") is None
    )
    assert (
        check("denied", "I haven't slept in days.", "I've slept fine every night, no trouble at all.") is None
    )
    assert check("denied", "I haven't slept in days.", "I honestly haven't slept in days, it's awful.")
