"""Where work runs: an executor, found by name in the `synsym.executors` entry-point group (synsym.core.
plugins), as backends are. `local` answers in this process; `ray` (synsym.core.ray_executor) on Ray actors
and tasks; a plugin registers its own the same way. The run's requests (the engine asks an executor for
workers) and an experiment's cells (`Executor.map`) share one setting.

Each executor nests `class Options(ExecutorOptions)` with its own keys, written beside `name`
(`executor: {name: ray, workers: 3}`) and validated like a backend's options: an unknown or wrong key is a
ConfigError naming `executor.<key>`. An executor whose package is missing (ray) says how to install it in
`check()`, which a run calls before it writes anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol, cast

from pydantic import Field, model_serializer, model_validator

from synsym.core.config import KEYS_HINT, StrictModel, collect_options, validate
from synsym.core.errors import ConfigError
from synsym.core.plugins import named, plugins

__all__ = [
    "Executor", "ExecutorConfig", "ExecutorOptions", "LocalExecutor", "Worker", "WorkerFailed", "WorkerGone",
    "WorkerUnavailable", "available_executors", "create_executor", "first_line",
]  # fmt: skip


class ExecutorOptions(StrictModel):
    """An executor's own options, written under `executor:` beside `name`. Subclass it as `Options`."""


class ExecutorConfig(StrictModel):
    """Where work runs: in this process, or on Ray. A run's requests are sharded over Ray actors, each
    owning one backend (a llama.cpp model loaded once per actor, a client of the server on its node, an
    API client), and the answers come back here, where the cache and the stage files are written, so a
    run and its resume are the same whichever executor answered. An experiment's cells (a model and a
    seed, with every test set and fold) run as Ray tasks, `workers` at a time, and give the same table."""

    name: str = Field(
        "local", description="registered executor: local (this process), ray (Ray actors), or a plugin"
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="the executor's own options; written as keys beside name"
    )

    @model_validator(mode="before")
    @classmethod
    def _collect_options(cls, data: Any) -> Any:
        """Keys other than `name` are the executor's own options."""
        return collect_options(cls, data)

    @model_validator(mode="after")
    def _check_options(self) -> ExecutorConfig:
        create_executor(self)  # an unknown name or option: a ConfigError naming the key
        return self

    @model_serializer(mode="wrap")
    def _flat(self, handler: Any) -> Any:
        """Written back the way it is written: `{name: ray, workers: 3}`."""
        data = handler(self)
        return {"name": data["name"], **data.get("options", {})} if isinstance(data, dict) else data


class WorkerGone(Exception):
    """A worker that will never answer again (killed, its node lost)."""


class WorkerUnavailable(Exception):
    """A worker that did not answer this time; a retry may reach it."""


class WorkerFailed(Exception):
    """The worker's own code failed (a bug, not a failure of what it calls)."""


class Worker(Protocol):
    """One object living where an executor runs it: `call` runs one of its methods there."""

    handle: Any  # the executor's own handle (a Ray actor): a test kills one

    async def call(self, method: str, *args: Any) -> Any:
        """`method(*args)` on the object; WorkerGone, WorkerUnavailable or WorkerFailed when it fails."""

    async def stop(self) -> None:
        """Close the object and end the worker; quiet when it is already gone."""


class Executor:
    """Subclass, set `name`, declare `Options`; override `check`, `map` and `start_workers` for work that
    runs elsewhere. The base runs everything in this process."""

    name: ClassVar[str]
    label: ClassVar[str] = "this process"  # where work ran, for messages
    remote: ClassVar[bool] = False  # it runs work elsewhere: `start_workers` gives workers
    Options: ClassVar[type[ExecutorOptions]] = ExecutorOptions

    def __init__(self, config: ExecutorConfig, where: str = "executor") -> None:
        self.config = config
        self.where = where
        self.options: Any = parse_options(type(self), config, where)

    def check(self) -> None:
        """Raise ConfigError (exit 2) when it cannot run here (a package not installed), before a run
        writes anything."""

    def map(
        self,
        fn: Callable[[Any, Any, Callable[[str], None]], Any],
        items: Sequence[Any],
        shared: Any,
        say: Callable[[str], None],
        done: Callable[[int, int], None] | None = None,
    ) -> list[Any]:
        """`fn(item, shared, say)` for every item, results in item order. An executor that runs items
        elsewhere says its progress there and calls `done(index, finished)` as each comes back."""
        return [fn(item, shared, say) for item in items]

    def start_workers(
        self, body: type, args: tuple[Any, ...], *, cpus: int, what: str, timeout_s: float
    ) -> list[tuple[Worker, Any]] | None:
        """Workers each holding `body(*args)` elsewhere, started and asked `ready()` (its answer beside
        each); `cpus` each claims. None: this executor works in this process (the engine sends itself)."""
        return None

    def release(self) -> None:
        """The engine is done with the workers it started (they are stopped)."""


class LocalExecutor(Executor):
    """Everything in this process."""

    name = "local"


def available_executors() -> dict[str, type[Executor]]:
    """Registered executors: built-ins and plugins through the `synsym.executors` entry point group."""
    return plugins("executors")


def executor_class(config: ExecutorConfig, where: str = "executor") -> type[Executor]:
    return cast(type[Executor], named("executors", config.name, where))


def create_executor(config: ExecutorConfig, where: str = "executor") -> Executor:
    return executor_class(config, where)(config, where)


def parse_options(cls: type[Executor], config: ExecutorConfig, where: str = "executor") -> Any:
    """`config.options` validated by the executor's own `Options`: errors read `executor.<key> -> ...`; a
    key of another executor says whose it is."""
    if config.options and not cls.Options.model_fields:
        key = next(iter(config.options))
        owners = [n for n, c in available_executors().items() if key in c.Options.model_fields]
        whose = f" is for name: {', '.join(owners)}" if owners else " -> unknown key"
        raise ConfigError(f"{where}.{key}{whose}; the {cls.name} executor takes no options")
    source = f"{where} ({config.name})"
    return validate(cls.Options, config.options, source, f"{where}.", also_known=["name"], hint=KEYS_HINT)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."
