"""Concurrency that adapts to the server, and token buckets for per-minute ceilings.

AIMD, as TCP and NeMo Data Designer do: every success adds 1/limit (one slot per round of
successes), every 429, overload or timeout cuts the limit by a quarter (at most once per cool-down, so a
burst of rejections from one window counts once). The configured `max_concurrency` is a hard ceiling.

A server that queues instead of refusing (llama-cpp-python's answers one request at a time and holds the
rest) sends no 429: its answers just take longer, until they time out. So the limiter also watches how
long answers take against the fastest seen: an answer costs a fixed part (the round trip, reading the
prompt) and a part per answer token, so the least it can take is the larger of the shortest answer seen
(`best_s`) and its tokens at the best pace seen (`best_pace`, seconds per token); within twice that,
nothing waited. When the recent answers take `QUEUE_RATIO` times their least, requests are waiting in
the server's queue, and that counts as an overload; nor does the limit grow while they wait. A one-slot
server so settles at one or two requests in flight, while a server whose answers take as long whatever
their size (a short judge score after long posts) is not taken for one with a queue.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

QUEUE_RATIO = 3.0  # recent answer time / its least above which answers are taken to wait in a queue
MIN_TIMED_S = 0.05  # answers faster than this say nothing of a queue (an in-process fake, a cache)
_RECENT = 0.3  # weight of the newest answer in the recent ratio (an exponential average)
_FORGET = 1.002  # the bests drift up 0.2% an answer, so one lucky answer does not set them for good


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
        self.best_s: float | None = None  # the shortest answer: the fixed part of an answer's time
        self.best_pace: float | None = None  # seconds per answer token with no queue
        self.ratio: float | None = None  # recent answers' time over the least they could take

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

    def on_success(self, seconds: float | None = None, tokens: int = 0, sent: float | None = None) -> None:
        """One answer, in `seconds` for `tokens` answer tokens (None: not timed), sent at `sent`
        (time.monotonic()): grow by 1/limit, unless its pace says that answers wait in the server's queue.
        That cuts the limit by a quarter to a half (the deeper the queue, the more), once per round trip:
        an answer sent before the last cut was queued under the old limit and says nothing of the new."""
        if seconds is not None and seconds >= MIN_TIMED_S and self.queued(seconds, tokens):
            if sent is None or sent > self._last_decrease:  # deeper in the queue, a larger cut
                cut = min(0.75, max(0.5, QUEUE_RATIO / (self.ratio or QUEUE_RATIO)))
                self._last_decrease = time.monotonic()
                self.limit = max(float(self.floor), self.limit * cut)
            return
        if self.limit < self.ceiling:
            self.limit = min(float(self.ceiling), self.limit + 1.0 / self.limit)
            self._wake()

    def on_overload(self) -> None:
        now = time.monotonic()
        if now - self._last_decrease >= self.cooldown_s:
            self._last_decrease = now
            self.limit = max(float(self.floor), self.limit * 0.75)

    def queued(self, seconds: float, tokens: int) -> bool:
        """Record one answer's time; True when the recent answers say they wait in a queue."""
        pace = seconds / max(tokens, 1)
        self.best_pace = pace if self.best_pace is None else min(pace, self.best_pace * _FORGET)
        self.best_s = seconds if self.best_s is None else min(seconds, self.best_s * _FORGET)
        ratio = seconds / max(self.best_s, max(tokens, 1) * self.best_pace)
        self.ratio = ratio if self.ratio is None else _RECENT * ratio + (1 - _RECENT) * self.ratio
        return self.ratio > QUEUE_RATIO and self.limit > self.floor

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
