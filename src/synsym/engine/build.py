"""The one place an engine is built: its backend, the dispatch that backend needs (provider batches,
several endpoints, one endpoint, or workers an executor runs elsewhere), and the events both report to."""

from __future__ import annotations

from synsym.backends.base import Backend, create_backend
from synsym.core.config import BackendConfig
from synsym.core.executor import Executor
from synsym.engine.cache import ResponseCache
from synsym.engine.dispatch import Dispatch, make_dispatch
from synsym.engine.engine import Engine
from synsym.engine.events import Events
from synsym.engine.workers import WorkerDispatch

__all__ = ["build_engine", "dispatch_for"]


def dispatch_for(
    backend: Backend,
    cache: ResponseCache | None,
    *,
    executor: Executor | None = None,
    where: str = "backend",
    events: Events | None = None,
) -> Dispatch:
    """Workers of an executor that runs them elsewhere (Ray actors); otherwise the dispatch this process
    needs for the backend (`make_dispatch`: batches, several endpoints, or one)."""
    if executor is not None and executor.remote:
        return WorkerDispatch(backend.config, executor, where=where, events=events)
    return make_dispatch(backend, cache, events)


def build_engine(
    config: BackendConfig,
    where: str = "backend",
    *,
    executor: Executor | None = None,
    cache: ResponseCache | None = None,
    max_cost: float | None = None,
    events: Events | None = None,
    progress: bool | None = None,
) -> Engine:
    """An engine for one backend section (`where`: `backend`, `judge.backend`, for messages): the backend,
    its dispatch (`dispatch_for`), the response cache and the budget; `events` gets the backend's and the
    dispatch's status lines and notes."""
    backend = create_backend(config, where)
    backend.events = events
    dispatch = dispatch_for(backend, cache, executor=executor, where=where, events=events)
    return Engine(backend, cache, max_cost=max_cost, dispatch=dispatch, progress=progress)
