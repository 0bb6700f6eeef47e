"""The `ray` executor: a run's requests answered by Ray actors (the engine asks `start_workers` for one
actor per worker, each holding a backend), and an experiment's cells as Ray tasks, `workers` at a time.
The run's requests and the experiment's cells share one Ray session per process.

`ray` is an optional extra (`pip install 'synsym[ray]'`); without it, `check()` is a ConfigError (exit 2)
that says how to install it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import Field, PositiveInt

from synsym.core.errors import ConfigError, InputError
from synsym.core.executor import (
    Executor,
    ExecutorOptions,
    WorkerFailed,
    WorkerGone,
    WorkerUnavailable,
    first_line,
)

INSTALL_HINT = "pip install 'synsym[ray]'"
_sessions = {"open": 0, "owned": False}  # users of this process's one Ray connection
log = logging.getLogger("synsym.ray")


class RayOptions(ExecutorOptions):
    address: str | None = Field(
        None,
        description="the cluster to join (host:port of its head, 'auto' for the one `ray start` began "
        "here, ray://host:10001 with ray[client]); none: start a local cluster",
    )
    workers: PositiveInt = Field(
        2,
        description="actors, each with its own backend (llama.cpp: one model each; claims a CPU); "
        "experiments: cells at a time",
    )


class RayExecutor(Executor):
    """Ray actors answer a run's requests; Ray tasks run an experiment's cells."""

    name = "ray"
    label = "Ray"
    remote = True
    Options = RayOptions

    def check(self) -> None:
        import_ray()

    def map(
        self,
        fn: Callable[[Any, Any, Callable[[str], None]], Any],
        items: Sequence[Any],
        shared: Any,
        say: Callable[[str], None],
        done: Callable[[int, int], None] | None = None,
    ) -> list[Any]:
        """Each item a Ray task (one CPU), `workers` at a time; results in item order. An item's own
        error is raised as it would be here; a lost task is an InputError."""
        workers = self.options.workers
        with ray_session(self.options.address, workers) as ray:
            task = ray.remote(num_cpus=1)(_call)  # `fn` may be a partial, which Ray does not wrap
            ref = ray.put(shared)
            pending: dict[Any, int] = {}
            results: dict[int, Any] = {}
            for i, item in enumerate(items):
                while len(pending) >= workers:
                    _collect(ray, pending, results, done)
                pending[task.remote(fn, item, ref, log.info)] = i
            while pending:
                _collect(ray, pending, results, done)
        return [results[i] for i in range(len(items))]

    def start_workers(
        self, body: type, args: tuple[Any, ...], *, cpus: int, what: str, timeout_s: float
    ) -> list[tuple[Any, Any]]:
        ray = import_ray()
        join(ray, self.options.address, self.options.workers)
        try:
            return _start(ray, body, args, self.options.workers, cpus, what, timeout_s)
        except BaseException:
            leave(ray)
            raise

    def release(self) -> None:
        leave(import_ray())


def _call(fn: Callable[[Any, Any, Callable[[str], None]], Any], item: Any, shared: Any, say: Any) -> Any:
    return fn(item, shared, say)


class _RayWorker:
    def __init__(self, ray: Any, handle: Any) -> None:
        self._ray, self.handle = ray, handle

    async def call(self, method: str, *args: Any) -> Any:
        errors = self._ray.exceptions
        try:
            return await getattr(self.handle, method).remote(*args)
        except errors.RayActorError as exc:  # killed, crashed, its node gone: never again
            raise WorkerGone(first_line(exc)) from None
        except (errors.ActorUnavailableError, errors.ObjectLostError, errors.RaySystemError) as exc:
            raise WorkerUnavailable(first_line(exc)) from None
        except errors.RayTaskError as exc:  # a bug in the worker
            raise WorkerFailed(first_line(exc)) from None

    async def stop(self) -> None:
        with contextlib.suppress(self._ray.exceptions.RayError):  # already dead
            await self.handle.close.remote()
        self._ray.kill(self.handle)


def _start(
    ray: Any, body: type, args: tuple[Any, ...], workers: int, cpus: int, what: str, timeout_s: float
) -> list[tuple[Any, Any]]:
    actor = ray.remote(body).options(num_cpus=cpus, scheduling_strategy="SPREAD")
    handles = [actor.remote(*args) for _ in range(workers)]
    try:
        started = ray.get([h.ready.remote() for h in handles], timeout=timeout_s)
    except ray.exceptions.GetTimeoutError:
        for h in handles:
            ray.kill(h)
        total = ray.cluster_resources().get("CPU", 0)
        raise InputError(
            f"executor.workers -> {workers} Ray workers did not all start within {timeout_s:.0f} s; the "
            f"cluster has {total:g} CPUs and each {what} worker claims {cpus}: use fewer workers or add "
            "nodes"
        ) from None
    except ray.exceptions.RayActorError as exc:
        for h in handles:
            ray.kill(h)
        raise InputError(
            f"executor -> a Ray worker could not start: {first_line(exc)}; every node needs synsym and "
            "the backend's packages installed (the same version as here)"
        ) from None
    return [(_RayWorker(ray, h), ready) for h, ready in zip(handles, started, strict=True)]


def _collect(
    ray: Any, pending: dict[Any, int], results: dict[int, Any], done: Callable[[int, int], None] | None
) -> None:
    """Wait for one task; a task that failed (bad data, a worker lost) fails the whole map."""
    (ref,), _ = ray.wait(list(pending), num_returns=1)
    i = pending.pop(ref)
    try:
        results[i] = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:  # the task's own error, as a local run would raise it
        raise exc.cause from None
    except ray.exceptions.RayError as exc:
        raise InputError(f"executor -> a Ray task was lost ({first_line(exc)}); run it again") from None
    if done is not None:
        done(i, len(results))


def import_ray() -> Any:
    """The `ray` module, or a ConfigError (exit 2) that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"executor.name -> ray is not installed; install it with: {INSTALL_HINT} "
            "(or use executor.name: local)"
        ) from None
    return ray


@contextmanager
def ray_session(address: str | None, workers: int) -> Iterator[Any]:
    """The `ray` module, joined to the cluster for the block (see `join`)."""
    ray = import_ray()
    join(ray, address, workers)
    try:
        yield ray
    finally:
        leave(ray)


def join(ray: Any, address: str | None, workers: int) -> None:
    """Join (or start) the Ray session this process's users share (Ray dispatches, experiment cells). A
    session already open here (a test's, a notebook's) is used as it is and left open."""
    if _sessions["open"] == 0 and not ray.is_initialized():
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.WARNING,
        }
        if address is None:
            # at least a CPU per worker of each engine (generator and judge), whatever this machine has
            options["num_cpus"] = max(os.cpu_count() or 1, 2 * workers)
        else:
            reachable(address)
            options["address"] = address
        try:
            ray.init(**options)
        except (ConnectionError, ValueError, RuntimeError, SystemExit) as exc:
            fix = (
                "install Ray's client with: pip install 'ray[client]'"
                if "ray[client]" in str(exc)
                else "start one with `ray start --head` there, or leave executor.address unset for a local "
                "cluster"
            )
            raise ConfigError(
                f"executor.address -> cannot join a Ray cluster at {address}: {first_line(exc)}; {fix}"
            ) from None
        _sessions["owned"] = True
    _sessions["open"] += 1


def leave(ray: Any) -> None:
    _sessions["open"] = max(0, _sessions["open"] - 1)
    if _sessions["open"] == 0 and _sessions["owned"]:
        _sessions["owned"] = False
        ray.shutdown()


def reachable(address: str, timeout_s: float = 5.0) -> None:
    """A head's host:port that does not accept a connection fails here in seconds, not in the minutes
    `ray.init` spends retrying before it exits the process."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"executor.address -> {address!r} is not host:port (e.g. 10.0.0.5:6379), 'auto' or "
            "ray://host:10001"
        )
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConfigError(
            f"executor.address -> no Ray cluster answers at {address} ({exc}); start one with "
            "`ray start --head` there, or leave executor.address unset for a local cluster"
        ) from None
