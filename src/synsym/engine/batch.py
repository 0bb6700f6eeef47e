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
- a line in a batch that is still open is never sent again: its `send` waits for that batch.
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
import json
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from synsym.backends.base import ChatRequest, ChatResponse, EndpointError, TransientError
from synsym.backends.batch_base import OTHERS, BatchBackend, BatchInfo, client_token, estimate_tokens, split
from synsym.core.errors import BackendError
from synsym.engine.batch_ledger import LEDGER, LOOKBACK_S, OPEN, Ledger
from synsym.engine.cache import ResponseCache
from synsym.engine.limits import AdaptiveConcurrency
from synsym.engine.structured import reask_messages
from synsym.engine.usage import cost_of

log = logging.getLogger("synsym.batch")
HOLD_ENV = "SYNSYM_BATCH_HOLD"
_LIVE: set[str] = set()  # ledger owners alive in this process: their rows are theirs, not reconciled
_HEAD, _TAIL = reask_messages((), "", "\0")[-1][1].split("\0")


@dataclass
class _Open:
    batch_id: str
    ids: list[str]
    tokens: int = 0  # estimated prompt tokens, for max_enqueued_tokens
    info: BatchInfo | None = None


class BatchDispatch:
    """The Dispatch for a `BatchBackend`. Without a cache (no run directory for the ledger, as in `synsym
    probe`) requests go online. Status changes (validating, in_progress n/m, finalizing, downloading) go
    to `on_status` (for the progress display's `status`, where the engine's owner connects it) and to the
    `synsym.batch` logger."""

    def __init__(self, backend: BatchBackend, cache: ResponseCache | None) -> None:
        self.backend, self.cache, self.opts = backend, cache, backend.options
        self.ceiling = 100_000  # each waiting line holds an engine worker: a batch's worth at least
        self.limiter = AdaptiveConcurrency(self.ceiling)
        self.on_status: Callable[[str], None] | None = None
        self.status, self.owner = "", uuid.uuid4().hex
        self.ledger: Ledger | None = None
        self._ready: asyncio.Task[None] | None = None
        self._pending: dict[str, tuple[ChatRequest, list[asyncio.Future[ChatResponse]]]] = {}
        self._waiters: dict[str, list[asyncio.Future[ChatResponse]]] = {}
        self._inflight: dict[str, str] = {}  # custom_id -> the token of its batch ("" while it is sent)
        self._open: dict[str, _Open] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._space = asyncio.Event()
        self._online_slots: asyncio.Semaphore | None = None
        self._last = 0.0
        self._holds: Counter[str] = Counter()
        _LIVE.add(self.owner)

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
            ready = self._ready = asyncio.get_running_loop().create_task(self._reconcile())
        await asyncio.shield(ready)

    async def _reconcile(self) -> None:
        """Adopt what earlier runs left unfinished (see the module docstring)."""
        assert self.cache is not None
        ledger = self.ledger = self.ledger or Ledger(self.cache.path.parent / LEDGER)
        rows = [
            r
            for r in ledger.rows(f"{OPEN} AND endpoint = ?", (self.backend.endpoint,))
            if r["owner"] not in _LIVE
        ]
        listing: list[BatchInfo] | None = None
        for row in rows:
            token, batch_id = row["token"], row["batch_id"]
            if batch_id is None:
                if listing is None:
                    self._say(f"batches: looking for {len(rows)} an earlier run left")
                    listing = await self.backend.recent(min(r["created"] for r in rows) - LOOKBACK_S)
                found = self.backend.find(listing, row, ledger.claimed())
                if found is None:
                    ledger.update(
                        token, row["updated"], state="abandoned", detail="never created: no batch matches"
                    )
                    continue
                batch_id = found.id
            ledger.update(token, state="created", batch_id=batch_id, owner=self.owner)
            self._track(token, batch_id, ledger.lines(token))

    def _track(self, token: str, batch_id: str, ids: list[str], tokens: int = 0) -> None:
        self._open[token] = _Open(batch_id, ids, tokens)
        self._inflight.update(dict.fromkeys(ids, token))
        self._spawn("poll", self._poll_loop)

    async def _flush_loop(self) -> None:
        """Send what collected once `collect_s` passed without a new request (at most 10x that since the
        first), split within the provider's limits and the enqueued-token cap."""
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
            limits = (opts.max_requests_per_batch, opts.max_bytes_per_batch, opts.max_enqueued_tokens)
            for group in split(lines, lambda x: len(x[1]), lambda x: estimate_tokens(x[1]), *limits):
                tokens = sum(estimate_tokens(line) for _, line in group)
                cap = opts.max_enqueued_tokens
                while cap and self._open and sum(o.tokens for o in self._open.values()) + tokens > cap:
                    self._space.clear()
                    await self._space.wait()
                try:
                    await self._submit(group, tokens)
                except Exception as exc:  # not the provider's answer: the lines must not hang on it
                    self._close([k for k, _ in group], exc)

    async def _submit(self, group: list[tuple[str, bytes]], tokens: int) -> None:
        assert self.ledger is not None
        ledger, ids = self.ledger, [key for key, _ in group]
        token = client_token(ids, ledger.rounds(ids))
        for prior in ledger.rows(f"token = ? AND {OPEN}", (token,)):  # a create that failed may have made it
            listing = await self.backend.recent(prior["created"] - LOOKBACK_S)
            found = self.backend.find(listing, prior, ledger.claimed())
            if found is not None:
                ledger.update(token, state="created", batch_id=found.id, owner=self.owner)
                self._track(token, found.id, ledger.lines(token), tokens)
                return
        ledger.intent(token, self.backend, ids, self.owner)
        self._hold("intent")
        self._say(f"batches: sending {len(ids):,} requests")
        try:
            file_id = await self.backend.upload(b"".join(line + b"\n" for _, line in group))
            if file_id is not None:
                ledger.update(token, state="uploaded", file_id=file_id)
                self._hold("uploaded")
            created = await self.backend.create([line for _, line in group], file_id, token)
            self._hold("created")
            ledger.update(token, state="created", batch_id=created.id, status=created.status)
        except TransientError as exc:  # it may exist: the next submit of these lines, or a rerun, looks
            ledger.update(token, detail=str(exc))
            self._close(ids, exc)
            return
        except Exception as exc:
            ledger.update(token, state="failed", detail=str(exc))
            pos = self.backend.refused_line(exc, len(ids))
            if pos is None:
                self._close(ids, exc)
            else:  # one line refused: it fails, the others go again
                self._close([ids[pos]], BackendError(f"the provider refused this line: {exc}"))
                self._close([i for i in ids if i != ids[pos]], TransientError("server_error", OTHERS))
            return
        self._track(token, created.id, ids, tokens)

    async def _poll_loop(self) -> None:
        assert self.ledger is not None
        while self._open:
            for token, batch in list(self._open.items()):
                try:
                    info = await self.backend.get(batch.batch_id)
                except TransientError as exc:
                    log.info("batch %s: %s; polling on", batch.batch_id, exc)
                    continue
                except EndpointError as exc:  # gone (404): its lines go again; else the engine stops
                    self.ledger.update(token, state="failed", detail=str(exc))
                    self._open.pop(token)
                    gone = TransientError("server_error", f"the batch {batch.batch_id} is gone: {exc}")
                    self._close(batch.ids, gone if exc.kind == "not_found" else exc)
                    continue
                batch.info = info
                counts = json.dumps({"total": info.total, "done": info.done, "failed": info.failed})
                self.ledger.update(token, status=info.status, counts=counts)
                if info.ended:
                    await self._collect(token, batch, info)
            self._show()
            if self._open:
                await asyncio.sleep(self.opts.poll_interval_s)

    async def _collect(self, token: str, batch: _Open, info: BatchInfo) -> None:
        """Download an ended batch, put each answer in the cache as it is read, hand every line its answer
        or error, and mark the batch collected once the cache holds it all."""
        assert self.ledger is not None and self.cache is not None
        self._say(f"batches: downloading {info.id} ({info.status})")
        try:
            raw = await self.backend.download(info) if info.results else []
        except TransientError as exc:
            log.info("batch %s: %s; downloading again at the next poll", info.id, exc)
            return
        self._hold("downloaded")
        outcomes, malformed = self.backend.outcomes(info, raw, batch.ids)
        answers = [(cid, o) for cid, o in outcomes.items() if isinstance(o, ChatResponse)]
        for cid, answer in answers:
            self.cache.put(cid, answer)
        prompt = sum(a.usage.prompt_tokens for _, a in answers)
        completion = sum(a.usage.completion_tokens for _, a in answers)
        self._open.pop(token)
        self._close(batch.ids, TransientError("bad_response", "no outcome"), outcomes)
        await asyncio.to_thread(self.cache.flush)
        detail = f"{len(answers)} answered, {len(batch.ids) - len(answers)} not"
        cost = cost_of(self.backend.config.prices, prompt, completion)
        done = {"prompt_tokens": prompt, "completion_tokens": completion, "cost": cost}
        self.ledger.update(
            token, state="collected", detail=detail + f", {malformed} malformed" * bool(malformed), **done
        )

    def _close(self, ids: list[str], default: Exception, outcomes: dict[str, Any] | None = None) -> None:
        """Hand each line of a batch (or of a failed submission) its outcome."""
        for cid in ids:
            self._inflight.pop(cid, None)
            outcome = (outcomes or {}).get(cid, default)
            for fut in self._waiters.pop(cid, []):
                if not fut.done():
                    fut.set_exception(fresh(outcome)) if isinstance(outcome, Exception) else fut.set_result(
                        outcome
                    )
        self._space.set()

    def _show(self) -> None:
        figures: dict[str, Counter[str]] = {}
        for b in self._open.values():
            status = b.info.status if b.info else "submitted"
            done, total = (b.info.done, b.info.total) if b.info else (0, 0)
            figures.setdefault(status, Counter()).update(n=1, done=done, total=total or len(b.ids))
        parts = [
            f"{s} {c['done']:,}/{c['total']:,}" + (f" ({c['n']} batches)" if c["n"] > 1 else "")
            for s, c in figures.items()
        ]
        self._say("batches: " + ", ".join(parts) if parts else "")

    def _say(self, text: str) -> None:
        if text != self.status:
            self.status = text
            if text:
                log.info(text)
            if self.on_status is not None:
                self.on_status(text)

    def _hold(self, point: str) -> None:
        name, _, nth = os.environ.get(HOLD_ENV, "").partition(":")
        if name == point:
            self._holds[point] += 1
            if self._holds[point] == int(nth or 1):
                log.warning("held at %s (%s is set): waiting to be killed", point, HOLD_ENV)
                time.sleep(3600)

    async def aclose(self) -> None:
        tasks = [t for t in (*self._tasks.values(), self._ready) if t is not None]
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
        _LIVE.discard(self.owner)
        self._say("")


def fresh(exc: BaseException) -> BaseException:
    """A copy of `exc` for one more waiter: one instance raised in many tasks piles up their tracebacks."""
    new = type(exc).__new__(type(exc))
    new.args = exc.args
    new.__dict__.update(exc.__dict__)
    return new


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
