"""Where work runs: in this process, or on a Ray cluster. The run's requests (engine.ray_dispatch) and
an experiment's cells (classify.experiment) share one setting and one Ray session per process.

`ray` is an optional extra (`pip install 'synsym[ray]'`); without it, naming it is a config error that
says how to install it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from pydantic import Field, PositiveInt, model_validator

from synsym.core.config import StrictModel
from synsym.core.errors import ConfigError

INSTALL_HINT = "pip install 'synsym[ray]'"
_sessions = {"open": 0, "owned": False}  # users of this process's one Ray connection


class ExecutorConfig(StrictModel):
    """Where work runs: in this process, or on Ray. A run's requests are sharded over Ray actors, each
    owning one backend (a llama.cpp model loaded once per actor, a client of the server on its node, an
    API client), and the answers come back here, where the cache and the stage files are written, so a
    run and its resume are the same whichever executor answered. An experiment's cells (a model and a
    seed, with every test set and fold) run as Ray tasks, `workers` at a time, and give the same table."""

    name: Literal["local", "ray"] = Field("local", description="local: this process; ray: Ray actors")
    address: str | None = Field(
        None,
        description="ray: the cluster to join (host:port of its head, 'auto' for the one `ray start` "
        "began here, ray://host:10001 with ray[client]); none: start a local cluster",
    )
    workers: PositiveInt = Field(
        2,
        description="ray: actors, each with its own backend (llama.cpp: one model each; claims a CPU); "
        "experiments: cells at a time",
    )

    @model_validator(mode="after")
    def _ray_only(self) -> ExecutorConfig:
        given = [k for k in ("address", "workers") if k in self.model_fields_set]
        if self.name == "local" and given:
            raise ValueError(f"executor.{given[0]} is for name: ray; the local executor takes no options")
        return self


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


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."
