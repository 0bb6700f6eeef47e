"""How long a plan will take, said before it starts: from a local model's measured speed (a short warm-up
when the plan is made), or from a server's request ceilings; a batch ends within its window.

An estimate, not a bound: answers are counted at their expected size (`StagePlan.answer_tokens`), re-asks
and retries are not counted, and a server's own speed is not known before it answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from synsym.backends.base import Backend
from synsym.backends.batch_base import BatchBackend
from synsym.pipeline.stage import StagePlan

__all__ = ["duration", "minutes"]


def minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def duration(groups: Sequence[tuple[Backend, Sequence[StagePlan]]]) -> list[str]:
    """One line per engine that has requests to make (its backend, and the plans of the stages whose
    requests it answers): its expected time and what it rests on."""
    return [line for who, stages in groups if (line := _line(who, stages))]


def _line(backend: Backend, plans: Sequence[StagePlan]) -> str:
    requests = sum(p.requests for p in plans)
    prompt = sum(p.prompt_tokens for p in plans)
    answer = sum(p.answer_tokens for p in plans)
    if not requests:
        return ""
    name = f"{backend.config.name} ({backend.identity().get('model')})"
    if isinstance(backend, BatchBackend):
        return f"{name}: {requests:,} requests as batches; a batch ends within its 24 h window"
    speed = backend.measure_speed()
    if speed is not None:
        seconds = prompt / speed.prompt_tps + answer / speed.answer_tps
        return (
            f"{name}: about {minutes(seconds)} for {requests:,} requests (~{answer:,} answer tokens at "
            f"{speed.answer_tps:.0f} tokens/s and ~{prompt:,} prompt tokens at {speed.prompt_tps:.0f}/s, "
            "measured now; re-asks add to it)"
        )
    cfg = backend.config
    limits = []
    if cfg.requests_per_minute:
        limits.append(requests / cfg.requests_per_minute * 60)
    if cfg.tokens_per_minute:
        limits.append((prompt + answer) / cfg.tokens_per_minute * 60)
    if not limits:
        return (
            f"{name}: {requests:,} requests, {cfg.max_concurrency} at a time; no per-minute ceilings set "
            "(backend.requests_per_minute, tokens_per_minute), so the time is the server's"
        )
    return (
        f"{name}: at least {minutes(max(limits))} for {requests:,} requests at the ceilings set "
        f"(requests_per_minute {cfg.requests_per_minute or '-'}, tokens_per_minute "
        f"{cfg.tokens_per_minute or '-'}; ~{prompt + answer:,} tokens)"
    )
