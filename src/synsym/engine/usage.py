"""Tokens, cost and failures, per run; and the budget that stops a run before it overspends."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from synsym.backends.base import Usage
from synsym.core.config import Prices


def cost_of(prices: Prices, prompt_tokens: float, completion_tokens: float) -> float:
    return (prompt_tokens * prices.input_per_mtok + completion_tokens * prices.output_per_mtok) / 1e6


@dataclass
class UsageMeter:
    """Counters a run reports in its manifest and progress line."""

    tasks: int = 0  # tasks ended, answered or failed: what `failures` is a share of
    calls: int = 0  # answers paid for (not from cache)
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    failures: Counter[str] = field(default_factory=Counter)  # by class, one per failed task
    retries: Counter[str] = field(default_factory=Counter)  # by transient kind
    reasks: int = 0

    def add_call(self, usage: Usage, cost: float) -> None:
        self.calls += 1
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost += cost

    def as_dict(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": round(self.cost, 6),
            "failures": dict(self.failures),
            "retries": dict(self.retries),
            "reasks": self.reasks,
        }


class Budget:
    """Reserves a request's worst-case cost before it is sent, so concurrent requests cannot overshoot."""

    def __init__(self, max_cost: float | None, meter: UsageMeter) -> None:
        self.max_cost = max_cost
        self.meter = meter
        self.reserved = 0.0
        self.exhausted = False

    def reserve(self, worst_case: float) -> bool:
        if self.max_cost is None:
            return True
        if self.meter.cost + self.reserved + worst_case > self.max_cost:
            self.exhausted = True
            return False
        self.reserved += worst_case
        return True

    def settle(self, worst_case: float) -> None:
        if self.max_cost is not None:
            self.reserved -= worst_case
