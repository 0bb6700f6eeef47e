"""Requests answered by Ray actors: `RayDispatch` shards a run's requests over `workers` actors, each
owning one backend (a llama.cpp model loaded once per actor, a client of the vLLM server on its node,
an API client), and streams every answer back to this process.

Why only the answering moves: the engine here keeps the one queue, the cache, retries, re-asks, budget
and stops, and the stages write their files here, so a run on Ray has the cache keys, resume, dedup and
dataset of a one-machine run with the same seed; the actors are as stateless as an HTTP endpoint. That
makes a worker one more lane of a `Spread`: each attempt goes to the worker with the most free capacity
(its driver-side adaptive limit), awaiting the actor call's ObjectRef from asyncio. A worker that dies
(killed, its node lost) raises Ray's actor-died error, caught as `LaneGone` (a TransientError of kind
connection): its requests in flight move to the other workers at once and it is not used again, so
nothing is lost; when every worker is gone the engine stops as for an endpoint that cannot be used.

The per-minute ceilings are one key's, so they are kept here, once for all workers; each worker gets its
backend config without them. `ray` is an optional extra (`pip install 'synsym[ray]'`); every node needs
synsym (and the backend's packages) installed, as workers import backends by their registered names.
"""

from __future__ import annotations

import contextlib
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
from synsym.core.errors import BackendError, ConfigError, InputError
from synsym.core.executor import first_line, import_ray, join, leave
from synsym.engine.dispatch import OVERLOAD_KINDS, make_dispatch
from synsym.engine.endpoints import Lane, LaneGone, Spread
from synsym.engine.limits import AdaptiveConcurrency, TokenBucket

START_TIMEOUT_S = 120.0


class _Worker:
    """The actor's body: one backend, sent to as the engine's dispatch would (several endpoints of its
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


class _ActorLane:
    """One worker as a lane: its driver-side adaptive limit and its actor handle."""

    def __init__(self, ray: Any, handle: Any, index: int, ceiling: int, host: str) -> None:
        self._ray, self.handle, self.index = ray, handle, index
        self.ceiling = ceiling
        self.limiter = AdaptiveConcurrency(ceiling)
        self.host = host

    @property
    def endpoint(self) -> str:
        return f"ray worker {self.index} on {self.host}"

    async def send(self, request: ChatRequest, key: str) -> ChatResponse:
        errors = self._ray.exceptions
        await self.limiter.acquire()
        try:
            out = await self.handle.complete.remote(request, key)
        except errors.RayActorError as exc:  # killed, crashed, its node gone: never again
            raise LaneGone(f"{self.endpoint} died ({first_line(exc)})") from None
        except (errors.ActorUnavailableError, errors.ObjectLostError, errors.RaySystemError) as exc:
            raise TransientError("connection", f"{self.endpoint}: {first_line(exc)}") from None
        except errors.RayTaskError as exc:  # a bug in the worker, not a failure of the model
            raise BackendError(f"{self.endpoint} failed: {first_line(exc)}") from None
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
        with contextlib.suppress(self._ray.exceptions.RayError):  # already dead
            await self.handle.close.remote()
        self._ray.kill(self.handle)


class RayDispatch(Spread):
    """`workers` Ray actors answering for one backend config; see the module docstring. Connects to
    the cluster at `address` (None: starts a local one, or joins the session this process already has)
    and waits for every worker to start before the run sends anything."""

    def __init__(
        self,
        config: BackendConfig,
        *,
        workers: int,
        address: str | None = None,
        where: str = "backend",
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        ray = import_ray()
        self.address = address
        cls = backend_class(config, where)
        if issubclass(cls, BatchBackend):  # its requests wait at the provider, not in a worker
            raise ConfigError(
                f"executor.name -> {config.name} sends provider batches, which no Ray worker speeds up; use "
                "executor.name: local"
            )
        # a model in the actor's process (llama.cpp) needs a CPU of its own; a client of a server does not
        in_process = cls.max_parallel == 1
        join(ray, address, workers)
        try:
            lanes = _start(ray, config, where, workers, 1 if in_process else 0, start_timeout_s)
        except BaseException:
            leave(ray)
            raise
        super().__init__(lanes, what="ray worker")
        self.rpm = TokenBucket(config.requests_per_minute) if config.requests_per_minute else None
        self.tpm = TokenBucket(config.tokens_per_minute) if config.tokens_per_minute else None
        self._ray = ray
        self._closed = False

    @property
    def endpoint(self) -> str:
        return f"{len(self.lanes)} Ray workers on {self.address or 'a local cluster'}"

    @property
    def workers(self) -> list[Any]:
        """The actor handles, in worker order (a test kills one)."""
        return [lane.dispatch.handle for lane in self.lanes]  # type: ignore[attr-defined]

    async def send(self, request: ChatRequest, key: str) -> ChatResponse:
        if self.rpm:
            await self.rpm.take()
        if self.tpm:
            prompt = sum(len(content) for _, content in request.messages) / 4
            await self.tpm.take(prompt + request.max_tokens)
        return await super().send(request, key)

    async def aclose(self) -> None:
        """Stop the workers (their models and connections go with them); leave Ray when this process
        started it and no other dispatch still uses it."""
        if self._closed:
            return
        self._closed = True
        try:
            await super().aclose()
        finally:
            leave(self._ray)


def _start(
    ray: Any, config: BackendConfig, where: str, workers: int, cpus: int, timeout_s: float
) -> list[Lane]:
    # the per-minute ceilings are applied once, by the driver
    own = config.model_copy(update={"requests_per_minute": None, "tokens_per_minute": None})
    actor = ray.remote(_Worker).options(num_cpus=cpus, scheduling_strategy="SPREAD")
    handles = [actor.remote(own.model_dump(mode="json"), where) for _ in range(workers)]
    try:
        started = ray.get([h.ready.remote() for h in handles], timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        for h in handles:
            ray.kill(h)
        total = ray.cluster_resources().get("CPU", 0)
        raise InputError(
            f"executor.workers -> {workers} Ray workers did not all start within {timeout_s:.0f} s; the "
            f"cluster has {total:g} CPUs and each {config.name} worker claims {cpus}: use fewer "
            "workers or add nodes"
        ) from None
    except ray.exceptions.RayActorError as exc:
        for h in handles:
            ray.kill(h)
        raise InputError(
            f"executor -> a Ray worker could not start: {first_line(exc)}; every node needs synsym and "
            "the backend's packages installed (the same version as here)"
        ) from None
    pairs = enumerate(zip(handles, started, strict=True))
    return [_ActorLane(ray, h, i, ceiling, host) for i, (h, (ceiling, host)) in pairs]
