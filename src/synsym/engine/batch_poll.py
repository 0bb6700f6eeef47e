"""The half of `BatchDispatch` (engine.batch) that follows batches once they are sent: it adopts what an
earlier run left, polls, looks for a batch whose create went unanswered, downloads, checks that a batch
adopted on size alone is this run's, and hands each line its answer or error.

Each failure touches only its own batch: a batch whose results the provider deleted (OpenAI keeps
them 30 days, Anthropic 29) is marked `gone` and only its lines go again, with a note in the run's
notes; a batch that turns out to be another's is recorded as such and its row looks again.
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from synsym.backends.base import ChatResponse, EndpointError, TransientError
from synsym.backends.batch_base import BatchBackend, BatchInfo, QueueFull
from synsym.core.errors import BackendError
from synsym.engine.batch_ledger import LOOKBACK_S, OPEN, Ledger
from synsym.engine.cache import ResponseCache
from synsym.engine.events import Events
from synsym.engine.usage import cost_of

log = logging.getLogger("synsym.batch")
HOLD_ENV = "SYNSYM_BATCH_HOLD"
HELD = "held"  # _locate: another row holds what may be this row's batch
LIVE: set[str] = set()  # ledger owners alive in this process: their rows are theirs, not reconciled


@dataclass
class Open:
    """A batch this dispatch follows. `batch_id` is None while a create that went unanswered is looked
    for; `lines` are kept while the batch may need creating again (None for one a rerun adopted)."""

    batch_id: str | None
    ids: list[str]
    tokens: int = 0  # estimated prompt tokens, for max_enqueued_tokens
    info: BatchInfo | None = None
    lines: list[bytes] | None = None
    file_id: str | None = None
    proven: bool = True  # False: adopted on size alone; its results must carry exactly `ids`


class BatchPoller(abc.ABC):
    """State shared by both halves, and the polling half; `BatchDispatch` adds sending."""

    def __init__(
        self, backend: BatchBackend, cache: ResponseCache | None, events: Events | None = None
    ) -> None:
        self.backend, self.cache = backend, cache
        self.opts: Any = backend.options  # the provider's BatchOptions subclass
        self.events = events or Events()  # status lines and notes, to whoever runs the engine
        self.notes: list[str] = []
        self.status = ""
        self.ledger: Ledger | None = None
        self._waiters: dict[str, list[asyncio.Future[ChatResponse]]] = {}
        self._inflight: dict[str, str] = {}  # custom_id -> the token of its batch ("" while it is sent)
        self._open: dict[str, Open] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._space = asyncio.Event()
        self._holds: Counter[str] = Counter()

    @abc.abstractmethod
    def _spawn(self, name: str, work: Callable[[], Coroutine[Any, Any, None]]) -> None: ...

    @abc.abstractmethod
    async def _create(self, token: str, batch: Open) -> None:
        """Create `batch` (again) under `token`; see BatchDispatch."""

    @abc.abstractmethod
    def _requeue(self, batch: Open, why: QueueFull) -> None:
        """Send `batch`'s lines again once the provider's queue has room; see BatchDispatch."""

    async def _reconcile(self, owner: str) -> None:
        """Adopt what earlier runs left unfinished (see engine.batch's docstring)."""
        assert self.cache is not None
        ledger = self.ledger = self.ledger or Ledger(self.cache.path.parent / "batches.sqlite")
        rows = [
            r
            for r in ledger.rows(f"{OPEN} AND endpoint = ?", (self.backend.endpoint,))
            if r["owner"] not in LIVE
        ]
        listing: list[BatchInfo] | None = None
        for row in rows:
            token = row["token"]
            batch = Open(row["batch_id"], ledger.lines(token), proven=row["proof"] != "size")
            if batch.batch_id is None:
                if listing is None:
                    self._say(f"batches: looking for {len(rows)} an earlier run left")
                    listing = await self.backend.recent(min(r["created"] for r in rows) - LOOKBACK_S)
                found = self._locate(listing, row)
                if found is None:
                    ledger.update(
                        token, row["updated"], state="abandoned", detail="never created: no batch matches"
                    )
                    continue
                if isinstance(found, BatchInfo):
                    self._adopt(token, found, row, batch)  # else followed without a batch: _relocate waits
            ledger.update(token, state="created" if batch.batch_id else row["state"], owner=owner)
            self._track(token, batch)

    def _locate(self, listing: list[BatchInfo], row: dict[str, Any]) -> BatchInfo | str | None:
        """The unclaimed batch that may be `row`'s; HELD when the only one that may be is held by another
        row on size alone (its results will say whose it is); None when there is none: never created."""
        assert self.ledger is not None
        found = self.backend.find(listing, row, self.ledger.claimed())
        if found is not None:
            return found
        return HELD if self.backend.find(listing, row, self.ledger.claimed(proven=True)) else None

    def _adopt(self, token: str, found: BatchInfo, row: dict[str, Any], batch: Open) -> None:
        """Take `found` as the batch of ledger row `token`: proven by its token or file, or (Anthropic)
        provisionally, by size and time."""
        assert self.ledger is not None
        batch.proven = self.backend.proves(found, row)
        proof = "token" if batch.proven else "size"
        self.ledger.update(token, state="created", batch_id=found.id, proof=proof)
        batch.batch_id = found.id

    def _track(self, token: str, batch: Open) -> None:
        self._open[token] = batch
        self._inflight.update(dict.fromkeys(batch.ids, token))
        self._spawn("poll", self._poll_loop)

    async def _poll_loop(self) -> None:
        while self._open:
            for token, batch in list(self._open.items()):
                if self._open.get(token) is batch:
                    await self._poll_one(token, batch)
            self._show()
            if self._open:
                await asyncio.sleep(self.opts.poll_interval_s)

    async def _poll_one(self, token: str, batch: Open) -> None:
        assert self.ledger is not None
        try:
            if batch.batch_id is None:
                await self._relocate(token, batch)
                return
            info = await self.backend.get(batch.batch_id)
        except TransientError as exc:
            log.info("batch %s: %s; polling on", batch.batch_id or token, exc)
            return
        except EndpointError as exc:  # gone (404): its lines go again; else the engine stops
            self.ledger.update(token, state="failed", detail=str(exc))
            self._open.pop(token)
            gone = TransientError("server_error", f"the batch {batch.batch_id} is gone: {exc}")
            self._close(batch.ids, gone if exc.kind == "not_found" else exc)
            return
        batch.info = info
        counts = json.dumps({"total": info.total, "done": info.done, "failed": info.failed})
        self.ledger.update(token, status=info.status, counts=counts)
        if info.ended:
            await self._collect(token, batch, info)

    async def _relocate(self, token: str, batch: Open) -> None:
        """A create went unanswered (or its batch proved another's): look for the batch it may have
        made; found, it is followed; proven absent, it is created again under the same token and file.
        Until then its lines stay with this row, so they cannot go out in a second batch."""
        assert self.ledger is not None
        row = self.ledger.row(token)
        listing = await self.backend.recent(row["created"] - LOOKBACK_S)
        found = self._locate(listing, row)
        if isinstance(found, BatchInfo):
            self._adopt(token, found, row, batch)
            log.info("batch %s: found again for %s", found.id, token)
            return
        if found == HELD:
            return
        if batch.lines is None:  # adopted by a rerun, then proven another's: nothing to create it from
            self.ledger.update(token, state="abandoned", detail="never created: no batch matches")
            self._open.pop(token)
            self._close(batch.ids, TransientError("server_error", "its batch was never created"))
            return
        await self._create(token, batch)

    async def _collect(self, token: str, batch: Open, info: BatchInfo) -> None:
        """Download an ended batch, put each answer in the cache as it is read, hand every line its answer
        or error, and mark the batch collected once the cache holds it all."""
        assert self.ledger is not None and self.cache is not None
        self._say(f"batches: downloading {info.id} ({info.status})")
        if info.results_gone:
            self._gone(token, batch, "its results are past the provider's retention (or archived)")
            return
        try:
            raw = await self.backend.download(info) if info.results else []
        except TransientError as exc:
            log.info("batch %s: %s; downloading again at the next poll", info.id, exc)
            return
        except BackendError as exc:  # 404/410: deleted at the provider; auth errors stop the run
            if isinstance(exc, EndpointError) and exc.kind != "not_found":
                raise
            self._gone(token, batch, str(exc))
            return
        self._hold("downloaded")
        if not batch.proven and not self._verify(token, batch, info, raw):
            return
        refused = self.backend.failure(info)
        if isinstance(refused, QueueFull) and batch.lines is not None:  # OpenAI: token_limit_exceeded
            self.ledger.update(token, state="failed", detail=str(refused))
            self._open.pop(token)
            self._requeue(batch, refused)
            return
        await self._answer(token, batch, info, raw)

    async def _answer(self, token: str, batch: Open, info: BatchInfo, raw: list[bytes]) -> None:
        assert self.ledger is not None and self.cache is not None
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

    def _verify(self, token: str, batch: Open, info: BatchInfo, raw: list[bytes]) -> bool:
        """Whether a batch adopted on size alone is this row's: its results carry exactly its lines. If
        not, it goes to the row of this run whose lines it carries (two unanswered creates of one size),
        or is recorded as another client's; either way this row looks again."""
        assert self.ledger is not None
        seen: set[str] = set()
        for line in raw:
            try:
                seen.add(self.backend.parse(line)[0])
            except ValueError:
                continue
        if seen and seen == set(batch.ids):
            self.ledger.update(token, proof="results")
            batch.proven = True
            return True
        owner = self.ledger.owner_of(seen, info.id) if seen else None
        self.ledger.release(info.id, token, foreign=owner is None)
        batch.batch_id, batch.info, batch.proven = None, None, True
        if owner is not None:
            self.ledger.update(owner, state="created", batch_id=info.id, proof="results")
            theirs = self._open.get(owner)
            if theirs is not None:
                theirs.batch_id, theirs.proven = info.id, True
        log.warning("batch %s is not %s's (%s): looking again", info.id, token, owner or "another client's")
        return False

    def _gone(self, token: str, batch: Open, why: str) -> None:
        """The provider deleted this batch's results: only its lines go again, and the run says so."""
        assert self.ledger is not None
        self.ledger.update(token, state="gone", detail=why)
        self._open.pop(token)
        self._note(
            f"batch {batch.batch_id}: its results are gone at the provider ({why}); "
            f"its {len(batch.ids):,} requests were sent again"
        )
        self._close(batch.ids, TransientError("server_error", f"the results of {batch.batch_id} are gone"))

    def _close(self, ids: list[str], default: Exception, outcomes: dict[str, Any] | None = None) -> None:
        """Hand each line of a batch (or of a failed submission) its outcome."""
        for cid in ids:
            self._inflight.pop(cid, None)
            outcome = (outcomes or {}).get(cid, default)
            for fut in self._waiters.pop(cid, []):
                if fut.done():
                    continue
                if isinstance(outcome, BaseException):
                    fut.set_exception(fresh(outcome))
                else:
                    fut.set_result(outcome)
        self._space.set()

    def _show(self) -> None:
        figures: dict[str, Counter[str]] = {}
        for b in self._open.values():
            status = b.info.status if b.info else "submitted" if b.batch_id else "looking for its batch"
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
            self.events.status(text)

    def _note(self, text: str) -> None:
        log.warning(text)
        self.notes.append(text)
        self.events.note(text)

    def _hold(self, point: str) -> None:
        name, _, nth = os.environ.get(HOLD_ENV, "").partition(":")
        if name == point:
            self._holds[point] += 1
            if self._holds[point] == int(nth or 1):
                log.warning("held at %s (%s is set): waiting to be killed", point, HOLD_ENV)
                time.sleep(3600)


def fresh(exc: BaseException) -> BaseException:
    """A copy of `exc` for one more waiter: one instance raised in many tasks piles up their tracebacks."""
    new = type(exc).__new__(type(exc))
    new.args = exc.args
    new.__dict__.update(exc.__dict__)
    return new
