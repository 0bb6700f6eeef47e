"""The failures the providers document (audit ../shared/audits/provider-apis.md, issue 17), each through
the fake's knob that models it: whole runs that must bill no line twice, create no batch twice, lose no
line and end with the dataset of an undisturbed run; and the small pieces (parsing, the ledger, error
mapping, cancel) where a whole run would be slow to say what went wrong."""

from __future__ import annotations

import asyncio
import email.utils
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from synsym.backends.anthropic_batch import AnthropicBatchBackend
from synsym.backends.base import EndpointError
from synsym.backends.batch_base import BatchInfo
from synsym.backends.openai_batch import OpenAIBatchBackend
from synsym.backends.openai_batch import info as openai_info
from synsym.backends.openai_http import _seconds, http_error
from synsym.core.config import BackendConfig
from synsym.engine.batch_ledger import LEDGER, Ledger, batch_records, cancel_batches
from synsym.testing.anthropic_server import AnthropicServer, AnthropicServerConfig
from synsym.testing.openai_batch_server import BatchServerConfig, OpenAIBatchServer
from test_batch_backends import INSTANT, KEY, Pump, answers, backend, rows, run

CLAUDE = "claude-fake"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNSYM_TEST_BATCH_KEY", KEY)


@pytest.fixture
def openai_fake() -> Iterator[Callable[..., OpenAIBatchServer]]:
    started: list[OpenAIBatchServer] = []

    def start(**config: Any) -> OpenAIBatchServer:
        started.append(OpenAIBatchServer(BatchServerConfig(api_key=KEY, **config)).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def anthropic_fake() -> Iterator[Callable[..., AnthropicServer]]:
    started: list[AnthropicServer] = []

    def start(**config: Any) -> AnthropicServer:
        started.append(AnthropicServer(AnthropicServerConfig(api_key=KEY, **config)).start())
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    """The datasets of undisturbed batch runs, one per provider."""
    os.environ["SYNSYM_TEST_BATCH_KEY"] = KEY  # the autouse fixture is function-scoped
    out = {}
    with OpenAIBatchServer(BatchServerConfig(api_key=KEY, **INSTANT)) as s:
        out["openai"] = rows_of(run(tmp_path_factory.mktemp("o") / "r", backend("openai-batch", s.url)))
    with AnthropicServer(AnthropicServerConfig(api_key=KEY, processing_s=0)) as a:
        config = backend("anthropic-batch", a.url, model=CLAUDE)
        out["anthropic"] = rows_of(run(tmp_path_factory.mktemp("a") / "r", config))
    return out


def rows_of(result: Any) -> list[Any]:
    return rows(result.run_dir)


def no_double_billing(stats: dict[str, Any], run_dir: Path) -> None:
    assert stats["double_billed"] == [] and stats["lines_billed"] == answers(run_dir)
    assert all(n == 1 for n in stats["batches_by_metadata"].values())  # no token created twice


# --- finding 2: a create whose answer is lost --------------------------------------------------------


def test_lost_create_replies_bill_nothing_twice_openai(
    openai_fake: Callable[..., OpenAIBatchServer], tmp_path: Path, clean: dict[str, list[Any]]
) -> None:
    """Half the creates make the batch and drop the connection (with other requests arriving while the
    lines would wait for a retry): the batch is found by its token, never made twice."""
    server = openai_fake(**INSTANT, p_drop_create=0.5, foreign_batches=1)
    result = run(tmp_path / "a", backend("openai-batch", server.url, max_requests_per_batch=40))
    stats = server.stats()
    no_double_billing(stats, tmp_path / "a")
    assert rows(tmp_path / "a") == clean["openai"] and not result.counts["failed_by_class"]
    records = batch_records(tmp_path / "a")
    assert stats["batches_created"] == len(records) and {r["state"] for r in records} == {"collected"}


def test_lost_create_replies_among_foreign_batches_anthropic(
    anthropic_fake: Callable[..., AnthropicServer], tmp_path: Path, clean: dict[str, list[Any]]
) -> None:
    """Anthropic keeps no token: an unanswered create is looked for by size and time among a Workspace
    where another client made a batch of the same size a second earlier. The foreign batch is adopted
    first, its results prove it another's, and the search goes on to this run's own batch."""
    server = anthropic_fake(processing_s=0, p_drop_create=0.5, foreign_batches=1)
    config = backend("anthropic-batch", server.url, model=CLAUDE, max_requests_per_batch=40)
    result = run(tmp_path / "a", config)
    stats = server.stats()
    assert stats["double_billed"] == [] and stats["lines_billed"] == answers(tmp_path / "a")
    records = batch_records(tmp_path / "a")
    assert stats["batches_created"] == len(records) and {r["state"] for r in records} == {"collected"}
    assert rows(tmp_path / "a") == clean["anthropic"] and not result.counts["failed_by_class"]
    ledger = Ledger(tmp_path / "a" / LEDGER)
    foreign = ledger.db.execute("SELECT COUNT(*) FROM foreign_batches").fetchone()[0]
    ledger.close()
    assert foreign >= 1  # a foreign batch was adopted, then proven another's


# --- finding 3 and 5: the provider's queue is full ---------------------------------------------------


def test_openai_token_limit_exceeded_waits_for_room(
    openai_fake: Callable[..., OpenAIBatchServer], tmp_path: Path, clean: dict[str, list[Any]]
) -> None:
    """Over the per-model enqueued-token limit, a created batch fails with token_limit_exceeded: its lines
    wait for room and go again without spending a retry (max_retries is 0 here)."""
    server = openai_fake(validating_s=0, in_progress_s=60, finalizing_s=0, max_enqueued_tokens=12_000)
    config = backend("openai-batch", server.url, max_requests_per_batch=40, max_retries=0)
    with Pump(server.advance):
        result = run(tmp_path / "a", config)
    stats = server.stats()
    assert stats["batches_by_status"].get("failed", 0) >= 1  # the queue was full at least once
    assert not result.counts["failed_by_class"] and rows(tmp_path / "a") == clean["openai"]
    assert stats["double_billed"] == [] and stats["lines_billed"] == answers(tmp_path / "a")


def test_anthropic_processing_queue_429_waits_for_room(
    anthropic_fake: Callable[..., AnthropicServer], tmp_path: Path, clean: dict[str, list[Any]]
) -> None:
    """Anthropic counts queued requests: a create over the limit is a 429, and the lines wait."""
    server = anthropic_fake(processing_s=60, max_processing_requests=60)
    config = backend("anthropic-batch", server.url, model=CLAUDE, max_requests_per_batch=40, max_retries=0)
    with Pump(server.advance):
        result = run(tmp_path / "a", config)
    assert not result.counts["failed_by_class"] and rows(tmp_path / "a") == clean["anthropic"]
    stats = server.stats()
    assert stats["creates_refused"] > 0 and stats["double_billed"] == []
    assert {r["state"] for r in batch_records(tmp_path / "a")} == {"collected"}


def test_max_enqueued_requests_keeps_under_a_known_limit(
    anthropic_fake: Callable[..., AnthropicServer], tmp_path: Path
) -> None:
    server = anthropic_fake(processing_s=60, max_processing_requests=60)
    config = backend(
        "anthropic-batch", server.url, model=CLAUDE, max_enqueued_requests=60, max_requests_per_batch=40
    )
    with Pump(server.advance):
        run(tmp_path / "a", config)
    assert server.stats()["creates_refused"] == 0  # never over the limit


# --- finding 4: results the provider deleted ---------------------------------------------------------


def test_deleted_results_fail_only_their_batch(
    openai_fake: Callable[..., OpenAIBatchServer],
    tmp_path: Path,
    clean: dict[str, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first download comes after the 30-day retention (the fake's clock jumps past it): that batch
    is `gone` and its lines go again with a note; the other open batches are collected as usual."""
    server = openai_fake(**INSTANT, output_retention_s=30 * 86_400.0)
    download, late = OpenAIBatchBackend.download, []

    async def after_a_month(self: OpenAIBatchBackend, info: BatchInfo) -> list[bytes]:
        if not late:
            late.append(info.id)
            server.advance(31 * 86_400)
        return await download(self, info)

    monkeypatch.setattr(OpenAIBatchBackend, "download", after_a_month)
    result = run(tmp_path / "a", backend("openai-batch", server.url, max_requests_per_batch=40))
    records = batch_records(tmp_path / "a")
    gone = [r for r in records if r["state"] == "gone"]
    assert [r["batch_id"] for r in gone] == late and len(records) > 2
    assert {r["state"] for r in records} == {"gone", "collected"}
    assert rows(tmp_path / "a") == clean["openai"] and not result.counts["failed_by_class"]
    assert any("results are gone" in n for n in result.notes)
    assert len(server.stats()["double_billed"]) == gone[0]["n"]  # only the deleted batch's lines again


def test_archived_anthropic_results_are_gone_before_download() -> None:
    ended = {"id": "msgbatch_1", "processing_status": "ended", "created_at": "2026-01-01T00:00:00Z",
             "results_url": "https://x/results", "request_counts": {"succeeded": 2}}  # fmt: skip
    assert not _anthropic_info({**ended, "created_at": _rfc(time.time())}).results_gone
    assert _anthropic_info({**ended, "archived_at": "2026-01-30T00:00:00Z"}).results_gone
    assert _anthropic_info(ended).results_gone  # created more than 29 days ago


def _anthropic_info(b: dict[str, Any]) -> BatchInfo:
    from synsym.backends.anthropic_batch import info

    return info(b)


def _rfc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# --- finding 6: adoption bounded in time, verified, and never cancelled ------------------------------


def anthropic_backend(url: str) -> AnthropicBatchBackend:
    config = {
        "name": "anthropic-batch",
        "base_url": url,
        "model": CLAUDE,
        "api_key_env": "SYNSYM_TEST_BATCH_KEY",
    }
    return AnthropicBatchBackend(BackendConfig.model_validate(config))


def test_size_adoption_has_an_upper_time_bound() -> None:
    b = anthropic_backend("http://127.0.0.1:9")
    row = {"token": "t", "file_id": None, "n": 5, "created": 1000.0, "attempted": 1010.0}
    late = 1010.0 + 86_400  # a day after the create was tried: another's, whatever its size
    listing = [
        BatchInfo("later", "ended", True, 5, 5, 0, late),
        BatchInfo("mine", "ended", True, 5, 5, 0, 1011.0),
    ]
    assert b.find(listing, row, set()) is not None and b.find(listing, row, set()).id == "mine"  # type: ignore[union-attr]
    assert b.find(listing[:1], row, set()) is None


def test_cancel_leaves_a_batch_matched_only_by_size(
    anthropic_fake: Callable[..., AnthropicServer], tmp_path: Path
) -> None:
    """A teammate's batch of the same size is in the Workspace; this run's row lost its id. `batches
    cancel` must not cancel what it cannot prove is this run's."""
    server = anthropic_fake(processing_s=600)
    b = anthropic_backend(server.url)
    ledger = Ledger(tmp_path / LEDGER)
    ledger.intent("synsym-t", b, ["a", "b", "c"], "dead-owner")
    ledger.close()

    async def teammate() -> None:
        params = (
            b'"params":{"model":"claude-fake","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}'
        )
        await b.create([b'{"custom_id":"x%d",%s}' % (i, params) for i in range(3)], None, "")
        await b.aclose()

    asyncio.run(teammate())
    (row,) = cancel_batches(tmp_path)
    assert server.stats()["cancels"] == 0 and "by size only" in row["detail"] and row["proof"] == "size"


# --- finding 7: create before the file is processed --------------------------------------------------


def test_create_waits_until_the_file_is_processed(
    openai_fake: Callable[..., OpenAIBatchServer], tmp_path: Path, clean: dict[str, list[Any]]
) -> None:
    server = openai_fake(**INSTANT, file_processing_s=30)
    config = backend("openai-batch", server.url)
    with Pump(server.advance, step=1.0):
        result = run(tmp_path / "a", config)
    assert not result.counts["failed_by_class"] and rows(tmp_path / "a") == clean["openai"]
    assert server.stats()["files_uploaded"] == server.stats()["batches_created"]


# --- finding 9: Azure's preview shapes ---------------------------------------------------------------


def test_azure_preview_iso_timestamps_and_capitalised_statuses(
    openai_fake: Callable[..., OpenAIBatchServer], tmp_path: Path, clean: dict[str, list[Any]]
) -> None:
    server = openai_fake(**INSTANT, azure_preview=True)
    azure = {"query": {"api-version": "2024-07-01-preview"}, "api_key_header": "api-key"}
    result = run(tmp_path / "a", backend("openai-batch", f"{server.origin}/openai", **azure))
    assert not result.counts["failed_by_class"] and rows(tmp_path / "a") == clean["openai"]
    no_double_billing(server.stats(), tmp_path / "a")
    assert {r["status"] for r in batch_records(tmp_path / "a")} == {"completed"}


def test_an_unreadable_create_answer_keeps_the_batch(
    openai_fake: Callable[..., OpenAIBatchServer],
    tmp_path: Path,
    clean: dict[str, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Create answered 200 with something synsym cannot read: the batch exists and bills, so its row
    stays open and the batch is found by its token instead of being orphaned and made again."""
    import synsym.backends.openai_batch as module

    read, broken = module.info, []

    def unreadable(b: dict[str, Any]) -> BatchInfo:
        if not broken:  # the first batch object read is the first create's answer
            broken.append(b["id"])
            raise ValueError("could not convert string to float")
        return read(b)

    monkeypatch.setattr(module, "info", unreadable)
    server = openai_fake(**INSTANT)
    result = run(tmp_path / "a", backend("openai-batch", server.url))
    assert broken and not result.counts["failed_by_class"] and rows(tmp_path / "a") == clean["openai"]
    assert broken[0] in {r["batch_id"] for r in batch_records(tmp_path / "a")}
    no_double_billing(server.stats(), tmp_path / "a")


def test_batch_objects_parse_whatever_the_timestamp_form() -> None:
    from synsym.backends.batch_util import epoch

    made = openai_info({"id": "b", "status": "Completed", "created_at": "2024-07-19T17:13:57.2491382+00:00"})
    assert made.ended and made.status == "completed" and made.created_at == pytest.approx(1721409237.249138)
    assert epoch(1721409237) == 1721409237.0 and epoch(None) == 0.0 and epoch("2024-07-19T17:13:57Z") > 0


# --- finding 10: a renewed intent keeps its file ------------------------------------------------------


def test_a_renewed_intent_keeps_the_file_and_first_time(tmp_path: Path) -> None:
    b = anthropic_backend("http://127.0.0.1:9")
    ledger = Ledger(tmp_path / LEDGER)
    ledger.intent("synsym-t", b, ["a", "b"], "me")
    ledger.update("synsym-t", state="uploaded", file_id="file-1")
    first = ledger.rows()[0]["created"]
    time.sleep(0.01)
    ledger.intent("synsym-t", b, ["a", "b"], "me")
    (row,) = ledger.rows()
    assert row["file_id"] == "file-1" and row["created"] == first
    ledger.close()


# --- finding 13: cancelling a batch that ended meanwhile ---------------------------------------------


def test_cancel_survives_a_batch_that_ended_meanwhile(
    openai_fake: Callable[..., OpenAIBatchServer], tmp_path: Path
) -> None:
    server = openai_fake(**INSTANT)
    config = backend("openai-batch", server.url)
    b = OpenAIBatchBackend(BackendConfig.model_validate(config))
    line = b'{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"fake-model",' \
        b'"messages":[{"role":"user","content":"hi"}],"max_tokens":5}}'  # fmt: skip

    async def make() -> str:
        file_id = await b.upload(line + b"\n")
        made = await b.create([line], file_id, "synsym-x")
        await b.get(made.id)  # completes at once
        await b.aclose()
        return made.id

    batch_id = asyncio.run(make())
    ledger = Ledger(tmp_path / LEDGER)
    ledger.intent("synsym-x", b, ["a"], "dead-owner")
    ledger.update("synsym-x", state="created", batch_id=batch_id)
    ledger.close()
    (row,) = cancel_batches(tmp_path)  # the fake answers 409: cancel, then read its status
    assert row["status"] == "completed" and server.stats()["cancels"] == 0


# --- finding 14: retry-after-ms, HTTP dates, insufficient_quota; and the timeouts --------------------


def test_retry_after_ms_dates_and_insufficient_quota() -> None:
    from synsym.backends.openai_http import retry_after

    assert retry_after({"retry-after-ms": "1500", "retry-after": "3"}) == "1.5"
    assert retry_after({"retry-after": "3"}) == "3"
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (_seconds(date) or 0) <= 30
    quota = b'{"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota",' \
        b' "code": "insufficient_quota"}}'  # fmt: skip
    error = http_error(429, quota, None)
    assert isinstance(error, EndpointError) and error.kind == "quota"
    assert not isinstance(http_error(429, b'{"error": {"code": "rate_limit_exceeded"}}', "1"), EndpointError)


def test_an_exhausted_quota_stops_the_run_with_what_to_do(
    openai_fake: Callable[..., OpenAIBatchServer], tmp_path: Path
) -> None:
    server = openai_fake(**INSTANT, quota_lines=0)
    with pytest.raises(Exception, match="quota"):
        run(tmp_path / "a", backend("openai-batch", server.url, max_retries=6))
    assert server.stats()["batches_created"] == 0


def test_each_call_has_its_own_timeout() -> None:
    b = anthropic_backend("http://127.0.0.1:9")
    o = b.options
    assert o.upload_timeout_s >= 1800 and o.poll_timeout_s == 60
    assert [b.http.timeout(k) for k in ("upload", "create", "get", "list", "download")] == [
        o.upload_timeout_s,
        o.create_timeout_s,
        o.poll_timeout_s,
        o.poll_timeout_s,
        o.download_timeout_s,
    ]
