"""The request engine: turns many `Task`s into `Result`s as fast as the server allows.

Tasks are submitted at any time, from any number of callers (the pipeline's stages submit theirs as their
inputs arrive), into one queue served by up to `max_concurrency` workers, so every stage's requests share
one concurrency limit and none waits for another's slowest answer. Per task: look in the cache; otherwise
wait for a concurrency slot and the per-minute buckets, reserve the worst-case cost, send, retry transient
failures with backoff (honouring Retry-After), cache the answer the moment it arrives, validate it, and
re-ask with the validation error a bounded number of times; a structured answer cut off at `max_tokens` is
asked once more with twice the limit, never again at the same one. Every task ends with a Result: an
answer, or a failure class and reason. None is dropped.

The engine stops early, instead of failing every request alike, when the endpoint cannot be used: after
`stop_after_failures` requests in a row fail for a reason waiting cannot fix, or when more than
`stop_failure_share` of the last `stop_window` requests failed (in transport, or with an answer that never
became valid). `stopped` then says why; what was not sent ends as a failure of that class, and everything
answered so far stays in the cache.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import BaseModel

from synsym.backends.base import Backend, ChatRequest, ChatResponse, EndpointError, TransientError, Usage
from synsym.core.columns import ENGINE_FAILURES, DropClass
from synsym.core.errors import BackendError, UserError
from synsym.engine.cache import ResponseCache, request_key
from synsym.engine.dispatch import Dispatch, make_dispatch
from synsym.engine.limits import AdaptiveConcurrency
from synsym.engine.progress import RunProgress
from synsym.engine.structured import InvalidAnswer, parse_answer, reask_messages
from synsym.engine.usage import Budget, UsageMeter, cost_of

FAILURE_CLASSES = tuple(d.value for d in DropClass if d in ENGINE_FAILURES)
# transport failures that count towards `stop_failure_share` (a model's refusals do not: they are its choice)
_TRANSPORT_FAILURES = frozenset(
    {"rate_limit", "overloaded", "server_error", "timeout", "connection", "bad_response", "client_error"}
)
# answers that never became valid (after every re-ask) count too: a model that cannot write the JSON asked
# for fails every request alike, and a run of them is no more use than a dead endpoint's
_COUNTED_FAILURES = _TRANSPORT_FAILURES | {"invalid_output", "truncated"}
_UNREACHABLE_GRACE_S = 30.0  # an endpoint that answered this recently may be restarting: keep retrying


@dataclass(frozen=True, slots=True)
class Task:
    """One structured (or plain-text) question. `sample` tells apart repeated draws of the same prompt;
    `template` is the prompt template's version hash; both are part of the cache key. `payload` is what
    the caller makes of the answer (a row's metadata): it travels with the task and is not sent. `check`
    validates an answer beyond its schema (raise `InvalidAnswer` with what to fix): it is re-asked the
    same way."""

    id: str
    request: ChatRequest
    schema: type[BaseModel] | None = None
    sample: int = 0
    template: str = ""
    payload: Any = None
    check: Callable[[BaseModel], None] | None = None


@dataclass(slots=True)
class Result:
    task: Task
    key: str  # cache key of the first request: the row's provenance
    value: BaseModel | None = None
    text: str | None = None  # the last raw answer, also kept for failures
    failure: str | None = None  # one of FAILURE_CLASSES
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    calls: int = 0  # paid calls this run (0 when fully answered from cache)
    cached: bool = False  # answered from the cache without a call
    finish_reason: str | None = None  # the last answer's ("length": a plain-text answer cut at max_tokens)

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class StopReason:
    """Why the engine stopped sending: the failure class, where requests went, and what happened."""

    failure: str
    endpoint: str
    message: str


class _Failed(Exception):
    def __init__(self, failure: str, error: str) -> None:
        super().__init__(error)
        self.failure = failure


_Item = tuple[Task, str, "ChatResponse | None", "asyncio.Future[Result]"]


class Engine:
    """Schedules tasks against one backend. Reuse one engine for a run: the meter accumulates."""

    def __init__(
        self,
        backend: Backend,
        cache: ResponseCache | None = None,
        *,
        max_cost: float | None = None,
        progress: bool | None = None,
        rng: random.Random | None = None,
        dispatch: Dispatch | None = None,
    ) -> None:
        cfg = backend.config
        self.backend = backend
        self.dispatch: Dispatch = dispatch or make_dispatch(backend, cache)
        self.cache = cache
        self.meter = UsageMeter()
        self.budget = Budget(max_cost, self.meter)
        self.progress = progress
        self.stopped: StopReason | None = None
        self._identity = backend.identity()
        self._rng = rng or random.Random()
        self._queue: deque[_Item] = deque()
        self._workers = 0
        self._running: set[asyncio.Task[None]] = set()
        self._strikes = 0  # endpoint failures in a row
        self._last_success: float | None = None
        self._recent: deque[bool] = deque(maxlen=cfg.stop_window)  # True: a failure that counts
        self.on_result: Callable[[Result], None] | None = None

    @property
    def limiter(self) -> AdaptiveConcurrency:
        """The concurrency limit in force now."""
        return self.dispatch.limiter

    def run_sync(self, tasks: Sequence[Task], label: str = "requests") -> list[Result]:
        """Run tasks from synchronous code; closes the backend's connections afterwards."""

        async def go() -> list[Result]:
            try:
                return await self.run(tasks, label=label)
            finally:
                await self.aclose()

        return asyncio.run(go())

    async def run(
        self,
        tasks: Sequence[Task],
        label: str = "requests",
        on_result: Callable[[Result], None] | None = None,
    ) -> list[Result]:
        """Answer every task; results come in task order, each also passed to `on_result` as it ends."""
        with RunProgress([self.meter], self.progress) as progress:
            bar = progress.bar(label, len(tasks))

            def done(future: asyncio.Future[Result]) -> None:
                if not future.cancelled() and future.exception() is None:
                    bar.advance(future.result().cached)
                    if on_result:
                        on_result(future.result())

            futures = self.submit(tasks)
            for future in futures:
                future.add_done_callback(done)
            return list(await asyncio.gather(*futures))

    def submit(self, tasks: Sequence[Task]) -> list[asyncio.Future[Result]]:
        """Queue tasks behind those already queued; each future ends with the task's Result. Call from
        inside the running event loop; the engine starts workers as needed and they stop when idle."""
        loop = asyncio.get_running_loop()
        keys = [self.key(t, t.request) for t in tasks]
        cached = self.cache.get_many(keys) if self.cache is not None and tasks else {}
        futures: list[asyncio.Future[Result]] = []
        for task, key in zip(tasks, keys, strict=True):
            future: asyncio.Future[Result] = loop.create_future()
            self._queue.append((task, key, cached.get(key), future))
            futures.append(future)
        for _ in range(min(self.dispatch.ceiling - self._workers, len(self._queue))):
            self._workers += 1
            worker = loop.create_task(self._work())
            self._running.add(worker)  # a task nobody references can be garbage-collected mid-run
            worker.add_done_callback(self._running.discard)
        return futures

    def key(self, task: Task, request: ChatRequest) -> str:
        return request_key(self._identity, request.as_dict(), task.sample, task.template)

    async def _work(self) -> None:
        try:
            while self._queue:
                task, key, cached, future = self._queue.popleft()
                if future.done():  # cancelled by its caller
                    continue
                try:
                    result = await self._answer(task, key, cached)
                except asyncio.CancelledError:
                    future.cancel()
                    raise
                except BaseException as exc:  # a bug: the caller sees it, not a silent hang
                    future.set_exception(exc)
                    if isinstance(exc, UserError):  # the dispatch's word that the config cannot work (a
                        future.exception()  # batch API the endpoint lacks), given to every waiting task:
                    continue  # the first stage to read one raises it; the rest need no "never retrieved" log
                self._record(result)
                if not future.done():
                    future.set_result(result)
        finally:
            self._workers -= 1

    def _record(self, result: Result) -> None:
        self.meter.tasks += 1
        if result.failure:
            self.meter.failures[result.failure] += 1
        if result.calls or result.failure in _TRANSPORT_FAILURES:
            self._recent.append(result.failure in _COUNTED_FAILURES)
            cfg = self.backend.config
            failed = sum(self._recent)
            if len(self._recent) == self._recent.maxlen and failed > cfg.stop_failure_share * len(
                self._recent
            ):
                self._stop(
                    result.failure or "server_error",
                    f"{failed} of the last {len(self._recent)} requests failed; the last: {result.error}",
                )
        if self.on_result is not None:
            self.on_result(result)

    def _stop(self, failure: str, message: str) -> None:
        if self.stopped is None:
            self.stopped = StopReason(failure, self.dispatch.endpoint, message)

    async def _answer(self, task: Task, key: str, cached: ChatResponse | None) -> Result:
        result = Result(task=task, key=key, cached=cached is not None)
        request, response = task.request, cached
        max_reasks = self.backend.config.max_reasks if task.schema else 0
        attempt, grown = 0, False
        while True:
            try:
                if response is None:
                    if self.stopped is not None:
                        raise _Failed(self.stopped.failure, f"not sent: {self.stopped.message}")
                    response = await self._call(request, key)
                    result.calls += 1
                    result.cached = False
                    result.usage.prompt_tokens += response.usage.prompt_tokens
                    result.usage.completion_tokens += response.usage.completion_tokens
                else:
                    self.meter.cache_hits += 1
            except _Failed as failed:
                result.failure, result.error = failed.failure, str(failed)
                return result
            result.text, result.finish_reason = response.text, response.finish_reason
            if response.refusal is not None:
                result.failure, result.error = "refusal", f"the model refused: {response.refusal[:300]}"
                return result
            if response.finish_reason == "content_filter":
                result.failure = "content_filter"
                result.error = "the provider's content filter stopped the answer"
                return result
            if task.schema is None:
                return result
            if response.finish_reason == "length":
                if grown:
                    result.failure = "truncated"
                    result.error = (
                        f"the answer was cut off at max_tokens {request.max_tokens}, twice the asked"
                    )
                    return result
                grown = True  # once more with twice the room; never again at the same limit
                request = replace(request, max_tokens=2 * request.max_tokens)
            else:
                try:
                    value = parse_answer(response.text, task.schema)
                    if task.check is not None:
                        task.check(value)
                    result.value = value
                    result.error = None  # an earlier attempt's validation error no longer applies
                    return result
                except InvalidAnswer as err:
                    result.error = str(err)
                    if attempt == max_reasks:
                        result.failure = err.failure
                        result.error = f"{err} after {max_reasks} re-ask(s)"
                        return result
                    attempt += 1
                    self.meter.reasks += 1
                    request = replace(
                        request, messages=reask_messages(request.messages, response.text, str(err))
                    )
            key = self.key(task, request)
            response = self.cache.get(key) if self.cache is not None else None

    async def _call(self, request: ChatRequest, key: str) -> ChatResponse:
        cfg = self.backend.config
        prompt_bound = max_prompt_tokens(request) if self.budget.max_cost is not None else 0
        worst = cost_of(cfg.prices, prompt_bound, request.max_tokens)
        for attempt in range(cfg.max_retries + 1):
            if not self.budget.reserve(worst):
                raise _Failed("budget", "not sent: the run's --max-cost would be exceeded; rerun with more")
            try:
                response = await self.dispatch.send(request, key)
            except TransientError as err:
                self.meter.retries[err.kind] += 1
                failure = "connection" if err.kind == "unreachable" else err.kind
                if err.kind == "unreachable" and self._strike():
                    self._stop(failure, str(err))
                if self.stopped is not None or attempt == cfg.max_retries:
                    raise _Failed(failure, f"{err} (gave up after {attempt + 1} attempts)") from None
                await asyncio.sleep(self._backoff(attempt, err.retry_after))
                continue
            except EndpointError as err:
                if self._strike(always=True):
                    self._stop("client_error", str(err))
                raise _Failed("client_error", str(err)) from None
            except BackendError as err:
                raise _Failed("client_error", str(err)) from None
            finally:
                self.budget.settle(worst)
            self._strikes, self._last_success = 0, time.monotonic()
            if self.cache is not None:
                self.cache.put(key, response)
            self.meter.add_call(
                response.usage,
                cost_of(cfg.prices, response.usage.prompt_tokens, response.usage.completion_tokens),
            )
            return response
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        """Release the dispatch's connections or models."""
        await self.dispatch.aclose()

    def _strike(self, always: bool = False) -> bool:
        """Count one endpoint failure; True when enough came in a row to stop. An unreachable endpoint
        that answered in the last half minute may be restarting, so it only counts once that has passed."""
        self._strikes += 1
        recent = (
            self._last_success is not None and time.monotonic() - self._last_success < _UNREACHABLE_GRACE_S
        )
        return self._strikes >= self.backend.config.stop_after_failures and (always or not recent)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff (0.5 s base, 30 s cap); never sooner than the server asked."""
        delay = self._rng.uniform(0, min(30.0, 0.5 * 2**attempt))
        return max(delay, retry_after or 0.0)


def max_prompt_tokens(request: ChatRequest) -> int:
    """An upper bound on a request's prompt tokens without its tokenizer, for the budget: a byte-level BPE
    token covers at least one byte, each message adds a few tokens of chat framing, and a JSON schema is
    sent (and billed) too. Estimating at ~4 characters a token instead let a run overshoot --max-cost."""
    size = sum(len(content.encode("utf-8")) + 8 for _, content in request.messages)
    if request.json_schema is not None:
        size += len(json.dumps(request.json_schema).encode("utf-8"))
    return size
