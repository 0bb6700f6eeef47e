"""Small pieces of asking that several stages share: a plain-text request with the run's per-draw
seed, and a count split by shares (kinds of negative, kinds of rewrite)."""

from __future__ import annotations

from synsym.backends.base import ChatRequest
from synsym.pipeline.context import StageContext


def plain_request(
    ctx: StageContext, messages: tuple[tuple[str, str], ...], sample: int, max_tokens: int, temperature: float
) -> ChatRequest:
    return ChatRequest(
        messages=messages, temperature=temperature, max_tokens=max_tokens, seed=ctx.request_seed(sample)
    )


def split_counts(total: int, shares: list[float]) -> list[int]:
    """`total` split in proportion to `shares` by largest remainder: the counts sum to `total` exactly."""
    raw = [total * s / sum(shares) for s in shares]
    counts = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: counts[i] - raw[i])[: total - sum(counts)]:
        counts[i] += 1
    return counts
