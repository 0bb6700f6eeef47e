"""`executor: {name: ray}`: a run's requests answered by Ray actors on a local two-CPU cluster, started
once for the session. The dataset is row for row that of an in-process run (fake backend and a loopback
test server); a worker killed mid-run loses nothing; a missing ray, an unreachable cluster or an unknown
executor option is one clear line and exit code 2."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from synsym.backends.base import ChatRequest, create_backend
from synsym.core.config import BackendConfig
from synsym.core.errors import ConfigError
from synsym.engine.engine import Engine, Result, Task
from synsym.pipeline.config import load_run_config, run_config
from synsym.pipeline.runner import run_pipeline
from synsym.testing.runs import small_fake_run

needs_ray = pytest.mark.skipif(
    find_spec("ray") is None,
    reason="ray is not installed: pip install 'synsym[ray]' (CI installs it with the dev extra)",
)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """One local Ray cluster of two CPUs for the whole session: starting one takes seconds."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def rows(run: Path) -> list[dict[str, Any]]:
    return pq.read_table(run / "dataset.parquet").to_pylist()


def run(cfg: dict[str, Any], out: Path, executor: dict[str, Any] | None = None) -> Any:
    return run_pipeline(run_config({**cfg, "executor": executor or {}}), out, progress=False)


@needs_ray
def test_a_fake_plan_on_ray_is_the_in_process_dataset(ray_cluster: Any, tmp_path: Path) -> None:
    cfg = small_fake_run(seed=5)
    local = run(cfg, tmp_path / "local")
    sharded = run(cfg, tmp_path / "ray", {"name": "ray", "workers": 2})
    assert rows(tmp_path / "ray") == rows(tmp_path / "local")
    assert sharded.counts == local.counts
    calls = local.manifest["usage"]["generator"]["calls"]
    assert sharded.manifest["usage"]["generator"]["calls"] == calls > 0
    # the same cache keys: a Ray run over the in-process run's cache asks nothing
    cached = run(
        {**cfg, "cache": str(tmp_path / "local" / "cache.sqlite")}, tmp_path / "again", {"name": "ray"}
    )
    assert cached.manifest["usage"]["generator"]["calls"] == 0
    assert rows(tmp_path / "again") == rows(tmp_path / "local")


@needs_ray
def test_a_test_server_plan_on_ray_is_the_in_process_dataset(
    ray_cluster: Any, test_server, tmp_path: Path
) -> None:
    cfg = small_fake_run(seed=2)
    cfg["backend"] = {"name": "openai", "model": "m", "base_url": test_server().url, "max_concurrency": 4}
    run(cfg, tmp_path / "local")
    run(cfg, tmp_path / "ray", {"name": "ray", "workers": 2})
    assert rows(tmp_path / "ray") == rows(tmp_path / "local")


def tasks(n: int) -> list[Task]:
    return [
        Task(
            id=str(i), request=ChatRequest(messages=(("user", f"Symptom: fatigue, post {i}"),), max_tokens=60)
        )
        for i in range(n)
    ]


@needs_ray
def test_a_worker_killed_mid_run_loses_nothing(ray_cluster: Any) -> None:
    from synsym.engine.ray_dispatch import RayDispatch

    config = BackendConfig.model_validate({"name": "fake", "latency_s": 0.02, "max_concurrency": 4})
    dispatch = RayDispatch(config, workers=2)
    engine = Engine(create_backend(config), dispatch=dispatch, progress=False)
    seen: list[Result] = []

    def kill_one(result: Result) -> None:
        seen.append(result)
        if len(seen) == 15:
            ray_cluster.kill(dispatch.workers[0])

    engine.on_result = kill_one
    results = engine.run_sync(tasks(80))
    assert all(r.ok for r in results) and engine.stopped is None
    assert [s["state"] for s in dispatch.status()] == ["dead", "up"]
    assert any("ray worker 0" in n and "given up on at once" in n for n in dispatch.notes)
    reference = Engine(create_backend(config), progress=False).run_sync(tasks(80))
    assert [r.text for r in results] == [r.text for r in reference]


@needs_ray
def test_every_worker_gone_stops_the_engine(ray_cluster: Any) -> None:
    from synsym.engine.ray_dispatch import RayDispatch

    config = BackendConfig.model_validate({"name": "fake", "latency_s": 0.05, "max_concurrency": 2})
    dispatch = RayDispatch(config, workers=2)
    engine = Engine(create_backend(config), dispatch=dispatch, progress=False)
    engine.on_result = lambda result: [ray_cluster.kill(w) for w in dispatch.workers]
    results = engine.run_sync(tasks(40))
    assert engine.stopped is not None and "every ray worker was given up on" in engine.stopped.message
    assert sum(r.ok for r in results) < 40 and all(r.ok or r.failure for r in results)


@needs_ray
def test_a_batch_backend_is_refused_on_ray() -> None:
    from synsym.engine.ray_dispatch import RayDispatch

    with pytest.raises(ConfigError, match="provider batches"):
        RayDispatch(BackendConfig.model_validate({"name": "openai-batch", "model": "m"}), workers=1)


def test_unknown_executor_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"executor\.name"):
        load_run_config(None, ["executor.name=dask"])
    with pytest.raises(ConfigError, match=r"executor\.wrokers"):
        load_run_config(None, ["executor.name=ray", "executor.wrokers=2"])
    with pytest.raises(ConfigError, match=r"executor\.workers is for name: ray"):
        load_run_config(None, ["executor.workers=2"])


def generate(tmp_path: Path, executor: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**small_fake_run(), "executor": executor}))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "synsym.cli.main",
            "generate",
            "--config",
            str(path),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_without_ray_the_message_says_how_to_install_it(tmp_path: Path) -> None:
    import os

    fake = tmp_path / "noray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    env = {**os.environ, "PYTHONPATH": str(fake.parent)}
    done = generate(tmp_path, {"name": "ray"}, env)
    assert done.returncode == 2, done.stderr
    assert "pip install 'synsym[ray]'" in done.stderr.splitlines()[-1]
    assert not (tmp_path / "o" / "state.json").exists()


@needs_ray
def test_an_unreachable_cluster_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = generate(tmp_path, {"name": "ray", "address": f"127.0.0.1:{port}"})
    assert done.returncode == 2, done.stderr
    last = done.stderr.splitlines()[-1]
    assert (
        last.startswith("error: executor.address -> no Ray cluster answers at 127.0.0.1:")
        and "ray start" in last
    )


def experiment_config(tmp_path: Path, name: str, executor: dict[str, Any]) -> Any:
    from synsym.classify.experiment import ExperimentConfig
    from test_classify_models import corpus

    for part, ds in (("syn", corpus(90, 0)), ("real", corpus(60, 3))):
        lines = [
            f'"{t}","{[n for n, v in zip(ds.label_names, y, strict=True) if v]}"'
            for t, y in zip(ds.texts, ds.labels, strict=True)
        ]
        (tmp_path / f"{part}.csv").write_text("text,labels\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return ExperimentConfig.model_validate(
        {
            "synthetic": {"path": str(tmp_path / "syn.csv")},
            "test_sets": [
                {
                    "name": "real",
                    "data": {"path": str(tmp_path / "real.csv")},
                    "split": {"kind": "kfold", "k": 2},
                }
            ],
            "models": [{"kind": "tfidf"}, {"kind": "tfidf", "params": {"c": 1.0}, "name": "tfidf-c1"}],
            "seeds": [0, 1],
            "out_dir": str(tmp_path / name),
            "executor": executor,
        }
    )


@needs_ray
def test_experiment_cells_on_ray_give_the_local_table(ray_cluster: Any, tmp_path: Path) -> None:
    from synsym.classify.experiment import run_experiment

    local = run_experiment(experiment_config(tmp_path, "local", {}))
    said: list[str] = []
    on_ray = run_experiment(
        experiment_config(tmp_path, "ray", {"name": "ray", "workers": 2}), progress=said.append
    )
    assert on_ray["runs"] == local["runs"] and len(local["runs"]) == 3 * 2 * 2 * 2
    assert on_ray["markdown"] == local["markdown"]
    assert sum("done on Ray" in line for line in said) == 4  # (2 models x 2 seeds) cells


@needs_ray
def test_an_experiment_cells_error_is_the_local_error(ray_cluster: Any, tmp_path: Path) -> None:
    from synsym.classify.experiment import run_experiment
    from synsym.core.errors import InputError

    cfg = experiment_config(tmp_path, "bad", {"name": "ray", "workers": 1})
    cfg.models[0].params = {"thresholds": "often"}
    with pytest.raises(InputError, match="thresholds must be"):
        run_experiment(cfg)
