"""An API key planted in the environment is sent to the server and written nowhere: not in the cache
(its WAL included), not in logs at debug level, not on stdout/stderr, not in results' errors, even
when the server fails or echoes the key back."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import BaseModel

from synsym.backends.base import ChatRequest, create_backend
from synsym.core.errors import ConfigError
from synsym.engine.cache import ResponseCache
from synsym.engine.engine import Engine, Result, Task

ENV = "SYNSYM_TEST_API_KEY"
KEY = "sk-synsym-TEST-" + secrets.token_hex(16)
FAULTS = ["429", "500", "503", "timeout", "malformed", "refusal", "content_filter", "schema_fail", "ok"]


class Answer(BaseModel):
    statement: str


def tasks(n: int, tag: str) -> list[Task]:
    schema = Answer.model_json_schema()
    return [
        Task(
            id=f"{tag}{i}",
            request=ChatRequest(
                messages=(("user", f"Symptom {tag} {i}"),), max_tokens=100, json_schema=schema
            ),
            schema=Answer,
        )
        for i in range(n)
    ]


def files_containing(root: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def assert_clean(results: list[Result]) -> None:
    for r in results:
        for text in (r.error, r.text, r.key, repr(r.task)):
            assert KEY not in (text or "")


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(ENV, KEY)
    return KEY


def echoing_handler(seen: list[str]):
    """A server that fails (500, to be retried, or 401), quoting the credentials it was sent in its error
    message, as some do; the 401's message is long enough that cutting it at 300 characters before
    redacting would leave the first half of the key in it."""

    async def handler(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        seen.append(auth)
        status = 500 if len(seen) % 2 else 401
        padding = "x" * (245 if status == 401 else 0)
        message = f"{padding}Incorrect API key provided: {auth}. You can find your API key at ..."
        return web.json_response(
            {"error": {"message": message, "type": "invalid_request_error"}}, status=status
        )

    return handler


@pytest.mark.parametrize("client", ["openai", "openai-sdk"])
def test_key_is_sent_but_never_written(
    planted: str,
    test_server,
    serve_handler,
    backend_config,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    client: str,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, at debug
    server = test_server(script=FAULTS, retry_after_s=0.01, hang_s=1.0)
    seen: list[str] = []
    echo_url = serve_handler(echoing_handler(seen))
    cache = ResponseCache(tmp_path / "cache.db")
    results: list[Result] = []
    for url, tag in ((server.url, "ok"), (echo_url, "echo")):
        config = backend_config(url, name=client, api_key_env=ENV, timeout_s=0.3, max_retries=2)
        engine = Engine(create_backend(config), cache, progress=True)  # progress to the captured stderr
        results += engine.run_sync(tasks(12, tag))
    cache.flush()
    wal = tmp_path / "cache.db-wal"
    assert wal.exists() and wal.stat().st_size > 0  # scanned while the WAL still holds the new rows
    assert files_containing(tmp_path, KEY) == []
    cache.close()

    assert seen and all(auth == f"Bearer {KEY}" for auth in seen)  # the key was really sent
    answered = [r for r in results if r.ok]
    echoed = [r for r in results if r.task.id.startswith("echo")]
    assert len(answered) >= 9 and len(results) == 24
    assert all(r.failure in ("server_error", "client_error") for r in echoed)
    assert any("Incorrect API key provided: Bearer ***" in (r.error or "") for r in echoed)
    assert_clean(results)
    assert files_containing(tmp_path, KEY) == []
    assert KEY[-12:] not in caplog.text and KEY not in caplog.text
    if client == "openai-sdk":  # the SDK and its HTTP stack log every request at debug
        assert any(r.levelno == logging.DEBUG and r.name.startswith("openai") for r in caplog.records)
    out, err = capfd.readouterr()
    assert KEY[-12:] not in out + err
    assert not [e for e in (r.error or "" for r in results) if KEY[:20] in e]  # not even half of it


@pytest.mark.parametrize("client", ["openai", "openai-sdk"])
def test_probe_cli_at_debug_writes_no_key(planted: str, test_server, tmp_path: Path, client: str) -> None:
    server = test_server(script=["429", "500", "refusal", "schema_fail", "ok"], retry_after_s=0.01)
    cache = tmp_path / "probe" / "cache.db"
    args = [
        sys.executable, "-m", "synsym.cli.main", "--debug", "probe", "--backend", "openai", "-n", "6",
        "--cache", str(cache), "--set", f"backend.base_url={server.url}", "--set", "backend.model=m",
        "--set", f"backend.api_key_env={ENV}", "--set", f"backend.name={client}",
    ]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=os.environ, timeout=120)
    assert proc.returncode == 1, proc.stderr  # the refusal is a failure
    assert "refusal" in proc.stderr and "6 requests" in proc.stderr
    assert "DEBUG" in proc.stderr  # debug logging really was on
    assert KEY not in proc.stdout + proc.stderr and KEY[-12:] not in proc.stdout + proc.stderr
    assert cache.exists() and files_containing(tmp_path, KEY) == []
    assert server.stats()["requests"] >= 8


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch, test_server, backend_config) -> None:
    monkeypatch.delenv("SYNSYM_TEST_UNSET_KEY", raising=False)
    server = test_server()
    config = backend_config(server.url, api_key_env="SYNSYM_TEST_UNSET_KEY")
    results = Engine(create_backend(config), progress=False).run_sync(tasks(2, "m"))
    for r in results:
        assert r.failure == "client_error"
        assert "environment variable SYNSYM_TEST_UNSET_KEY is not set" in (r.error or "")
        assert "backend.api_key_env" in (r.error or "")
    assert server.stats()["requests"] == 0  # nothing sent without the key


def test_a_key_given_as_the_variable_name_is_refused_without_echoing_it(backend_config) -> None:
    config = backend_config("http://127.0.0.1:9/v1", api_key_env=KEY)  # a common slip: the key, not its name
    with pytest.raises(ConfigError) as info:
        create_backend(config)
    assert "backend.api_key_env" in str(info.value) and KEY not in str(info.value)
    assert KEY[:20] not in str(info.value)
