"""openai-batch and anthropic-batch against the loopback fakes: whole pipeline runs equal to online ones,
partial failures, expiry with partial output, malformed lines, slow finalizing, re-asks, the budget, bad
input (exit 2), and SIGKILL at every crash point followed by a rerun that creates no duplicate batch,
bills no line twice and ends with the dataset of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from synsym.backends.openai_batch import OpenAIBatchBackend
from synsym.core.errors import BudgetExceeded
from synsym.engine.batch_ledger import LEDGER, batch_records
from synsym.engine.cache import ResponseCache
from synsym.pipeline.config import run_config
from synsym.pipeline.runner import run_pipeline
from synsym.testing.anthropic_server import AnthropicServer, AnthropicServerConfig
from synsym.testing.openai_batch_server import BatchServerConfig, OpenAIBatchServer
from synsym.testing.runs import small_fake_run
from synsym.testing.server import ServerConfig, TestServer

KEY, ENV = "sk-batch-test-key", "SYNSYM_TEST_BATCH_KEY"
FAST = {"poll_interval_s": 0.02, "collect_s": 0.05}
INSTANT = {"validating_s": 0, "in_progress_s": 0, "finalizing_s": 0}


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)


def backend(name: str, url: str, model: str = "fake-model", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "base_url": url,
        "model": model,
        "api_key_env": ENV,
        "max_retries": 3,
        **(FAST if name.endswith("-batch") else {}),
        **extra,
    }


def run(run_dir: Path, backend_config: dict[str, Any], **config: Any) -> Any:
    data = {**small_fake_run(), "backend": backend_config, **config}
    return run_pipeline(run_config(data), run_dir, progress=False)


def rows(run_dir: Path) -> list[dict[str, Any]]:
    return pq.read_table(run_dir / "dataset.parquet").to_pylist()


def answers(run_dir: Path) -> int:
    cache = ResponseCache(run_dir / "cache.sqlite")
    try:
        return len(cache)
    finally:
        cache.close()


class Pump:
    """Moves a fake's simulated clock while a run waits on it (time is the test's to give)."""

    def __init__(self, advance: Callable[[float], Any], step: float = 20.0) -> None:
        self.advance, self.step, self.on = advance, step, threading.Event()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            if self.on.is_set():
                self.advance(self.step)

    def __enter__(self) -> Pump:
        self.on.set()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join()


@pytest.fixture
def fake() -> Iterator[Callable[..., OpenAIBatchServer]]:
    started: list[OpenAIBatchServer] = []

    def start(**config: Any) -> OpenAIBatchServer:
        server = OpenAIBatchServer(BatchServerConfig(api_key=KEY, **config)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# --- whole runs in process ------------------------------------------------------------------------


def test_batch_run_equals_online_run_and_shares_its_cache(
    fake: Callable[..., OpenAIBatchServer], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    online_fake, batch_fake = fake(), fake(finalizing_s=600)
    run(tmp_path / "online", backend("openai", online_fake.url))
    caplog.set_level("INFO", logger="synsym.batch")
    with Pump(batch_fake.advance):
        result = run(tmp_path / "batch", backend("openai-batch", batch_fake.url))
    assert rows(tmp_path / "batch") == rows(tmp_path / "online")  # same fake answers, same dataset
    stats = batch_fake.stats()
    assert stats["online_requests"] == 0 and stats["double_billed"] == []
    assert stats["lines_billed"] == answers(tmp_path / "batch") == online_fake.stats()["online_requests"]
    assert set(stats["batches_by_metadata"].values()) == {1}
    ledger = batch_records(tmp_path / "batch")
    assert {r["state"] for r in ledger} == {"collected"} and len(ledger) == stats["batches_created"]
    assert all(r["status"] == "completed" and r["cost"] == 0 for r in ledger)
    said = " | ".join(r.getMessage() for r in caplog.records)
    assert "validating" in said and "in_progress" in said and "finalizing" in said and "downloading" in said
    assert result.counts["kept"] > 100
    # an online run on the batch run's cache asks for nothing again
    again = fake()
    run(tmp_path / "again", backend("openai", again.url), cache=str(tmp_path / "batch" / "cache.sqlite"))
    assert again.stats()["online_requests"] == 0
    for path in tmp_path.joinpath("batch").rglob("*"):  # the key is never written anywhere
        assert not path.is_file() or KEY.encode() not in path.read_bytes(), path


def test_partial_failures_are_resubmitted_and_never_billed_twice(
    fake: Callable[..., OpenAIBatchServer], tmp_path: Path
) -> None:
    server = fake(**INSTANT, p_5xx=0.08, p_4xx=0.02, p_refusal=0.02, p_schema_fail=0.04, p_length=0.02)
    result = run(tmp_path / "a", backend("openai-batch", server.url))
    stats = server.stats()
    assert stats["double_billed"] == [] and stats["lines_billed"] == answers(tmp_path / "a")
    assert stats["lines_failed"] > 0 and stats["batches_created"] > 3  # a further round for the 5xx lines
    failed = result.counts["failed_by_class"]
    assert set(failed) <= {"client_error", "refusal", "invalid_output", "truncated", "server_error"}
    assert failed.get("client_error", 0) >= 1  # an injected 400 line fails as the online request would


def test_expired_batches_keep_what_they_completed(
    fake: Callable[..., OpenAIBatchServer], tmp_path: Path
) -> None:
    """Every batch expires with 80% done: the done lines are kept (and billed once), the rest go again,
    at most max_retries more times, then fail with the reason."""
    server = fake(validating_s=0, in_progress_s=200, completion_window_s=100, expire_fraction=0.8)
    config = backend("openai-batch", server.url, max_retries=1, stop_failure_share=1.0)
    with Pump(server.advance, step=50):
        result = run(tmp_path / "a", config)
    stats = server.stats()
    assert set(stats["batches_by_status"]) == {"expired"}
    assert stats["double_billed"] == [] and stats["lines_billed"] == answers(tmp_path / "a")
    assert result.counts["kept"] > 100 and result.counts["failed_by_class"]["timeout"] > 0
    dropped = pq.read_table(tmp_path / "a" / "dropped.parquet").to_pylist()
    assert all("expired" in r["drop_detail"] for r in dropped if r["drop_class"] == "timeout")
    with sqlite3.connect(tmp_path / "a" / LEDGER) as db:  # one round, then one more at most
        assert (
            db.execute(
                "SELECT MAX(c) FROM (SELECT COUNT(*) c FROM batch_lines GROUP BY custom_id)"
            ).fetchone()[0]
            == 2
        )


def test_malformed_lines(
    fake: Callable[..., OpenAIBatchServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A garbled result line is sent again; an input line the provider refuses fails alone."""
    server = fake(**INSTANT, reject_malformed_at_upload=True)
    download, line = OpenAIBatchBackend.download, OpenAIBatchBackend.line
    broken: list[str] = []

    async def garble(self: OpenAIBatchBackend, info: Any) -> list[bytes]:
        got = await download(self, info)
        if not broken:
            broken.append(json.loads(got[0])["custom_id"])
            got[0] = got[0][: len(got[0]) // 2]
        return got

    def refused(self: OpenAIBatchBackend, custom_id: str, request: Any) -> bytes:
        if len(broken) == 1:
            broken.append(custom_id)
            return b'{"custom_id": "' + custom_id.encode() + b'", "method": "POST"}'
        return line(self, custom_id, request)

    monkeypatch.setattr(OpenAIBatchBackend, "download", garble)
    monkeypatch.setattr(OpenAIBatchBackend, "line", refused)
    result = run(tmp_path / "a", backend("openai-batch", server.url))
    stats = server.stats()
    assert stats["double_billed"] == broken[:1]  # the garbled answer was paid for, then asked again
    assert result.counts["failed_by_class"] == {"client_error": 1}  # only the refused line
    dropped = pq.read_table(tmp_path / "a" / "dropped.parquet").to_pylist()
    assert any(r["request_key"] == broken[1] and "refused" in r["drop_detail"] for r in dropped)


def test_reasks_go_online_when_asked(fake: Callable[..., OpenAIBatchServer], tmp_path: Path) -> None:
    server = fake(**INSTANT, p_schema_fail=0.1)
    run(tmp_path / "a", backend("openai-batch", server.url, reask="online"))
    stats = server.stats()
    assert stats["online_requests"] > 5 and stats["double_billed"] == []
    assert stats["lines_billed"] + stats["online_requests"] == answers(tmp_path / "a")


def test_azure_batches_with_online_reasks(fake: Callable[..., OpenAIBatchServer], tmp_path: Path) -> None:
    server = fake(**INSTANT, p_schema_fail=0.05)
    azure = {"query": {"api-version": "2024-10-21"}, "api_key_header": "api-key", "reask": "online"}
    run(tmp_path / "a", backend("openai-batch", f"{server.origin}/openai", **azure))
    stats = server.stats()
    assert stats["batches_created"] >= 3 and stats["online_requests"] > 0 and stats["double_billed"] == []
    assert stats["lines_billed"] + stats["online_requests"] == answers(tmp_path / "a")


def test_limits_split_batches(fake: Callable[..., OpenAIBatchServer], tmp_path: Path) -> None:
    server = fake(**INSTANT)
    run(
        tmp_path / "a",
        backend("openai-batch", server.url, max_requests_per_batch=40, max_enqueued_tokens=40_000),
    )
    ledger = batch_records(tmp_path / "a")
    assert len(ledger) >= 9 and max(r["n"] for r in ledger) <= 40
    assert server.stats()["double_billed"] == []


def test_budget_is_reserved_before_a_batch_is_created(
    fake: Callable[..., OpenAIBatchServer], tmp_path: Path
) -> None:
    server = fake(**INSTANT)
    prices = {"input_per_mtok": 1000.0, "output_per_mtok": 1000.0}
    config = backend("openai-batch", server.url, prices=prices)
    with pytest.raises(BudgetExceeded):
        run(tmp_path / "a", config, max_cost=3.0)
    billed = [r for r in batch_records(tmp_path / "a") if r["state"] == "collected"]
    assert sum(r["cost"] for r in billed) <= 3.0  # recorded at the batch price: half of the list price
    first = server.stats()["lines_billed"]
    run(tmp_path / "a", config, max_cost=1000.0)
    stats = server.stats()
    assert stats["double_billed"] == [] and stats["lines_billed"] > first


# --- bad input: exit code 2 -------------------------------------------------------------------------


def cli_config(tmp_path: Path, backend_config: dict[str, Any]) -> str:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**small_fake_run(), "backend": backend_config}))
    return str(path)


def test_bad_input_exits_2(
    fake: Callable[..., OpenAIBatchServer],
    tmp_path: Path,
    synsym_cli: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    plain = TestServer(ServerConfig()).start()  # chat completions only: no /files, no /batches
    try:
        cases = [
            (backend("openai-batch", plain.url), "does not serve the Batch API"),
            (
                backend("openai-batch", fake(models=["fake-model"]).url, model="gpt-x"),
                "backend.model -> 'gpt-x'",
            ),
            (backend("openai-batch", "http://127.0.0.1:9/v1", poll_every=3), "backend.poll_every"),
            (
                backend("anthropic-batch", plain.url.removesuffix("/v1"), model="claude-x"),
                "does not serve the Message Batches",
            ),
        ]
        for i, (config, message) in enumerate(cases):
            code = synsym_cli(
                "generate", "--config", cli_config(tmp_path, config), "--out", str(tmp_path / f"r{i}")
            )
            err = capsys.readouterr().err
            assert code == 2 and message in " ".join(err.split()), err
            assert "Traceback" not in err and KEY not in err
    finally:
        plain.stop()


# --- SIGKILL at each crash point, then a rerun ------------------------------------------------------


def post(url: str, body: Any = None) -> Any:
    data = json.dumps(body or {}).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read())


def stats_of(origin: str) -> Any:
    with urllib.request.urlopen(f"{origin}/_stats", timeout=10) as response:
        return json.loads(response.read())


def ledger_rows(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / LEDGER
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            db.row_factory = sqlite3.Row
            return [dict(r) for r in db.execute("SELECT * FROM batches ORDER BY created")]
    except sqlite3.Error:
        return []


def baseline(provider: str, run_dir: Path) -> tuple[list[Any], int]:
    """The dataset of an uninterrupted batch run and the lines it needed."""
    os.environ[ENV] = KEY
    if provider == "openai":
        with OpenAIBatchServer(BatchServerConfig(api_key=KEY, **INSTANT)) as s:
            run(run_dir, backend("openai-batch", s.url))
            return rows(run_dir), s.stats()["lines_billed"]
    with AnthropicServer(AnthropicServerConfig(api_key=KEY, processing_s=0)) as a:
        run(run_dir, backend("anthropic-batch", a.url, model="claude-fake"))
        return rows(run_dir), a.stats()["lines_billed"]


def at(point: str, second: dict[str, Any], stats: dict[str, Any]) -> bool:
    """Whether the second batch has reached the crash point (the process is held there, or polls)."""
    if point in ("intent", "uploaded"):
        return second["state"] == point and stats["batches_created"] == 1
    if point == "created":
        return stats["batches_created"] == 2 and second["batch_id"] is None
    if point == "polling":
        return second["state"] == "created" and second["status"] not in (None, "completed", "ended")
    return second["state"] == "created" and second["status"] in ("completed", "ended")  # downloaded


def crash_and_rerun(
    provider: str,
    point: str,
    expected: tuple[list[Any], int],
    tmp_path: Path,
    between: Callable[[Path, str], None] | None = None,
) -> dict[str, Any]:
    """Run `synsym generate` in a subprocess against a fake that outlives it, SIGKILL it when the second
    batch reaches `point`, call `between(run_dir, origin)`, rerun it to the end and check that no batch
    was created twice, no line billed twice, and the dataset is the uninterrupted run's. The fake's
    batches finish at once, except when the kill is while polling: then the test gives them time."""
    module = "openai_batch_server" if provider == "openai" else "anthropic_server"
    slow = point == "polling"
    if provider == "openai":
        durations = ["--validating-s", "0", "--finalizing-s", "0", "--in-progress-s", "60" if slow else "0"]
    else:
        durations = ["--processing-s", "60" if slow else "0"]
    cmd = [sys.executable, "-m", f"synsym.testing.{module}", "--port", "0", "--api-key", KEY, *durations]
    fake_proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert fake_proc.stdout is not None
        url = fake_proc.stdout.readline().strip()
        origin = url.removesuffix("/v1")
        name, model = (
            ("openai-batch", "fake-model") if provider == "openai" else ("anthropic-batch", "claude-fake")
        )
        config = cli_config(tmp_path, backend(name, url, model=model))
        run_dir = tmp_path / "run"
        env = {**os.environ, ENV: KEY}
        if not slow:
            env["SYNSYM_BATCH_HOLD"] = f"{point}:2"  # the second batch: the first one's answers are in
        cmd = [sys.executable, "-m", "synsym.cli.main", "generate", "--config", config, "--out", str(run_dir)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        reached, deadline = False, time.monotonic() + 60
        while not reached and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            ledger, stats = ledger_rows(run_dir), stats_of(origin)
            reached = len(ledger) > 1 and at(point, ledger[1], stats)
            if slow and len(ledger) == 1 and ledger[0]["state"] == "created":
                post(f"{origin}/_clock", {"advance_s": 120})  # let the first batch finish
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert reached, f"{point} was not reached: {proc.stderr.read() if proc.stderr else ''}"
        if between is not None:
            between(run_dir, origin)
        stop = threading.Event()

        def pump() -> None:
            while slow and not stop.wait(0.1):
                post(f"{origin}/_clock", {"advance_s": 120})

        pumping = threading.Thread(target=pump, daemon=True)
        pumping.start()
        env.pop("SYNSYM_BATCH_HOLD", None)
        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        stop.set()
        pumping.join()
        assert rerun.returncode == 0, rerun.stderr
        dataset, needed = expected
        stats = stats_of(origin)
        assert stats["double_billed"] == [] and stats["lines_billed"] == needed
        created = [r for r in ledger_rows(run_dir) if r["batch_id"]]
        assert stats["batches_created"] == len(created) == len({r["batch_id"] for r in created})
        if provider == "openai":
            assert set(stats["batches_by_metadata"].values()) == {1}  # no token was created twice
        assert rows(run_dir) == dataset
        return dict(stats)
    finally:
        fake_proc.terminate()
        fake_proc.wait(10)


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], int]:
    return baseline("openai", tmp_path_factory.mktemp("baseline"))


@pytest.mark.parametrize(
    "point",
    [
        "intent",  # before upload: the intent is saved, nothing sent
        "uploaded",  # between upload and create
        "created",  # between create returning and the local save of its id
        "polling",  # while the batch is in progress (then `batches list` and `batches cancel`)
        "downloaded",  # after downloading, before the answers are in the cache
    ],
)
def test_sigkill_then_rerun_pays_for_nothing_twice(
    point: str,
    expected: tuple[list[Any], int],
    tmp_path: Path,
    synsym_cli: Callable[..., int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    def cancel(run_dir: Path, origin: str) -> None:
        post(f"{origin}/_clock", {"advance_s": 30})  # half of the second batch is done
        assert synsym_cli("batches", "list", str(run_dir)) == 0
        assert "2 batch(es)" in capsys.readouterr().out
        assert synsym_cli("batches", "cancel", str(run_dir)) == 0
        assert stats_of(origin)["cancels"] == 1
        assert batch_records(run_dir)[1]["status"] == "cancelling"

    stats = crash_and_rerun("openai", point, expected, tmp_path, cancel if point == "polling" else None)
    if point == "polling":  # the cancelled batch kept its finished half
        assert stats["batches_by_status"].get("cancelled") == 1
