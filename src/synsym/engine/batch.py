"""Provider batches behind the engine's `Dispatch`: the engine's `send(request, key)` calls are collected,
sent as batch lines whose `custom_id` is the cache key, polled, downloaded into the response cache (the
one online runs use, so both share answers) and handed back, each to the `send` waiting for it.

Nothing is paid for twice, even across kills, because of `batches.sqlite`, the ledger beside the cache:
- a batch's intent (its client token, derived from its lines' custom_ids and its round, and the lines) is
  committed BEFORE anything is uploaded or created; then the file id, then the batch id the moment create
  returns; then its status at each poll; it is `collected` only once its answers are in the cache.
- a rerun first reconciles every unfinished row no live dispatch owns: a row with a batch id is polled
  on; one without (killed before, or just after, create) is looked for among the account's recent
  batches by its token (OpenAI keeps it in `metadata`) or uploaded file, or for Anthropic (no metadata)
  by size and time (see `synsym.backends.anthropic_batch`): found, it is adopted; not found, it was never
  created, and its lines are sent again when the engine asks for them.
- a line in a batch that is still open is never sent again: its `send` waits for that batch. That
  includes a batch whose create went unanswered (a read timeout or a reset after the provider made it,
  or an answer that does not parse): its lines stay with its row, which is looked for by its token (or
  file, or size and time for Anthropic) at each poll; found, it is followed; proven absent, it is
  created again under the same token and file (engine.batch_poll).
- a provider's full queue (a create answered 429, or OpenAI's `token_limit_exceeded` failing a batch)
  created nothing that answers: the lines wait for an open batch to end (or, with none open, for a
  while, in halves) and go again without spending their retries; `max_enqueued_tokens` and
  `max_enqueued_requests` keep within a known limit in the first place.
Expired, cancelled and failed batches keep what they completed; a line they did not answer comes back to
its `send` as a TransientError, so the engine's retry loop puts it in the next round (bounded by
`max_retries`, then it fails with the reason), or as the error the provider gave it (a 4xx line fails as
the online request would). A re-ask (an answer that failed its schema) is a new request: a further batch,
or online with `reask: online`. `--max-cost`: the engine reserves each line's worst case (at the batch
price) before the line reaches a batch and holds it until the answer is back, so batches are only made
of lines the budget covers; the others fail with class `budget` before any batch holds them.

`SYNSYM_BATCH_HOLD=point[:n]` (intent, uploaded, created, downloaded) stops the process the n-th time it
reaches that point, for tests that kill it there; never set it otherwise.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from synsym.backends.base import ChatRequest, ChatResponse, TransientError
from synsym.backends.batch_base import OTHERS, BatchBackend, BatchInfo, QueueFull
from synsym.backends.batch_util import client_token, estimate_tokens, split
from synsym.core.errors import BackendError
from synsym.engine.batch_ledger import LOOKBACK_S, OPEN
from synsym.engine.batch_poll import HOLD_ENV, LIVE, BatchPoller, Open, fresh, log
from synsym.engine.cache import ResponseCache
from synsym.engine.events import Events
from synsym.engine.limits import AdaptiveConcurrency
from synsym.engine.structured import reask_messages

__all__ = ["HOLD_ENV", "BatchDispatch", "fresh", "is_reask"]
_HEAD, _TAIL = reask_messages((), "", "\0")[-1][1].split("\0")


class BatchDispatch(BatchPoller):
    """The Dispatch for a `BatchBackend`. Without a cache (no run directory for the ledger, as in `synsym
    probe`) requests go online. Status changes (validating, in_progress n/m, finalizing, downloading) go
    to `events.status` (the run's progress line) and to the `synsym.batch` logger; what a user should know
    afterwards (results gone) goes to `events.note` too."""

    def __init__(
        self, backend: BatchBackend, cache: ResponseCache | None, events: Events | None = None
    ) -> None:
        super().__init__(backend, cache, events)
        self.ceiling = 100_000  # each waiting line holds an engine worker: a batch's worth at least
        self.limiter = AdaptiveConcurrency(self.ceiling)
        self.owner = uuid.uuid4().hex
        self._ready: asyncio.Task[None] | None = None
        self._pending: dict[str, tuple[ChatRequest, list[asyncio.Future[ChatResponse]]]] = {}
        self._side: set[asyncio.Task[None]] = set()  # groups waiting for room in the provider's queue
        self._online_slots: asyncio.Semaphore | None = None
        self._last = 0.0
        LIVE.add(self.owner)

    def summary(self) -> str:
        """Nothing to add at the end of a run: what a user should know went out as notes."""
        return ""

    @property
    def endpoint(self) -> str:
        return self.backend.endpoint

    async def send(self, request: ChatRequest, key: str) -> ChatResponse:
        if self.cache is None or (self.opts.reask == "online" and is_reask(request)):
            if self._online_slots is None:
                self._online_slots = asyncio.Semaphore(self.backend.config.max_concurrency)
            async with self._online_slots:
                return await self.backend.online().complete(request)
        await self._start()
        hit = self.cache.get(key)  # an adopted batch may have brought it since the engine looked
        if hit is not None:
            return hit
        fut: asyncio.Future[ChatResponse] = asyncio.get_running_loop().create_future()
        if key in self._inflight:
            self._waiters.setdefault(key, []).append(fut)
        else:
            self._pending.setdefault(key, (request, []))[1].append(fut)
            self._last = asyncio.get_running_loop().time()
            self._spawn("flush", self._flush_loop)
        try:
            return await fut
        except asyncio.CancelledError:
            for futs in (self._pending.get(key, (request, []))[1], self._waiters.get(key, [])):
                if fut in futs:
                    futs.remove(fut)
            if key in self._pending and not self._pending[key][1]:
                del self._pending[key]
            raise

    def _spawn(self, name: str, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """One flusher and one poller at a time; one that dies of a bug fails every waiting line with it
        instead of leaving them to hang."""
        if name in self._tasks and not self._tasks[name].done():
            return
        task = self._tasks[name] = asyncio.get_running_loop().create_task(work())

        def done(t: asyncio.Task[None]) -> None:
            if not t.cancelled() and (error := t.exception()) is not None:
                waiting = [*self._waiters.values(), *(f for _, f in self._pending.values())]
                for fut in (f for futs in waiting for f in futs if not f.done()):
                    fut.set_exception(fresh(error))

        task.add_done_callback(done)

    async def _start(self) -> None:
        ready = self._ready
        if ready is None or (ready.done() and (ready.cancelled() or ready.exception() is not None)):
            ready = self._ready = asyncio.get_running_loop().create_task(self._reconcile(self.owner))
        await asyncio.shield(ready)

    async def _flush_loop(self) -> None:
        """Send what collected once `collect_s` passed without a new request (at most 10x that since the
        first), split within the provider's limits and the enqueued caps."""
        loop, wait_s, opts = asyncio.get_running_loop(), self.opts.collect_s, self.opts
        while self._pending:
            first = loop.time()
            while len(self._pending) < opts.max_requests_per_batch:
                wait = min(self._last + wait_s, first + 10 * wait_s) - loop.time()
                if wait <= 0:
                    break
                self._say(f"batches: collecting {len(self._pending):,} requests")
                await asyncio.sleep(wait)
            items = sorted(self._pending.items())
            self._pending.clear()
            for key, (_, futs) in items:
                self._inflight[key] = ""
                self._waiters.setdefault(key, []).extend(futs)
            lines = [(key, self.backend.line(key, request)) for key, (request, _) in items]
            per_batch = min(opts.max_requests_per_batch, opts.max_enqueued_requests or 1 << 62)
            limits = (per_batch, opts.max_bytes_per_batch, opts.max_enqueued_tokens)
            for group in split(lines, lambda x: len(x[1]), lambda x: estimate_tokens(x[1]), *limits):
                await self._send_group(group)

    async def _send_group(self, group: list[tuple[str, bytes]]) -> None:
        tokens = sum(estimate_tokens(line) for _, line in group)
        try:
            await self._room(len(group), tokens)
            await self._submit(group, tokens)
        except Exception as exc:  # not the provider's answer: the lines must not hang on it
            self._close([k for k, _ in group], exc)

    async def _room(self, requests: int, tokens: int) -> None:
        """Wait until the open batches leave room under `max_enqueued_tokens` / `max_enqueued_requests`."""
        cap_t, cap_r = self.opts.max_enqueued_tokens, self.opts.max_enqueued_requests

        def full() -> bool:
            t = sum(o.tokens for o in self._open.values()) + tokens
            r = sum(len(o.ids) for o in self._open.values()) + requests
            return bool(cap_t and t > cap_t) or bool(cap_r and r > cap_r)

        while self._open and full():
            self._space.clear()
            await self._space.wait()

    async def _submit(self, group: list[tuple[str, bytes]], tokens: int) -> None:
        assert self.ledger is not None
        ledger, ids = self.ledger, [key for key, _ in group]
        token = client_token(ids, ledger.rounds(ids))
        lines = [line for _, line in group]
        for prior in ledger.rows(f"token = ? AND {OPEN}", (token,)):  # a create that failed may have made it
            batch = Open(prior["batch_id"], ids, tokens, lines=lines, proven=prior["proof"] != "size")
            if batch.batch_id is None:
                listing = await self.backend.recent(prior["created"] - LOOKBACK_S)
                found = self._locate(listing, prior)
                if found is None:
                    continue
                if isinstance(found, BatchInfo):
                    self._adopt(token, found, prior, batch)  # else followed without a batch: _relocate waits
            ledger.update(token, owner=self.owner)
            self._track(token, batch)
            return
        ledger.intent(token, self.backend, ids, self.owner)
        self._hold("intent")
        self._say(f"batches: sending {len(ids):,} requests")
        try:
            file_id = await self.backend.upload(b"".join(line + b"\n" for line in lines))
        except TransientError as exc:  # nothing was created: the lines go again
            ledger.update(token, detail=str(exc))
            self._close(ids, exc)
            return
        except Exception as exc:
            self._refused(token, ids, exc)
            return
        if file_id is not None:
            ledger.update(token, state="uploaded", file_id=file_id)
            self._hold("uploaded")
        await self._create(token, Open(None, ids, tokens, lines=lines, file_id=file_id))

    async def _create(self, token: str, batch: Open) -> None:
        """Create the batch. Answered, it is followed; refused for a full queue, its lines wait for room;
        unanswered, it stays open without an id, for `_relocate` to find or create again."""
        assert self.ledger is not None and batch.lines is not None
        self.ledger.update(token, attempted=time.time())
        try:
            created = await self.backend.create(batch.lines, batch.file_id, token)
        except QueueFull as exc:
            self.ledger.update(token, state="refused", detail=f"the provider's queue is full: {exc}")
            self._open.pop(token, None)
            self._requeue(batch, exc)
            return
        except TransientError as exc:  # it may exist: the lines stay with this row until that is known
            self.ledger.update(token, detail=f"create unanswered: {exc}")
            log.info("batch %s: create unanswered (%s); looking for it before anything else", token, exc)
            batch.batch_id = None
            self._track(token, batch)
            return
        except Exception as exc:
            self._open.pop(token, None)
            self._refused(token, batch.ids, exc)
            return
        self._hold("created")
        self.ledger.update(token, state="created", batch_id=created.id, status=created.status, proof="reply")
        batch.batch_id, batch.proven = created.id, True
        self._track(token, batch)

    def _refused(self, token: str, ids: list[str], exc: Exception) -> None:
        """The provider refused the upload or create: the lines fail, or only the one it names."""
        assert self.ledger is not None
        self.ledger.update(token, state="failed", detail=str(exc))
        pos = self.backend.refused_line(exc, len(ids))
        if pos is None:
            self._close(ids, exc)
        else:  # one line refused: it fails, the others go again
            self._close([ids[pos]], BackendError(f"the provider refused this line: {exc}"))
            self._close([i for i in ids if i != ids[pos]], TransientError("server_error", OTHERS))

    def _requeue(self, batch: Open, why: QueueFull) -> None:
        """The provider's queue is full: wait for one of this run's batches to end (with none open, for
        the provider's retry-after or a poll interval, and then in halves, in case this batch alone is
        over the limit), then send the lines again; their retries are not spent."""
        assert batch.lines is not None
        group = list(zip(batch.ids, batch.lines, strict=True))
        for key in batch.ids:
            self._inflight[key] = ""
        others = bool(self._open)
        self._say(f"batches: the provider's queue is full; {len(group):,} requests wait for room")
        log.info("queue full (%s); %d requests wait", why, len(group))

        async def later() -> None:
            if others:
                self._space.clear()
                await self._space.wait()
            else:
                await asyncio.sleep(max(why.retry_after or 0.0, self.opts.poll_interval_s))
            half = len(group) // 2 if not others and len(group) > 1 else len(group)
            for part in (group[:half], group[half:]):
                if part:
                    await self._send_group(part)

        task = asyncio.get_running_loop().create_task(later())
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    async def aclose(self) -> None:
        tasks = [t for t in (*self._tasks.values(), *self._side, self._ready) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for futs in [*self._waiters.values(), *(f for _, f in self._pending.values())]:
            for fut in futs:
                fut.cancel()
        await self.backend.aclose()
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None
        LIVE.discard(self.owner)
        self._say("")


def is_reask(request: ChatRequest) -> bool:
    """Whether `request` is the engine's re-ask after an answer failed its schema."""
    m = request.messages
    return (
        len(m) >= 3
        and m[-2][0] == "assistant"
        and m[-1][0] == "user"
        and m[-1][1].startswith(_HEAD)
        and m[-1][1].endswith(_TAIL)
    )
