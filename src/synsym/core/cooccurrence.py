"""Clinically plausible symptom combinations for multi-symptom posts, drawn from a co-occurrence prior.

The prior is data (`synsym/data/priors/<name>.yaml` or a user's file): node base rates, a weighted
undirected graph, and per-severity rules. Sampling is a seeded, graph-respecting walk: a symptom can join
a combination only through an edge to a symptom already in it, so posts never pair symptoms the prior
says do not go together. Same prior, taxonomy, n and seed -> the same list, in the same order.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, ValidationInfo, field_validator, model_validator

from synsym.core.config import StrictModel, read_yaml
from synsym.core.errors import ConfigError, InputError, suggest
from synsym.core.taxonomy import (
    Problem,
    Taxonomy,
    package_data_path,
    resolve_data_file,
    validate_data,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class SeverityRule(StrictModel):
    """How one severity level shapes a combination."""

    description: str = ""
    weight: float = Field(gt=0, description="relative probability of drawing this severity")
    sizes: dict[int, float] = Field(min_length=1, description="combination size -> relative weight")
    boost: dict[str, float] = Field(
        default_factory=dict, description="symptom -> base-rate multiplier (>= 0)"
    )
    exclude: list[str] = Field(default_factory=list, description="symptoms never drawn at this severity")
    require_any: list[str] = Field(default_factory=list, description="each combination holds one of these")

    @field_validator("sizes")
    @classmethod
    def _sizes_positive(cls, v: dict[int, float]) -> dict[int, float]:
        if any(k < 1 for k in v) or any(w < 0 for w in v.values()) or not any(w > 0 for w in v.values()):
            raise ValueError("sizes are >= 1 with weights >= 0, at least one weight > 0")
        return v

    @field_validator("boost")
    @classmethod
    def _boost_non_negative(cls, v: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in v.values()):
            raise ValueError("boost multipliers must be >= 0")
        return v


class CooccurrencePrior(StrictModel):
    """Node base rates, weighted co-occurrence edges and severity rules (see the built-in file)."""

    name: str = Field(min_length=1)
    taxonomy: str = Field("", description="the taxonomy it was written for (informational)")
    description: str = ""
    version: str = "1"
    nodes: dict[str, float] = Field(min_length=1, description="symptom -> relative base rate (>= 0)")
    edges: list[tuple[str, str, float]] = Field(default_factory=list, description="[a, b, weight in (0, 1]]")
    severities: dict[str, SeverityRule] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) else v

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> CooccurrencePrior:
        problems = _check_prior(self)
        if problems:
            sink = info.context.get("problems") if isinstance(info.context, dict) else None
            if isinstance(sink, list):
                sink.extend(problems)
            else:
                raise ValueError("prior is not consistent:\n" + "\n".join(f"{p} -> {m}" for p, m in problems))
        return self

    def weight(self, a: str, b: str) -> float:
        """Edge weight between two symptoms (0 when they are not connected)."""
        return self._adjacency().get(a, {}).get(b, 0.0)

    def _adjacency(self) -> dict[str, dict[str, float]]:
        adj: dict[str, dict[str, float]] = {n: {} for n in self.nodes}
        for a, b, w in self.edges:
            adj.setdefault(a, {})[b] = w
            adj.setdefault(b, {})[a] = w
        return adj

    def check_against(self, taxonomy: Taxonomy) -> None:
        """ConfigError when the prior names symptoms the taxonomy lacks (nodes, edges or severity rules)."""
        names = taxonomy.names
        problems = [
            (f"nodes.{n}", f"not a symptom of taxonomy {taxonomy.name}{suggest(n, names)}")
            for n in self.nodes
            if n not in names
        ]
        if problems:
            lines = [f"prior {self.name} does not fit taxonomy {taxonomy.name}:"]
            raise ConfigError("\n".join(lines + [f"  {p} -> {m}" for p, m in problems]))
        unused = [s for s in names if self.nodes.get(s, 0) <= 0]
        if unused:
            log.info("prior %s never samples %s (no node or base rate 0)", self.name, ", ".join(unused))


def _check_prior(prior: CooccurrencePrior) -> list[Problem]:
    problems: list[Problem] = []
    nodes = list(prior.nodes)
    problems += [(f"nodes.{n}", "base rate must be >= 0") for n, r in prior.nodes.items() if r < 0]
    seen: dict[frozenset[str], int] = {}
    for i, (a, b, w) in enumerate(prior.edges):
        for k, end in enumerate((a, b)):
            if end not in prior.nodes:
                problems.append((f"edges.{i}.{k}", f"unknown node {end!r}{suggest(end, nodes)}"))
        if a == b:
            problems.append((f"edges.{i}", f"self-loop on {a!r}; an edge joins two different symptoms"))
        if not 0 < w <= 1:
            problems.append((f"edges.{i}.2", f"weight must be in (0, 1] (got {w})"))
        pair = frozenset((a, b))
        if pair in seen:
            problems.append((f"edges.{i}", f"duplicate edge {a} -- {b} (also edges.{seen[pair]})"))
        seen.setdefault(pair, i)
    for sev, rule in prior.severities.items():
        for key in ("boost", "exclude", "require_any"):
            for name in getattr(rule, key):
                if name not in prior.nodes:
                    problems.append((f"severities.{sev}.{key}.{name}", f"unknown node{suggest(name, nodes)}"))
    return problems


@dataclass(frozen=True, order=True)
class Combination:
    """A set of symptoms (in taxonomy order) and the severity a multi-symptom post should convey."""

    symptoms: tuple[str, ...]
    severity: str

    @property
    def size(self) -> int:
        return len(self.symptoms)

    def to_dict(self) -> dict[str, Any]:
        return {"symptoms": list(self.symptoms), "severity": self.severity}


def builtin_priors() -> list[str]:
    """Names of the co-occurrence priors shipped as package data."""
    folder = package_data_path("priors")
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def load_prior(name_or_path: str | Path = "depression-14") -> CooccurrencePrior:
    """Load a built-in prior by name (`depression-14`) or a YAML file, validated (`path -> what is wrong`)."""
    path = resolve_data_file(name_or_path, "priors", "prior", builtin_priors())
    prior: CooccurrencePrior = validate_data(CooccurrencePrior, read_yaml(path), str(path))
    return prior


def _pick(rng: random.Random, items: Sequence[T], weights: Sequence[float]) -> T | None:
    """Weighted choice; None when every weight is zero. Uses one `rng.random()` draw."""
    total = sum(weights)
    if total <= 0:
        return None
    x = rng.random() * total
    for item, w in zip(items, weights, strict=True):
        x -= w
        if x < 0 and w > 0:
            return item
    return next(i for i, w in zip(reversed(items), reversed(weights), strict=True) if w > 0)


def _draw_one(
    prior: CooccurrencePrior,
    order: tuple[str, ...],
    adj: dict[str, dict[str, float]],
    severity: str,
    size: int,
    rng: random.Random,
) -> tuple[str, ...] | None:
    """One graph walk of `size` symptoms at `severity`; None when the walk gets stuck or breaks a rule."""
    rule = prior.severities[severity]
    rate = {s: prior.nodes.get(s, 0.0) * rule.boost.get(s, 1.0) for s in order if s not in rule.exclude}
    pool = [s for s in order if rate.get(s, 0.0) > 0]
    first = _pick(rng, pool, [rate[s] for s in pool])
    if first is None:
        return None
    chosen = [first]
    while len(chosen) < size:
        rest = [s for s in pool if s not in chosen]
        scores = [rate[s] * sum(adj.get(c, {}).get(s, 0.0) for c in chosen) for s in rest]
        nxt = _pick(rng, rest, scores)
        if nxt is None:
            return None
        chosen.append(nxt)
    if rule.require_any and not set(rule.require_any) & set(chosen):
        return None
    return tuple(s for s in order if s in chosen)


def sample_combinations(
    prior: CooccurrencePrior,
    taxonomy: Taxonomy,
    n: int,
    rng: random.Random,
    min_size: int = 2,
    max_size: int = 5,
    max_attempts: int | None = None,
) -> list[Combination]:
    """`n` distinct (symptoms, severity) combinations drawn from the prior, in draw order.

    Deterministic for a given `rng` state. Raises InputError when the prior cannot yield `n` distinct
    combinations within `max_attempts` draws (default 200 * n + 1000): lower n or widen the size range.
    """
    if n < 0 or min_size < 1 or max_size < min_size:
        raise InputError(
            f"sample_combinations: need n >= 0 and 1 <= min_size <= max_size (got {n}, "
            f"{min_size}, {max_size})"
        )
    prior.check_against(taxonomy)
    order, adj = taxonomy.names, prior._adjacency()
    sev_names = list(prior.severities)
    sev_sizes = {
        name: {k: w for k, w in rule.sizes.items() if min_size <= k <= max_size and w > 0}
        for name, rule in prior.severities.items()
    }
    sev_weights = [prior.severities[s].weight if sev_sizes[s] else 0.0 for s in sev_names]
    if not any(sev_weights):
        raise InputError(
            f"prior {prior.name}: no severity allows sizes {min_size}-{max_size}; "
            "change min_size/max_size or the prior's sizes"
        )
    out: list[Combination] = []
    seen: set[Combination] = set()
    budget = max_attempts if max_attempts is not None else 200 * n + 1000
    attempts = 0
    while len(out) < n:
        if attempts >= budget:
            raise InputError(
                f"prior {prior.name}: found only {len(out)} distinct combinations of {n} after {attempts} "
                f"draws (sizes {min_size}-{max_size}); ask for fewer or widen the size range"
            )
        attempts += 1
        sev = _pick(rng, sev_names, sev_weights)
        size = _pick(rng, list(sev_sizes[sev]), list(sev_sizes[sev].values())) if sev else None
        symptoms = _draw_one(prior, order, adj, sev, size, rng) if sev and size else None
        if sev is None or symptoms is None:
            continue
        combo = Combination(symptoms, sev)
        if combo not in seen:
            seen.add(combo)
            out.append(combo)
    return out
