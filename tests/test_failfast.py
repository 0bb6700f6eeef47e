"""A run that cannot work says so: an endpoint that does not answer stops the run early with one line,
exit code 4 and no dataset; a run that finishes with some failed requests says how many and why."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from synsym.testing.runs import small_fake_run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def generate(config: dict, out: Path) -> subprocess.CompletedProcess[str]:
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [sys.executable, "-m", "synsym.cli.main", "generate", "--config", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def openai_run(url: str, **backend: object) -> dict:
    cfg = small_fake_run()
    cfg["backend"] = {"name": "openai", "base_url": url, "model": "m", "max_retries": 2, **backend}
    return cfg


def test_an_endpoint_that_does_not_answer_stops_the_run(tmp_path: Path) -> None:
    start = time.monotonic()
    done = generate(openai_run(f"http://127.0.0.1:{free_port()}/v1"), tmp_path / "run")
    assert time.monotonic() - start < 30
    assert done.returncode == 4, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: stopped: requests to http://127.0.0.1:")
    assert "connection" in lines[0] and "synsym probe" in lines[0] and "no dataset was written" in lines[0]
    assert "Traceback" not in done.stderr
    run = tmp_path / "run"
    assert not (run / "dataset.parquet").exists() and not (run / "README.md").exists()
    assert (run / "cache.sqlite").exists()  # what was answered (nothing, here) is kept


def test_a_refused_key_stops_the_run(tmp_path: Path, test_server, serve_handler) -> None:
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "Incorrect API key provided"}}, status=401)

    done = generate(openai_run(serve_handler(handler)), tmp_path / "run")
    assert done.returncode == 4 and "HTTP 401" in done.stderr and "api_key_env" in done.stderr
    assert not (tmp_path / "run" / "dataset.parquet").exists()


def test_a_run_with_some_failed_requests_says_how_many_and_why(tmp_path: Path, test_server) -> None:
    server = test_server(p_500=0.08, seed=3)
    done = generate(openai_run(server.url, max_retries=0, max_concurrency=4), tmp_path / "run")
    assert done.returncode == 0, done.stderr
    assert "request(s) failed (server_error" in done.stderr and "dropped.parquet" in done.stderr
    assert (tmp_path / "run" / "dataset.parquet").exists()
