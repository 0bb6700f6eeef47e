"""A run says what it is about to do and what happened: the plan first (`--dry-run` stops there); an
endpoint that does not answer stops the run early with one line, exit code 4 and no dataset; a run that
finishes with some failed requests says how many and why."""

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


def generate(config: dict, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "synsym.cli.main",
            "generate",
            "--config",
            str(path),
            "--out",
            str(out),
            *args,
        ],
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
    assert "plan for" in done.stderr  # said what it was about to do
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]  # one line on why
    assert (
        line.startswith("error: stopped: requests to http://127.0.0.1:")
        and line == done.stderr.splitlines()[-1]
    )
    assert "connection" in line and "synsym probe" in line and "no dataset was written" in line
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


def test_the_plan_is_printed_first_and_dry_run_stops_there(tmp_path: Path) -> None:
    cfg = small_fake_run()
    cfg["backend"]["prices"] = {"input_per_mtok": 2.5, "output_per_mtok": 10}
    out = tmp_path / "run"
    done = generate(cfg, out, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "plan for" in done.stderr and "fake" in done.stderr and "judge" in done.stderr
    assert "up to" in done.stderr and "worst case" in done.stderr
    assert not out.exists()  # a dry run writes nothing
    first = generate(cfg, out)
    assert first.returncode == 0 and first.stderr.index("plan for") < first.stderr.index("synsym run in")
    again = generate(cfg, out)
    assert (
        "resuming" in again.stderr
        and "export done" in again.stderr
        and "answers in the cache" in again.stderr
    )


def test_no_config_runs_the_demo_and_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "synsym.cli.main", "generate", "--dry-run", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "no --config: running the built-in demo" in done.stderr and "llamacpp" in done.stderr
    assert "generate" in done.stderr and "up to" not in done.stderr.split("generate")[1].split("\n")[0]
