"""The co-occurrence prior and the combination sampler: validation, graph rules, determinism."""

from __future__ import annotations

import ast
import csv
import math
import random
from collections import Counter
from pathlib import Path

import pytest
import yaml

from synsym.core.cooccurrence import (
    Combination,
    CooccurrencePrior,
    builtin_priors,
    load_prior,
    sample_combinations,
)
from synsym.core.errors import ConfigError, InputError
from synsym.core.taxonomy import Taxonomy, load_taxonomy

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy("depression-14")


@pytest.fixture(scope="module")
def prior() -> CooccurrencePrior:
    return load_prior("depression-14")


def tiny_prior(**over: object) -> dict:
    data: dict = {
        "name": "tiny",
        "nodes": {"A": 1.0, "B": 0.5, "C": 0.5},
        "edges": [["A", "B", 1.0], ["B", "C", 0.5]],
        "severities": {"mild": {"weight": 1, "sizes": {2: 1.0}}},
    }
    data.update(over)
    return data


def tiny_taxonomy() -> Taxonomy:
    return Taxonomy.model_validate(
        {"name": "tiny", "symptoms": [{"name": s, "definition": "d", "seeds": ["s"]} for s in "ABC"]}
    )


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "prior.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def errors_of(tmp_path: Path, data: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_prior(write(tmp_path, data))
    return str(info.value)


def connected(symptoms: tuple[str, ...], prior: CooccurrencePrior) -> bool:
    seen, todo = {symptoms[0]}, [symptoms[0]]
    while todo:
        cur = todo.pop()
        for other in symptoms:
            if other not in seen and prior.weight(cur, other) > 0:
                seen.add(other)
                todo.append(other)
    return seen == set(symptoms)


def test_builtin_prior_fits_default_taxonomy(prior: CooccurrencePrior, tax: Taxonomy) -> None:
    assert "depression-14" in builtin_priors()
    prior.check_against(tax)
    assert set(prior.nodes) == set(tax.names)
    assert set(prior.severities) == {"mild", "moderate", "severe"}
    assert "Suicidal_ideas" in prior.severities["mild"].exclude
    assert prior.weight("Depressed_Mood", "Loss_of_interest_or_motivation") == 1.0
    assert prior.weight("Loss_of_interest_or_motivation", "Depressed_Mood") == 1.0  # undirected


def test_samples_are_valid_and_distinct(prior: CooccurrencePrior, tax: Taxonomy) -> None:
    combos = sample_combinations(prior, tax, 400, random.Random(7))
    assert len(combos) == len(set(combos)) == 400
    for c in combos:
        assert isinstance(c, Combination)
        assert 2 <= c.size <= 5
        assert c.symptoms == tax.order(c.symptoms)  # taxonomy order, no repeats
        assert c.severity in prior.severities
        assert connected(c.symptoms, prior), c
        if c.severity == "mild":
            assert "Suicidal_ideas" not in c.symptoms
        if c.severity == "severe":
            assert {"Depressed_Mood", "Loss_of_interest_or_motivation"} & set(c.symptoms)
    freq = Counter(s for c in combos for s in c.symptoms)
    assert freq.most_common(1)[0][0] == "Depressed_Mood"
    assert freq["Suicidal_ideas"] < freq["Depressed_Mood"] / 2


def test_deterministic_for_a_seed(prior: CooccurrencePrior, tax: Taxonomy) -> None:
    a = sample_combinations(prior, tax, 100, random.Random(3))
    b = sample_combinations(prior, tax, 100, random.Random(3))
    c = sample_combinations(prior, tax, 100, random.Random(4))
    assert a == b
    assert a != c


def test_size_bounds(prior: CooccurrencePrior, tax: Taxonomy) -> None:
    combos = sample_combinations(prior, tax, 50, random.Random(0), min_size=3, max_size=3)
    assert {c.size for c in combos} == {3}
    with pytest.raises(InputError, match="no severity allows sizes"):
        sample_combinations(prior, tax, 5, random.Random(0), min_size=6, max_size=9)
    with pytest.raises(InputError, match="min_size"):
        sample_combinations(prior, tax, 5, random.Random(0), min_size=3, max_size=2)


def test_graph_is_respected_and_exhaustion_is_reported(tmp_path: Path) -> None:
    prior = load_prior(write(tmp_path, tiny_prior()))
    combos = sample_combinations(prior, tiny_taxonomy(), 2, random.Random(0))
    assert sorted(c.symptoms for c in combos) == [("A", "B"), ("B", "C")]  # A and C share no edge
    with pytest.raises(InputError, match="found only 2 distinct combinations of 3"):
        sample_combinations(prior, tiny_taxonomy(), 3, random.Random(0))


def test_combination_is_frozen() -> None:
    c = Combination(("A", "B"), "mild")
    with pytest.raises(AttributeError):
        c.severity = "severe"  # type: ignore[misc]
    assert c.to_dict() == {"symptoms": ["A", "B"], "severity": "mild"}


def test_bad_yaml(tmp_path: Path) -> None:
    assert "not valid YAML" in errors_of(tmp_path, "nodes: {A: [1\n")


def test_unknown_key(tmp_path: Path) -> None:
    data = tiny_prior()
    data["severities"]["mild"]["excluded"] = ["A"]
    assert "severities.mild.excluded -> unknown key" in errors_of(tmp_path, data)


def test_unknown_nodes_and_bad_edges(tmp_path: Path) -> None:
    data = tiny_prior(edges=[["A", "Bb", 1.0], ["A", "A", 0.5], ["B", "C", 2.0], ["C", "B", 0.3]])
    data["severities"]["mild"]["boost"] = {"Cc": 2.0}
    msg = errors_of(tmp_path, data)
    assert "edges.0.1 -> unknown node 'Bb'; did you mean B?" in msg
    assert "edges.1 -> self-loop" in msg
    assert "edges.2.2 -> weight must be in (0, 1]" in msg
    assert "edges.3 -> duplicate edge" in msg
    assert "severities.mild.boost.Cc -> unknown node" in msg


def test_bad_sizes(tmp_path: Path) -> None:
    data = tiny_prior()
    data["severities"]["mild"]["sizes"] = {0: 1.0}
    assert "severities.mild.sizes" in errors_of(tmp_path, data)


def test_prior_for_another_taxonomy(tmp_path: Path, tax: Taxonomy) -> None:
    prior = load_prior(write(tmp_path, tiny_prior()))
    with pytest.raises(ConfigError, match=r"nodes\.A -> not a symptom of taxonomy depression-14"):
        sample_combinations(prior, tax, 1, random.Random(0))


def test_unknown_prior_name() -> None:
    with pytest.raises(InputError, match="did you mean depression-14"):
        load_prior("depression14")


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} absent: ../shared is not in a fresh clone")
def test_resembles_the_papers_590_combinations(prior: CooccurrencePrior, tax: Taxonomy) -> None:
    """Same most frequent symptom, similar symptom frequencies, mostly 3-symptom combinations."""
    with open(SHARED / "synsym-kdd2026" / "batch_results_590.csv", encoding="utf-8") as f:
        paper = [ast.literal_eval(row["symptoms"]) for row in csv.DictReader(f)]
    ours = [c.symptoms for c in sample_combinations(prior, tax, len(paper), random.Random(0))]
    fp = Counter(s for combo in paper for s in combo)
    fo = Counter(s for combo in ours for s in combo)
    assert fp.most_common(1)[0][0] == fo.most_common(1)[0][0] == "Depressed_Mood"
    a, b = [fp[s] for s in tax.names], [fo[s] for s in tax.names]
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True))
    r = cov / math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))
    assert r > 0.9
    assert Counter(len(c) for c in ours).most_common(1)[0][0] == 3
