"""Engines by role, built in one place: the run, the plan and the API-key check name the same engines
(synsym.pipeline.engines); a plugin stage with its own `backend` gets its own; executors are plugins
with their own validated options, used by name."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pyarrow.parquet as pq
import pytest
from pydantic import BaseModel, Field, PositiveInt

from synsym.backends.base import ChatRequest
from synsym.core.config import BackendConfig
from synsym.core.errors import ConfigError, InputError
from synsym.core.executor import Executor, ExecutorOptions
from synsym.core.plugins import register, unregister
from synsym.engine.engine import Result, Task
from synsym.pipeline import runner
from synsym.pipeline.config import load_run_config, run_config
from synsym.pipeline.context import StageContext
from synsym.pipeline.engines import engine_backends
from synsym.pipeline.plan import plan_pipeline
from synsym.pipeline.registry import stage_list
from synsym.pipeline.runner import check_keys, run_pipeline
from synsym.pipeline.stage import Inputs, LLMStage
from synsym.testing.runs import small_fake_run


class _Stop(Exception):
    pass


def built_engines(
    monkeypatch: pytest.MonkeyPatch, config: Any, tmp_path: Path, stages: Any = None
) -> list[str]:
    """The backend sections the run builds engines for (the run stops right after)."""
    made: list[str] = []
    real = runner.build_engine

    def recording(backend: BackendConfig, where: str, **kw: Any) -> Any:
        made.append(where)
        return real(backend, where, **kw)

    async def stop(*args: Any) -> None:
        raise _Stop

    monkeypatch.setattr(runner, "build_engine", recording)
    monkeypatch.setattr(runner, "_loop", stop)
    with pytest.raises(_Stop):
        run_pipeline(config, tmp_path / "run", progress=False, stages=stages)
    return made


@pytest.mark.parametrize(("method", "judged"), [("embedding", False), ("both", True), ("llm", True)])
def test_the_plan_and_the_run_name_the_same_engines(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, method: str, judged: bool
) -> None:
    cfg = small_fake_run()
    cfg["judge"] = {"method": method, "backend": {"name": "fake", "model": "judge-model"}}
    config = run_config(cfg)
    plan = plan_pipeline(config, tmp_path / "plan", timed=False)
    wheres = {"backend", "judge.backend"} if judged else {"backend"}
    assert set(plan.engines.values()) == wheres
    assert ("judge fake (judge-model)" in plan.backend) is judged
    assert built_engines(monkeypatch, config, tmp_path) == sorted(wheres)


def test_the_key_check_asks_only_for_backends_the_run_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNSYM_TEST_NO_KEY", raising=False)
    cfg = small_fake_run()
    judge = {
        "name": "openai",
        "model": "m",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key_env": "SYNSYM_TEST_NO_KEY",
    }
    cfg["judge"] = {"method": "embedding", "backend": judge}
    check_keys(run_config(cfg))  # the judge asks no model: its key is not needed
    cfg["judge"]["method"] = "llm"
    with pytest.raises(
        InputError, match=r"judge\.backend\.api_key_env -> the environment variable SYNSYM_TEST"
    ):
        check_keys(run_config(cfg))


class CriticConfig(BaseModel):
    """A plugin stage's settings, with a backend of its own."""

    model_config = {"extra": "forbid"}
    backend: BackendConfig | None = Field(None, description="the critic's own backend")


class CriticStage(LLMStage):
    """Asks one question through its own role; makes no rows."""

    name = "critic"
    Config = CriticConfig

    def roles(self, config: Any) -> tuple[str, ...]:
        return ("critic",)

    async def plan(self, ctx: StageContext, inputs: Inputs) -> list[Task]:
        request = ChatRequest(messages=(("user", "Symptom: fatigue; is this post fine?"),), max_tokens=40)
        return [Task(id="critic", request=request, template="critic")]

    def finish(self, ctx: StageContext, result: Result) -> list[Any]:
        assert result.ok
        self.asked = self.engine(ctx).backend.config.model
        return []


def with_critic() -> tuple[Any, ...]:
    stages = list(stage_list())
    stages.insert(len(stages) - 1, CriticStage())
    return tuple(stages)


def test_a_plugin_stage_with_its_own_backend_gets_its_own_engine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stages = with_critic()
    cfg = {**small_fake_run(), "critic": {"backend": {"name": "fake", "model": "critic-model"}}}
    config = run_config(cfg, stages)
    assert engine_backends(stages, config)["critic"][0] == "critic.backend"
    plan = plan_pipeline(config, tmp_path / "plan", stages=stages, timed=False)
    assert plan.engines["critic"] == "critic.backend" and "critic fake (critic-model)" in plan.backend
    assert built_engines(monkeypatch, config, tmp_path, stages) == ["backend", "critic.backend"]
    # without a backend of its own, the critic shares the run's engine
    shared = run_config(small_fake_run(), stages)
    assert engine_backends(stages, shared)["critic"] == ("backend", shared.backend)


def test_a_plugin_stage_asks_through_its_own_engine(tmp_path: Path) -> None:
    stages = with_critic()
    cfg = {**small_fake_run(), "critic": {"backend": {"name": "fake", "model": "critic-model"}}}
    run_pipeline(run_config(cfg, stages), tmp_path / "run", progress=False, stages=stages)
    assert stages[-2].asked == "critic-model"


class InProcessWorker:
    """A worker that holds its object here: enough to drive the engine's worker dispatch without Ray."""

    def __init__(self, body: Any) -> None:
        self.handle = body

    async def call(self, method: str, *args: Any) -> Any:
        out = getattr(self.handle, method)(*args)
        return await out if inspect.isawaitable(out) else out

    async def stop(self) -> None:
        await self.handle.close()


class InlineExecutor(Executor):
    """A plugin executor: `workers` in-process workers, and cells mapped in reverse (to be seen)."""

    name = "inline"
    label = "inline"
    remote = True
    used: ClassVar[list[str]] = []

    class Options(ExecutorOptions):
        workers: PositiveInt = Field(2, description="workers")

    def check(self) -> None:
        InlineExecutor.used.append("check")

    def start_workers(self, body: type, args: tuple[Any, ...], **kw: Any) -> list[tuple[Any, Any]]:
        InlineExecutor.used.append(f"start {self.options.workers}")
        bodies = [body(*args) for _ in range(self.options.workers)]
        return [(InProcessWorker(b), b.ready()) for b in bodies]

    def release(self) -> None:
        InlineExecutor.used.append("release")


@pytest.fixture
def inline() -> Any:
    InlineExecutor.used = []
    register("executors", "inline", InlineExecutor)
    yield InlineExecutor
    unregister("executors", "inline")


def test_a_registered_executor_is_used_by_name(inline: Any, tmp_path: Path) -> None:
    cfg = small_fake_run(seed=3)
    run_pipeline(run_config(cfg), tmp_path / "local", progress=False)
    done = run_pipeline(
        run_config({**cfg, "executor": {"name": "inline", "workers": 3}}), tmp_path / "inline", progress=False
    )
    assert inline.used == ["check", "start 3", "release"]  # one engine: the judge shares the backend
    assert done.manifest["config"]["executor"] == {"name": "inline", "workers": 3}
    read = [pq.read_table(tmp_path / d / "dataset.parquet").to_pylist() for d in ("local", "inline")]
    assert read[0] == read[1]


def test_a_wrong_executor_option_is_refused_naming_the_key(inline: Any) -> None:
    with pytest.raises(ConfigError, match=r"executor\.workers -> "):
        run_config({"executor": {"name": "inline", "workers": 0}})
    with pytest.raises(ConfigError, match=r"executor\.wrokers -> unknown key; did you mean workers"):
        load_run_config(None, ["executor.name=ray", "executor.wrokers=2"])
    with pytest.raises(ConfigError, match=r"executor\.workers is for name: (inline, ray|ray, inline)"):
        load_run_config(None, ["executor.workers=2"])
    with pytest.raises(ConfigError, match=r"executor\.name -> unknown executor 'dask'"):
        load_run_config(None, ["executor.name=dask"])


def test_the_local_executor_maps_in_order() -> None:
    from synsym.core.executor import ExecutorConfig, create_executor

    local = create_executor(ExecutorConfig())
    said: list[str] = []

    def add(item: int, shared: int, say: Callable[[str], None]) -> int:
        say(str(item))
        return item + shared

    assert local.map(add, [1, 2, 3], 10, said.append) == [
        11,
        12,
        13,
    ]
    assert said == ["1", "2", "3"] and asyncio.iscoroutinefunction(InProcessWorker.call)
