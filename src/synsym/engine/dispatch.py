"""How one attempt at one request reaches a model: the seam between the engine (queue, cache, retries,
re-asks, budget, stops) and where requests go. `Direct` sends to one backend under adaptive concurrency
and the per-minute ceilings; other dispatches (several endpoints, provider batches, workers on other
machines) implement the same two methods, so the engine and every stage stay as they are."""

from __future__ import annotations

import time
from typing import Protocol

from synsym.backends.base import Backend, ChatRequest, ChatResponse, TransientError
from synsym.engine.cache import ResponseCache
from synsym.engine.events import Events
from synsym.engine.limits import AdaptiveConcurrency, TokenBucket

# a timeout is an overload too: a server that queues requests (llama-cpp-python's) answers none with 429
OVERLOAD_KINDS = frozenset({"rate_limit", "overloaded", "timeout"})


class Dispatch(Protocol):
    ceiling: int  # the most requests it can have in flight: the engine runs that many workers
    limiter: AdaptiveConcurrency  # the limit in force now (several endpoints: their sum)

    @property
    def endpoint(self) -> str:
        """Where requests go, for messages."""

    async def send(self, request: ChatRequest, key: str) -> ChatResponse:
        """One attempt at `request` (whose cache key is `key`: a batch line's custom_id): an answer, or
        TransientError (worth a retry), EndpointError or BackendError."""

    async def aclose(self) -> None: ...

    def summary(self) -> str:
        """One line for the end of a run (several endpoints: each one's answers and state); '' for none."""


class Direct:
    """One backend: at most `max_concurrency` requests in flight (adapting below it on overload, a
    timeout, or answers slowed by a queue at the server), and the requests- and tokens-per-minute
    buckets."""

    def __init__(self, backend: Backend) -> None:
        cfg = backend.config
        self.backend = backend
        self.ceiling = min(cfg.max_concurrency, backend.max_parallel or cfg.max_concurrency)
        self.limiter = AdaptiveConcurrency(self.ceiling)
        self.rpm = TokenBucket(cfg.requests_per_minute) if cfg.requests_per_minute else None
        self.tpm = TokenBucket(cfg.tokens_per_minute) if cfg.tokens_per_minute else None

    @property
    def endpoint(self) -> str:
        return self.backend.endpoint

    async def send(self, request: ChatRequest, key: str) -> ChatResponse:
        await self.limiter.acquire()
        try:
            if self.rpm:
                await self.rpm.take()
            if self.tpm:
                prompt = sum(len(content) for _, content in request.messages) / 4
                await self.tpm.take(prompt + request.max_tokens)
            began = time.monotonic()
            response = await self.backend.complete(request)
        except TransientError as err:
            if err.kind in OVERLOAD_KINDS:
                self.limiter.on_overload()
            raise
        finally:
            self.limiter.release()
        self.limiter.on_success(time.monotonic() - began, response.usage.completion_tokens, began)
        return response

    async def aclose(self) -> None:
        await self.backend.aclose()

    def summary(self) -> str:
        return ""


def make_dispatch(backend: Backend, cache: ResponseCache | None, events: Events | None = None) -> Dispatch:
    """The dispatch a backend needs in this process: provider batches for a batch backend
    (`BatchDispatch`, keeping its ledger beside the cache); several endpoints spread by free capacity
    (`Spread`); otherwise one request at a time to its one endpoint (`Direct`). `events` gets their status
    lines and notes. (`synsym.engine.build.dispatch_for` adds workers an executor runs elsewhere.)"""
    from synsym.backends.batch_base import BatchBackend

    if isinstance(backend, BatchBackend):
        from synsym.engine.batch import BatchDispatch

        return BatchDispatch(backend, cache, events)
    endpoints = backend.endpoints()
    if len(endpoints) > 1:  # several endpoints of one model: spread over them, each its own Direct
        from synsym.engine.endpoints import Spread

        return Spread([Direct(b) for b in endpoints], events=events)
    return Direct(backend)
