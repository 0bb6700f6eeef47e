"""Requests answered by workers an executor runs elsewhere (Ray actors with `executor: {name: ray}`):
`WorkerDispatch` shards a run's requests over the executor's workers, each owning one backend (a
llama.cpp model loaded once per worker, a client of the vLLM server on its node, an API client), and
streams every answer back to this process.

Why only the answering moves: the engine here keeps the one queue, the cache, retries, re-asks, budget
and stops, and the stages write their files here, so a run on workers has the cache keys, resume, dedup
and dataset of a one-machine run with the same seed; the workers are as stateless as an HTTP endpoint.
That makes a worker one more lane of a `Spread`: each attempt goes to the worker with the most free
capacity (its driver-side adaptive limit). A worker that dies (killed, its node lost) raises the
executor's `WorkerGone`, turned into `LaneGone` (a TransientError of kind connection): its requests in
flight move to the other workers at once and it is not used again, so nothing is lost; when every worker
is gone the engine stops as for an endpoint that cannot be used.

The per-minute ceilings are one key's, so they are kept here, once for all workers; each worker gets its
backend config without them. Every node needs synsym (and the backend's packages) installed, as workers
import backends by their registered names.
"""

from __future__ import annotations

import socket
from typing import Any

from synsym.backends.base import (
    ChatRequest,
    ChatResponse,
    EndpointError,
    TransientError,
    backend_class,
    create_backend,
)
from synsym.backends.batch_base import BatchBackend
from synsym.core.config import BackendConfig
from synsym.core.errors import BackendError, ConfigError
from synsym.core.executor import Executor, Worker, WorkerFailed, WorkerGone, WorkerUnavailable
from synsym.engine.dispatch import OVERLOAD_KINDS, make_dispatch
from synsym.engine.endpoints import Lane, LaneGone, Spread
from synsym.engine.events import Events
from synsym.engine.limits import AdaptiveConcurrency, TokenBucket

START_TIMEOUT_S = 120.0


class BackendWorker:
    """A worker's body: one backend, sent to as the engine's dispatch would (several endpoints of its
    own included), errors returned as plain tuples so no exception class has to cross the wire."""

    def __init__(self, config: dict[str, Any], where: str) -> None:
        self.dispatch = make_dispatch(create_backend(BackendConfig.model_validate(config), where), None)

    def ready(self) -> tuple[int, str]:
        return self.dispatch.ceiling, socket.gethostname()

    async def complete(self, request: ChatRequest, key: str) -> ChatResponse | tuple[str, str, str, Any]:
        try:
            return await self.dispatch.send(request, key)
        except TransientError as err:
            return ("transient", err.kind, str(err), err.retry_after)
        except EndpointError as err:
            return ("endpoint", err.kind, str(err), None)
        except BackendError as err:
            return ("backend", "", str(err), None)

    async def close(self) -> None:
        await self.dispatch.aclose()


class _WorkerLane:
    """One worker as a lane: its driver-side adaptive limit and the executor's worker."""

    def __init__(self, worker: Worker, index: int, ceiling: int, host: str, what: str) -> None:
        self.worker, self.index, self.host, self.what = worker, index, host, what
        self.ceiling = ceiling
        self.limiter = AdaptiveConcurrency(ceiling)

    @property
    def endpoint(self) -> str:
        return f"{self.what} {self.index} on {self.host}"

    async def send(self, request: ChatRequest, key: str) -> ChatResponse:
        await self.limiter.acquire()
        try:
            out = await self.worker.call("complete", request, key)
        except WorkerGone as exc:  # killed, crashed, its node gone: never again
            raise LaneGone(f"{self.endpoint} died ({exc})") from None
        except WorkerUnavailable as exc:
            raise TransientError("connection", f"{self.endpoint}: {exc}") from None
        except WorkerFailed as exc:  # a bug in the worker, not a failure of the model
            raise BackendError(f"{self.endpoint} failed: {exc}") from None
        finally:
            self.limiter.release()
        if isinstance(out, tuple):
            kind, sub, message, retry_after = out
            if kind == "transient":
                if sub in OVERLOAD_KINDS:
                    self.limiter.on_overload()
                raise TransientError(sub, f"{self.endpoint}: {message}", retry_after)
            if kind == "endpoint":
                raise EndpointError(sub, f"{self.endpoint}: {message}")
            raise BackendError(message)
        self.limiter.on_success()
        return out

    async def aclose(self) -> None:
        await self.worker.stop()


class WorkerDispatch(Spread):
    """The executor's workers answering for one backend config; see the module docstring. Waits for
    every worker to start before the run sends anything."""

    def __init__(
        self,
        config: BackendConfig,
        executor: Executor,
        *,
        where: str = "backend",
        events: Events | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        cls = backend_class(config, where)
        name = executor.config.name
        if issubclass(cls, BatchBackend):  # its requests wait at the provider, not in a worker
            raise ConfigError(
                f"executor.name -> {config.name} sends provider batches, which no {name} worker speeds up; "
                "use executor.name: local"
            )
        # a model in the worker's process (llama.cpp) needs a CPU of its own; a client of a server does not
        cpus = 1 if cls.max_parallel == 1 else 0
        # the per-minute ceilings are applied once, by the driver
        own = config.model_copy(update={"requests_per_minute": None, "tokens_per_minute": None})
        args = (own.model_dump(mode="json"), where)
        started = executor.start_workers(
            BackendWorker, args, cpus=cpus, what=config.name, timeout_s=start_timeout_s
        )
        if started is None:
            raise ConfigError(f"executor.name -> the {name} executor starts no workers")
        what = f"{name} worker"
        lanes: list[Lane] = [
            _WorkerLane(worker, i, ceiling, host, what) for i, (worker, (ceiling, host)) in enumerate(started)
        ]
        super().__init__(lanes, what=what, events=events)
        self.executor = executor
        self.rpm = TokenBucket(config.requests_per_minute) if config.requests_per_minute else None
        self.tpm = TokenBucket(config.tokens_per_minute) if config.tokens_per_minute else None
        self._closed = False

    @property
    def endpoint(self) -> str:
        return f"{len(self.lanes)} {self.what}s ({self.executor.label})"

    @property
    def workers(self) -> list[Any]:
        """The executor's handles (Ray actors), in worker order (a test kills one)."""
        return [lane.dispatch.worker.handle for lane in self.lanes]  # type: ignore[attr-defined]

    async def send(self, request: ChatRequest, key: str) -> ChatResponse:
        if self.rpm:
            await self.rpm.take()
        if self.tpm:
            prompt = sum(len(content) for _, content in request.messages) / 4
            await self.tpm.take(prompt + request.max_tokens)
        return await super().send(request, key)

    async def aclose(self) -> None:
        """Stop the workers (their models and connections go with them), then tell the executor."""
        if self._closed:
            return
        self._closed = True
        try:
            await super().aclose()
        finally:
            self.executor.release()
