"""The response cache: key stability and sensitivity, read-your-writes before the group commit, and
the SQLite file under a killed writer and under two concurrent writer processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from synsym.backends.base import ChatRequest, ChatResponse, Usage, create_backend
from synsym.core.config import BackendConfig
from synsym.core.errors import BackendError
from synsym.engine.cache import ResponseCache, request_key
from synsym.engine.engine import Engine, Task

IDENTITY = {"backend": "openai", "model": "m"}
SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}
REQUEST = ChatRequest(
    messages=(("user", "Symptom: fatigue"),), temperature=0.5, max_tokens=64, json_schema=SCHEMA
)
# sha256 of the canonical form; if this changes, old caches silently miss: bump KEY_VERSION on purpose
GOLDEN = "ca0e2bb6524e66fe6c3b0dec03ff4eac874b85945629947187e9cceb82c39675"


def key(
    identity: dict[str, Any] = IDENTITY,
    request: ChatRequest = REQUEST,
    sample: int = 0,
    template: str = "tpl-v1",
):
    return request_key(identity, request.as_dict(), sample, template)


def test_key_is_stable() -> None:
    assert key() == GOLDEN
    reordered = ChatRequest(
        messages=REQUEST.messages, temperature=0.5, max_tokens=64,
        json_schema={"properties": {"a": {"type": "string"}}, "type": "object"},
    )  # fmt: skip
    assert key(request=reordered) == GOLDEN  # dict order does not matter
    code = textwrap.dedent(f"""
        from synsym.backends.base import ChatRequest
        from synsym.engine.cache import request_key
        r = ChatRequest(messages=(("user", "Symptom: fatigue"),), temperature=0.5, max_tokens=64,
                        json_schema={SCHEMA!r})
        print(request_key({IDENTITY!r}, r.as_dict(), 0, "tpl-v1"))
    """)
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == GOLDEN  # the same in another process, whatever its hash seed


def changed(**fields: Any) -> ChatRequest:
    return replace(REQUEST, **fields)


CHANGES = {
    "sample": {"sample": 1},
    "template": {"template": "tpl-v2"},
    "no-schema": {"request": changed(json_schema=None)},
    "schema": {"request": changed(json_schema={"type": "object", "properties": {"b": {"type": "string"}}})},
    "messages": {"request": changed(messages=(("user", "Symptom: insomnia"),))},
    "system-message": {"request": changed(messages=(("system", "Be brief."), *REQUEST.messages))},
    "temperature": {"request": changed(temperature=0.7)},
    "max_tokens": {"request": changed(max_tokens=65)},
    "seed": {"request": changed(seed=1)},
    "model": {"identity": {"backend": "openai", "model": "m2"}},
    "backend": {"identity": {"backend": "fake", "model": "m"}},
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_key_changes_with_what_determines_the_answer(change: dict[str, Any]) -> None:
    assert key(**change) != GOLDEN


def test_engine_key_depends_on_model_and_backend_settings() -> None:
    task = Task(id="t", request=REQUEST, template="tpl-v1")

    def engine_key(**config: Any) -> str:
        values = {"name": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", **config}
        return Engine(create_backend(BackendConfig.model_validate(values)), progress=False).key(task, REQUEST)

    base = engine_key()
    assert engine_key() == base
    assert engine_key(model="other") != base
    assert engine_key(extra_body={"top_p": 0.9}) != base
    # where the server is, how hard we push it, and which key we use do not change an answer
    assert engine_key(base_url="http://127.0.0.1:10/v1", max_concurrency=99, api_key_env="SOME_KEY") == base


def response(i: int, size: int = 20) -> ChatResponse:
    return ChatResponse(
        text=f"answer {i} " + "x" * size, usage=Usage(i, 2 * i), model="m", finish_reason="stop"
    )


def test_put_is_visible_before_flush_and_persists(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "sub" / "cache.db")
    try:
        for i in range(200):
            cache.put(f"k{i}", response(i))
        assert cache.get("k0") == response(0)  # readable at once, committed or not
        found = cache.get_many([f"k{i}" for i in range(0, 200, 3)] + ["missing", "k0"])
        assert set(found) == {f"k{i}" for i in range(0, 200, 3)}
        assert found["k99"] == response(99)
        assert cache.get("missing") is None
        assert len(cache) == 200
    finally:
        cache.close()
    reopened = ResponseCache(tmp_path / "sub" / "cache.db")
    try:
        assert reopened.get("k199") == response(199)
        assert len(reopened.get_many(f"k{i}" for i in range(1200))) == 200  # more keys than one chunk
        refusal = ChatResponse(text="", refusal="no", finish_reason="content_filter")
        reopened.put("r", refusal)
        reopened.flush()
        assert reopened.get("r") == refusal
        reopened.put("k1", response(1000))  # an answer already stored is kept
        reopened.flush()
        assert reopened.get("k1") == response(1)
    finally:
        reopened.close()


_WRITER = """
import sys
import time
from synsym.backends.base import ChatResponse, Usage
from synsym.engine.cache import ResponseCache

path, tag, start, count, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cache = ResponseCache(path)
for i in range(start, start + count):
    # every field is derived from i, so a row can be checked whole
    cache.put(f"k{i}", ChatResponse(text=f"{i}:" + tag * size, usage=Usage(i, 2 * i), model=tag))
    if i % 20 == 0:
        time.sleep(0.001)  # paced, so that many group commits happen and a kill lands amid them
    if i == start + 50:
        cache.flush()
        print("flushed", flush=True)
cache.close()
print("done", flush=True)
"""


def run_writer(path: Path, tag: str, start: int, count: int, size: int) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", _WRITER, str(path), tag, str(start), str(count), str(size)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def check_rows(path: Path, tags: set[str]) -> list[int]:
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows = db.execute(
            "SELECT key, text, model, prompt_tokens, completion_tokens FROM responses"
        ).fetchall()
    finally:
        db.close()
    ids = []
    for key_, text, model, prompt_tokens, completion_tokens in rows:
        i = int(key_[1:])
        prefix, _, body = text.partition(":")
        assert model in tags and prefix == str(i) and body and set(body) == {model}, key_
        assert (prompt_tokens, completion_tokens) == (i, 2 * i)
        ids.append(i)
    return ids


def test_killed_writer_leaves_whole_rows(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    proc = run_writer(path, "a", 0, 200_000, 1000)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "flushed"
        ids: list[int] = []
        deadline = time.monotonic() + 30
        while len(ids) < 300:  # let it get well into writing, then kill it mid-stream
            assert proc.poll() is None and time.monotonic() < deadline, "the writer stopped early"
            time.sleep(0.02)
            ids = check_rows(path, {"a"})
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    ids = check_rows(path, {"a"})
    assert 300 <= len(ids) < 200_000
    cache = ResponseCache(path)  # still usable as a cache
    try:
        assert cache.get("k0") is not None and len(cache) == len(ids)
    finally:
        cache.close()


def test_two_processes_write_one_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    # 1,500 keys each, 500 of them shared (k1000..k1499)
    procs = [run_writer(path, "a", 0, 1500, 300), run_writer(path, "b", 1000, 1500, 300)]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.split() == ["flushed", "done"]
    ids = check_rows(path, {"a", "b"})
    assert sorted(ids) == list(range(2500))


def test_a_failing_writer_stops_the_run_instead_of_losing_answers(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache._db.execute("DROP TABLE responses")  # what a removed or corrupted file looks like to the writer
    cache.put("k1", ChatResponse(text="x"))
    with pytest.raises(BackendError, match="cannot be written"):
        cache.flush()
    with pytest.raises(BackendError, match="cannot be written"):
        cache.put("k2", ChatResponse(text="y"))
