"""Concurrency that adapts to the server, and token buckets for per-minute ceilings.

AIMD, as TCP and NeMo Data Designer do: every success adds 1/limit (one slot per round of
successes), every 429 or overload cuts the limit by a quarter (at most once per cool-down, so a burst of
rejections from one window counts once). The configured `max_concurrency` is a hard ceiling.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class AdaptiveConcurrency:
    def __init__(
        self, ceiling: int, initial: int | None = None, floor: int = 1, cooldown_s: float = 1.0
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.floor = max(1, min(floor, self.ceiling))
        self.limit = float(min(initial or self.ceiling, self.ceiling))
        self.in_flight = 0
        self.cooldown_s = cooldown_s
        self._last_decrease = -1e9
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.in_flight < int(self.limit) and not self._waiters:
            self.in_flight += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut  # the slot is counted by whoever resolved the future
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def on_success(self) -> None:
        if self.limit < self.ceiling:
            self.limit = min(float(self.ceiling), self.limit + 1.0 / self.limit)
            self._wake()

    def on_overload(self) -> None:
        now = time.monotonic()
        if now - self._last_decrease >= self.cooldown_s:
            self._last_decrease = now
            self.limit = max(float(self.floor), self.limit * 0.75)

    def _wake(self) -> None:
        while self._waiters and self.in_flight < int(self.limit):
            fut = self._waiters.popleft()
            if not fut.done():
                self.in_flight += 1
                fut.set_result(None)


class TokenBucket:
    """At most `per_minute` units a minute, with up to one second's worth (at least one request) as burst."""

    def __init__(self, per_minute: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def take(self, amount: float = 1.0) -> None:
        amount = min(amount, self.capacity)  # one request larger than the burst waits for a full bucket
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # an asyncio.Lock belongs to one loop; each run_sync has its own
            self._loop, self._lock = loop, asyncio.Lock()
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self.tokens >= amount:
                    self.tokens -= amount
                    return
                await asyncio.sleep((amount - self.tokens) / self.rate)
