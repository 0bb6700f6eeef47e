"""The request engine: turns many `Task`s into `Result`s as fast as the server allows.

Per task: look in the cache; otherwise wait for a concurrency slot and the per-minute buckets, reserve
the worst-case cost, send, retry transient failures with backoff (honouring Retry-After), cache the
answer the moment it arrives, validate it, and re-ask with the validation error a bounded number of
times. Every task ends with a Result: an answer, or a failure class and reason. None is dropped.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from pydantic import BaseModel

from synsym.backends.base import Backend, ChatRequest, ChatResponse, TransientError, Usage
from synsym.core.errors import BackendError
from synsym.engine.cache import ResponseCache, request_key
from synsym.engine.limits import AdaptiveConcurrency, TokenBucket
from synsym.engine.progress import RunProgress
from synsym.engine.structured import InvalidAnswer, parse_answer, reask_messages
from synsym.engine.usage import Budget, UsageMeter, cost_of

OVERLOAD_KINDS = frozenset({"rate_limit", "overloaded"})
FAILURE_CLASSES = (
    "refusal",
    "content_filter",
    "invalid_output",
    "rate_limit",
    "overloaded",
    "server_error",
    "timeout",
    "connection",
    "bad_response",
    "client_error",
    "budget",
)


@dataclass(frozen=True, slots=True)
class Task:
    """One structured (or plain-text) question. `sample` tells apart repeated draws of the same prompt;
    `template` is the prompt template's version hash. Both are part of the cache key."""

    id: str
    request: ChatRequest
    schema: type[BaseModel] | None = None
    sample: int = 0
    template: str = ""


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

    @property
    def ok(self) -> bool:
        return self.failure is None


class _Failed(Exception):
    def __init__(self, failure: str, error: str) -> None:
        super().__init__(error)
        self.failure = failure


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
    ) -> None:
        cfg = backend.config
        self.backend = backend
        self.cache = cache
        self.meter = UsageMeter()
        self.budget = Budget(max_cost, self.meter)
        self.progress = progress
        ceiling = min(cfg.max_concurrency, backend.max_parallel or cfg.max_concurrency)
        self.limiter = AdaptiveConcurrency(ceiling)
        self.rpm = TokenBucket(cfg.requests_per_minute) if cfg.requests_per_minute else None
        self.tpm = TokenBucket(cfg.tokens_per_minute) if cfg.tokens_per_minute else None
        self._identity = backend.identity()
        self._rng = rng or random.Random()

    def run_sync(self, tasks: Sequence[Task], label: str = "requests") -> list[Result]:
        """Run tasks from synchronous code; closes the backend's connections afterwards."""

        async def go() -> list[Result]:
            try:
                return await self.run(tasks, label=label)
            finally:
                await self.backend.aclose()

        return asyncio.run(go())

    async def run(
        self,
        tasks: Sequence[Task],
        label: str = "requests",
        on_result: Callable[[Result], None] | None = None,
    ) -> list[Result]:
        """Answer every task; results come in task order, each also passed to `on_result` as it ends."""
        results: list[Result | None] = [None] * len(tasks)
        first_keys = [self.key(t, t.request) for t in tasks]
        cached = self.cache.get_many(first_keys) if self.cache is not None else {}
        queue = iter(range(len(tasks)))

        with RunProgress(label, len(tasks), self.meter, self.progress) as progress:

            async def worker() -> None:
                for i in queue:
                    result = await self._answer(tasks[i], first_keys[i], cached.get(first_keys[i]))
                    results[i] = result
                    if result.failure:
                        self.meter.failures[result.failure] += 1
                    if on_result:
                        on_result(result)
                    progress.advance()

            workers = min(len(tasks), self.limiter.ceiling) or 1
            await asyncio.gather(*(worker() for _ in range(workers)))
        return [r for r in results if r is not None]

    def key(self, task: Task, request: ChatRequest) -> str:
        return request_key(self._identity, request.as_dict(), task.sample, task.template)

    async def _answer(self, task: Task, key: str, cached: ChatResponse | None) -> Result:
        result = Result(task=task, key=key)
        request, response = task.request, cached
        max_reasks = self.backend.config.max_reasks if task.schema else 0
        for attempt in range(max_reasks + 1):
            if attempt:
                self.meter.reasks += 1
                key = self.key(task, request)
                response = self.cache.get(key) if self.cache is not None else None
            try:
                if response is None:
                    response = await self._call(request, key)
                    result.calls += 1
                    result.usage.prompt_tokens += response.usage.prompt_tokens
                    result.usage.completion_tokens += response.usage.completion_tokens
                else:
                    self.meter.cache_hits += 1
            except _Failed as failed:
                result.failure, result.error = failed.failure, str(failed)
                return result
            result.text = response.text
            if response.refusal is not None:
                result.failure, result.error = "refusal", f"the model refused: {response.refusal[:300]}"
                return result
            if response.finish_reason == "content_filter":
                result.failure, result.error = (
                    "content_filter",
                    "the provider's content filter stopped the answer",
                )
                return result
            if task.schema is None:
                return result
            try:
                result.value = parse_answer(response.text, task.schema)
                result.error = None  # an earlier attempt's validation error no longer applies
                return result
            except InvalidAnswer as err:
                result.error = str(err)
                request = replace(request, messages=reask_messages(request.messages, response.text, str(err)))
                response = None
        result.failure = "invalid_output"
        result.error = f"{result.error} after {max_reasks} re-ask(s)"
        return result

    async def _call(self, request: ChatRequest, key: str) -> ChatResponse:
        cfg = self.backend.config
        est_prompt = sum(len(content) for _, content in request.messages) / 4
        prompt_bound = _max_prompt_tokens(request) if self.budget.max_cost is not None else 0
        worst = cost_of(cfg.prices, prompt_bound, request.max_tokens)
        for attempt in range(cfg.max_retries + 1):
            if not self.budget.reserve(worst):
                raise _Failed("budget", "not sent: the run's --max-cost would be exceeded; rerun with more")
            await self.limiter.acquire()
            try:
                if self.rpm:
                    await self.rpm.take()
                if self.tpm:
                    await self.tpm.take(est_prompt + request.max_tokens)
                response = await self.backend.complete(request)
            except TransientError as err:
                self.limiter.release()
                self.budget.settle(worst)
                if err.kind in OVERLOAD_KINDS:
                    self.limiter.on_overload()
                self.meter.retries[err.kind] += 1
                if attempt == cfg.max_retries:
                    raise _Failed(err.kind, f"{err} (gave up after {attempt + 1} attempts)") from None
                await asyncio.sleep(self._backoff(attempt, err.retry_after))
                continue
            except BackendError as err:
                self.limiter.release()
                self.budget.settle(worst)
                raise _Failed("client_error", str(err)) from None
            self.limiter.release()
            self.limiter.on_success()
            self.budget.settle(worst)
            if self.cache is not None:
                self.cache.put(key, response)
            self.meter.add_call(
                response.usage,
                cost_of(cfg.prices, response.usage.prompt_tokens, response.usage.completion_tokens),
            )
            return response
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff (0.5 s base, 30 s cap); never sooner than the server asked."""
        delay = self._rng.uniform(0, min(30.0, 0.5 * 2**attempt))
        return max(delay, retry_after or 0.0)


def _max_prompt_tokens(request: ChatRequest) -> int:
    """An upper bound on a request's prompt tokens without its tokenizer, for the budget: a byte-level BPE
    token covers at least one byte, each message adds a few tokens of chat framing, and a JSON schema is
    sent (and billed) too. Estimating at ~4 characters a token instead let a run overshoot --max-cost."""
    size = sum(len(content.encode("utf-8")) + 8 for _, content in request.messages)
    if request.json_schema is not None:
        size += len(json.dumps(request.json_schema).encode("utf-8"))
    return size
