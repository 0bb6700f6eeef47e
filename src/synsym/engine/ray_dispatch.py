"""`RayDispatch`: a run's requests answered by Ray actors, the `ray` executor's workers behind a
`WorkerDispatch` (synsym.engine.workers); kept for code that builds one by hand. A run builds its
dispatch through `synsym.engine.build.build_engine`."""

from __future__ import annotations

from synsym.core.config import BackendConfig
from synsym.core.executor import ExecutorConfig, create_executor
from synsym.engine.events import Events
from synsym.engine.workers import START_TIMEOUT_S, WorkerDispatch


class RayDispatch(WorkerDispatch):
    """`workers` Ray actors answering for one backend config, on the cluster at `address` (None: a local
    one, or the session this process already has)."""

    def __init__(
        self,
        config: BackendConfig,
        *,
        workers: int,
        address: str | None = None,
        where: str = "backend",
        events: Events | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        executor = create_executor(
            ExecutorConfig.model_validate({"name": "ray", "workers": workers, "address": address})
        )
        executor.check()
        super().__init__(config, executor, where=where, events=events, start_timeout_s=start_timeout_s)
