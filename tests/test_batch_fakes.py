"""The loopback batch-API fakes over real HTTP with a plain urllib client: each lifecycle on the
simulated clock, the documented file/line/result shapes, pagination, Azure paths, auth, partial
failure, expiry with partial output, cancel, and a ledger that bills each completed line once."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from synsym.backends.schemas import to_dialect
from synsym.testing.anthropic_server import AnthropicServer, AnthropicServerConfig
from synsym.testing.openai_batch_server import BatchServerConfig, OpenAIBatchServer

KEY = "sk-test"
BEARER = {"Authorization": f"Bearer {KEY}"}
ANTHROPIC = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 0, "maximum": 5}, "reason": {"type": "string"}},
    "required": ["score", "reason"],
}


def call(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, parsed JSON, or text for other content types); HTTP errors are answers, not raised."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if body is not None and not isinstance(body, bytes):
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw, kind = response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        status, raw, kind = error.code, error.read(), error.headers.get_content_type()
    return status, json.loads(raw) if kind == "application/json" else raw.decode()


def upload(base: str, data: bytes, headers: dict[str, str], query: str = "") -> tuple[int, Any]:
    boundary = "synsym-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="in.jsonl"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    multipart = {**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    return call("POST", f"{base}/files{query}", body, multipart)


def chat_line(cid: str, url: str = "/v1/chat/completions", **body: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": f"Symptom: fatigue ({cid})"}]
    return {
        "custom_id": cid,
        "method": "POST",
        "url": url,
        "body": {"model": "m", "messages": messages, **body},
    }


def jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def read_jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


@pytest.fixture
def openai_fake() -> Iterator[Any]:
    started: list[OpenAIBatchServer] = []

    def start(**config: Any) -> OpenAIBatchServer:
        server = OpenAIBatchServer(BatchServerConfig(api_key=KEY, **config)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def anthropic_fake() -> Iterator[Any]:
    started: list[AnthropicServer] = []

    def start(**config: Any) -> AnthropicServer:
        server = AnthropicServer(AnthropicServerConfig(api_key=KEY, **config)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def submit(
    server: OpenAIBatchServer, rows: list[Any], base: str = "", headers: Any = None, **extra: Any
) -> Any:
    base, headers = base or server.url, headers or BEARER
    status, f = upload(base, jsonl(rows), headers)
    assert status == 200, f
    body = {"input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h", **extra}
    status, batch = call("POST", f"{base}/batches", body, headers)
    assert status == 200, batch
    return batch


def get(server: OpenAIBatchServer, batch_id: str) -> Any:
    return call("GET", f"{server.url}/batches/{batch_id}", headers=BEARER)[1]


def content(server: OpenAIBatchServer, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    status, text = call("GET", f"{server.url}/files/{file_id}/content", headers=BEARER)
    assert status == 200
    return read_jsonl(text)


# --- OpenAI ---------------------------------------------------------------------------------------


def test_openai_lifecycle_file_and_line_shapes(openai_fake: Any) -> None:
    server = openai_fake(validating_s=2, in_progress_s=60, finalizing_s=3)
    rows = [chat_line(f"r{i}") for i in range(6)]
    status, f = upload(server.url, jsonl(rows), BEARER)
    assert status == 200
    assert set(f) >= {"id", "object", "bytes", "created_at", "filename", "purpose", "status"}
    assert (f["object"], f["purpose"], f["bytes"], f["filename"]) == (
        "file",
        "batch",
        len(jsonl(rows)),
        "in.jsonl",
    )
    body = {"input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    status, batch = call("POST", f"{server.url}/batches", {**body, "metadata": {"run": "t1"}}, BEARER)
    assert status == 200 and batch["object"] == "batch" and batch["status"] == "validating"
    assert batch["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    assert batch["expires_at"] - batch["created_at"] == 86_400 and batch["metadata"] == {"run": "t1"}
    assert batch["output_file_id"] is None and batch["in_progress_at"] is None

    server.advance(2)
    assert get(server, batch["id"])["status"] == "in_progress"
    server.advance(30)
    half = get(server, batch["id"])
    assert half["request_counts"] == {"total": 6, "completed": 3, "failed": 0}
    server.advance(30)
    assert get(server, batch["id"])["status"] == "finalizing"
    server.advance(3)
    done = get(server, batch["id"])
    assert done["status"] == "completed" and done["error_file_id"] is None
    assert (
        done["completed_at"] - done["finalizing_at"] == 3
        and done["finalizing_at"] - done["in_progress_at"] == 60
    )

    status, out_file = call("GET", f"{server.url}/files/{done['output_file_id']}", headers=BEARER)
    assert out_file["purpose"] == "batch_output"
    lines = content(server, done["output_file_id"])
    assert sorted(line["custom_id"] for line in lines) == [f"r{i}" for i in range(6)]
    line = lines[0]
    assert set(line) == {"id", "custom_id", "response", "error"} and line["error"] is None
    assert line["id"].startswith("batch_req_") and set(line["response"]) == {
        "status_code",
        "request_id",
        "body",
    }
    completion = line["response"]["body"]
    assert line["response"]["status_code"] == 200 and completion["object"] == "chat.completion"
    assert completion["choices"][0]["finish_reason"] == "stop" and set(completion["usage"]) >= {
        "prompt_tokens"
    }
    # the answer is a function of (seed, body): the online endpoint gives the same one
    original = next(r for r in rows if r["custom_id"] == line["custom_id"])
    status, online = call("POST", f"{server.url}/chat/completions", original["body"], BEARER)
    assert online["choices"][0]["message"]["content"] == completion["choices"][0]["message"]["content"]

    stats = server.stats()
    assert stats["batches_created"] == 1 and stats["batches_by_metadata"] == {"run=t1": 1}
    assert stats["files_uploaded"] == 1 and stats["lines_billed"] == 6 and stats["double_billed"] == []
    assert call("GET", f"{server.origin}/_stats")[1]["lines_billed"] == 6
    status, deleted = call("DELETE", f"{server.url}/files/{f['id']}", headers=BEARER)
    assert deleted == {"id": f["id"], "object": "file", "deleted": True}
    assert call("GET", f"{server.url}/files/{f['id']}", headers=BEARER)[0] == 404


def test_openai_partial_failure_and_answer_faults(openai_fake: Any) -> None:
    server = openai_fake(
        script=["4xx", "5xx", "refusal", "schema_fail", "length", "ok"], shuffle_output=False
    )
    schema = {"type": "json_schema", "json_schema": {"name": "J", "schema": SCHEMA}}
    batch = submit(server, [chat_line(f"r{i}", response_format=schema) for i in range(6)])
    server.advance(100)
    done = get(server, batch["id"])
    assert done["status"] == "completed"
    assert done["request_counts"] == {"total": 6, "completed": 4, "failed": 2}
    errors = content(server, done["error_file_id"])
    assert [(e["custom_id"], e["response"]["status_code"]) for e in errors] == [("r0", 400), ("r1", 500)]
    assert all(
        e["error"] is None and set(e["response"]["body"]["error"]) >= {"message", "type"} for e in errors
    )
    out = {
        line["custom_id"]: line["response"]["body"]["choices"][0]
        for line in content(server, done["output_file_id"])
    }
    assert out["r2"]["message"]["content"] is None and out["r2"]["message"]["refusal"]
    assert json.loads(out["r3"]["message"]["content"]) == {"unexpected": True}
    assert out["r4"]["finish_reason"] == "length"
    assert set(json.loads(out["r5"]["message"]["content"])) == {"score", "reason"}
    stats = server.stats()
    assert (
        stats["lines_billed"] == 4 and stats["lines_failed"] == 2 and "r0" not in stats["billed_by_custom_id"]
    )


def test_openai_expiry_keeps_partial_output(openai_fake: Any) -> None:
    server = openai_fake(expire_fraction=0.5)
    batch = submit(server, [chat_line(f"r{i}") for i in range(4)])
    server.advance(3600)
    assert get(server, batch["id"])["status"] == "in_progress"
    server.advance(86_400)
    expired = get(server, batch["id"])
    assert expired["status"] == "expired" and expired["expired_at"] == expired["expires_at"]
    assert len(content(server, expired["output_file_id"])) == 2
    errors = content(server, expired["error_file_id"])
    assert len(errors) == 2
    message = "This request could not be executed before the completion window expired."
    assert all(
        e["response"] is None and e["error"] == {"code": "batch_expired", "message": message} for e in errors
    )
    assert server.stats()["lines_billed"] == 2


def test_openai_cancel_keeps_completed_lines(openai_fake: Any) -> None:
    server = openai_fake(in_progress_s=40, cancelling_s=5)
    batch = submit(server, [chat_line(f"r{i}") for i in range(4)])
    server.advance(2 + 20)
    status, cancelling = call("POST", f"{server.url}/batches/{batch['id']}/cancel", headers=BEARER)
    assert status == 200 and cancelling["status"] == "cancelling" and cancelling["cancelling_at"]
    assert (
        call("POST", f"{server.url}/batches/{batch['id']}/cancel", headers=BEARER)[1]["status"]
        == "cancelling"
    )
    server.advance(100)
    cancelled = get(server, batch["id"])
    assert cancelled["status"] == "cancelled" and cancelled["cancelled_at"] - cancelled["cancelling_at"] == 5
    assert len(content(server, cancelled["output_file_id"])) == 2
    assert {e["error"]["code"] for e in content(server, cancelled["error_file_id"])} == {"batch_cancelled"}
    assert call("POST", f"{server.url}/batches/{batch['id']}/cancel", headers=BEARER)[0] == 409
    stats = server.stats()
    assert stats["cancels"] == 1 and stats["lines_billed"] == 2


def test_openai_malformed_input_fails_validation_or_upload(openai_fake: Any) -> None:
    server = openai_fake()
    rows = jsonl([chat_line("a"), chat_line("a"), chat_line("b", url="/v1/embeddings")]) + b"not json\n"
    status, f = upload(server.url, rows, BEARER)
    assert status == 200
    body = {"input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    batch = call("POST", f"{server.url}/batches", body, BEARER)[1]
    server.advance(5)
    failed = get(server, batch["id"])
    assert failed["status"] == "failed" and failed["failed_at"] and failed["output_file_id"] is None
    assert failed["errors"]["object"] == "list"
    found = {(e["code"], e["line"]) for e in failed["errors"]["data"]}
    assert found == {("duplicate_custom_id", 2), ("url_mismatch", 3), ("invalid_json_line", 4)}
    assert server.stats()["lines_billed"] == 0

    strict = openai_fake(reject_malformed_at_upload=True)
    status, error = upload(strict.url, rows, BEARER)
    assert status == 400 and error["error"]["type"] == "invalid_request_error"


def test_openai_limits_and_request_validation(openai_fake: Any) -> None:
    server = openai_fake(max_requests_per_batch=3, max_input_bytes=2_000)
    too_big = jsonl([chat_line(f"r{i}", pad="x" * 500) for i in range(4)])
    assert upload(server.url, too_big, BEARER)[0] == 400
    batch = submit(server, [chat_line(f"r{i}") for i in range(4)])
    server.advance(5)
    assert [e["code"] for e in get(server, batch["id"])["errors"]["data"]] == ["too_many_tasks"]
    f = upload(server.url, jsonl([chat_line("a")]), BEARER)[1]
    body = {"input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    assert call("POST", f"{server.url}/batches", {**body, "completion_window": "1h"}, BEARER)[0] == 400
    many = {f"k{i}": "v" for i in range(17)}
    assert call("POST", f"{server.url}/batches", {**body, "metadata": many}, BEARER)[0] == 400
    assert call("POST", f"{server.url}/batches", {**body, "endpoint": "/v1/embeddings"}, BEARER)[0] == 400


def test_openai_list_pagination_newest_first(openai_fake: Any) -> None:
    server = openai_fake()
    ids = [submit(server, [chat_line("a")])["id"] for _ in range(5)][::-1]
    page = call("GET", f"{server.url}/batches?limit=2", headers=BEARER)[1]
    assert page["object"] == "list" and [b["id"] for b in page["data"]] == ids[:2]
    assert (page["first_id"], page["last_id"], page["has_more"]) == (ids[0], ids[1], True)
    page = call("GET", f"{server.url}/batches?limit=2&after={page['last_id']}", headers=BEARER)[1]
    assert [b["id"] for b in page["data"]] == ids[2:4] and page["has_more"]
    page = call("GET", f"{server.url}/batches?limit=2&after={page['last_id']}", headers=BEARER)[1]
    assert [b["id"] for b in page["data"]] == ids[4:] and not page["has_more"]
    assert len(call("GET", f"{server.url}/batches", headers=BEARER)[1]["data"]) == 5


def test_openai_auth_and_azure_paths(openai_fake: Any) -> None:
    server = openai_fake()
    status, error = call("GET", f"{server.url}/batches")
    assert status == 401 and error["error"]["type"] == "invalid_request_error"
    status, error = call("GET", f"{server.url}/batches", headers={"Authorization": "Bearer wrong"})
    assert status == 401 and error["error"]["code"] == "invalid_api_key"

    azure, key = f"{server.origin}/openai", {"api-key": KEY}
    status, error = call("GET", f"{azure}/batches", headers=key)
    assert status == 404 and error == {"error": {"code": "404", "message": "Resource not found"}}
    status, error = call("GET", f"{azure}/batches?api-version=2024-10-21", headers={"api-key": "wrong"})
    assert status == 401 and error["error"]["code"] == "401"
    azure_rows = jsonl([chat_line("a", url="/chat/completions")])
    assert upload(azure, azure_rows, key)[0] == 404  # every Azure path needs api-version
    status, f = upload(azure, azure_rows, key, "?api-version=2024-10-21")
    assert status == 200 and f["object"] == "file"
    body = {"input_file_id": f["id"], "endpoint": "/chat/completions", "completion_window": "24h"}
    status, batch = call("POST", f"{azure}/batches?api-version=2024-10-21", body, key)
    assert status == 200 and batch["endpoint"] == "/chat/completions"
    server.advance(100)
    done = call("GET", f"{azure}/batches/{batch['id']}?api-version=2024-10-21", headers=key)[1]
    assert done["status"] == "completed" and done["request_counts"]["completed"] == 1
    v1 = call("GET", f"{server.origin}/openai/v1/batches/{batch['id']}", headers=key)[1]
    assert v1["id"] == batch["id"]
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    url = f"{azure}/deployments/dep/chat/completions?api-version=2024-10-21"
    assert call("POST", url, chat, key)[1]["model"] == "dep"


@pytest.mark.parametrize("azure_expires", [False, True])
def test_azure_batches_expire_only_when_asked(openai_fake: Any, azure_expires: bool) -> None:
    server = openai_fake(in_progress_s=2 * 86_400, azure_expires=azure_expires)
    azure, key, version = f"{server.origin}/openai", {"api-key": KEY}, "?api-version=2024-10-21"
    f = upload(azure, jsonl([chat_line("a", url="/chat/completions")]), key, version)[1]
    body = {"input_file_id": f["id"], "endpoint": "/chat/completions", "completion_window": "24h"}
    batch = call("POST", f"{azure}/batches{version}", body, key)[1]
    server.advance(86_400 + 10)  # past the window, with the line not yet done
    status = call("GET", f"{azure}/batches/{batch['id']}{version}", headers=key)[1]["status"]
    assert status == ("expired" if azure_expires else "in_progress")


def test_openai_double_billing_is_visible(openai_fake: Any) -> None:
    server = openai_fake()
    for _ in range(2):  # a backend that resubmits lines it already has would pay twice
        submit(server, [chat_line("a"), chat_line("b")])
    server.advance(100)
    stats = server.stats()
    assert stats["billed_by_custom_id"] == {"a": 2, "b": 2} and stats["double_billed"] == ["a", "b"]
    assert stats["batches_by_status"] == {"completed": 2}


# --- Anthropic ------------------------------------------------------------------------------------


def message_params(text: str = "Symptom: insomnia", **extra: Any) -> dict[str, Any]:
    return {"model": "claude-x", "max_tokens": 512, "messages": [{"role": "user", "content": text}], **extra}


def test_anthropic_messages_shapes_and_errors(anthropic_fake: Any) -> None:
    server = anthropic_fake()
    url = f"{server.url}/v1/messages"
    status, msg = call("POST", url, message_params(), ANTHROPIC)
    assert status == 200 and msg["type"] == "message" and msg["role"] == "assistant"
    assert msg["id"].startswith("msg_") and msg["stop_reason"] == "end_turn" and msg["stop_sequence"] is None
    assert msg["content"][0]["type"] == "text" and msg["content"][0]["text"]
    assert set(msg["usage"]) >= {"input_tokens", "output_tokens"}
    assert call("POST", url, message_params(), ANTHROPIC)[1] == msg  # deterministic in the body

    fmt = {"format": {"type": "json_schema", "schema": to_dialect(SCHEMA, "anthropic")}}
    structured = call("POST", url, message_params(output_config=fmt), ANTHROPIC)[1]
    assert set(json.loads(structured["content"][0]["text"])) == {"score", "reason"}
    raw = {"format": {"type": "json_schema", "schema": SCHEMA}}  # outside the documented subset
    status, error = call("POST", url, message_params(output_config=raw), ANTHROPIC)
    assert status == 400 and "'additionalProperties' must be explicitly set to false" in str(error)
    status, error = call("POST", url, message_params(output_format=fmt["format"]), ANTHROPIC)
    assert status == 400 and "structured-outputs-2025-11-13" in str(error)  # the beta mode needs its header
    beta = {**ANTHROPIC, "anthropic-beta": "structured-outputs-2025-11-13"}
    legacy = call("POST", url, message_params(output_format=fmt["format"]), beta)[1]
    assert set(json.loads(legacy["content"][0]["text"])) == {"score", "reason"}
    tool = {"name": "judge", "description": "d", "input_schema": SCHEMA}
    forced = message_params(tools=[tool], tool_choice={"type": "tool", "name": "judge"})
    used = call("POST", url, forced, ANTHROPIC)[1]
    assert used["stop_reason"] == "tool_use" and used["content"][0]["type"] == "tool_use"
    assert used["content"][0]["name"] == "judge" and set(used["content"][0]["input"]) == {"score", "reason"}
    short = call("POST", url, {**message_params(), "max_tokens": 2}, ANTHROPIC)[1]
    assert short["stop_reason"] == "max_tokens" and len(short["content"][0]["text"]) <= 8

    status, error = call("POST", url, message_params(), {"x-api-key": KEY})
    assert status == 400 and error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    status, error = call("POST", url, message_params(), {**ANTHROPIC, "x-api-key": "wrong"})
    assert status == 401 and error["error"]["type"] == "authentication_error" and error["request_id"]
    status, error = call("POST", url, {"model": "m", "messages": []}, ANTHROPIC)
    assert status == 400 and error["error"]["type"] == "invalid_request_error"


def batch_requests(n: int, **params: Any) -> dict[str, Any]:
    return {
        "requests": [
            {"custom_id": f"q{i}", "params": message_params(f"Symptom {i}", **params)} for i in range(n)
        ]
    }


def test_anthropic_batch_lifecycle_and_result_shapes(anthropic_fake: Any) -> None:
    server = anthropic_fake(processing_s=60)
    base = f"{server.url}/v1/messages/batches"
    status, batch = call("POST", base, batch_requests(4), ANTHROPIC)
    assert status == 200 and batch["type"] == "message_batch" and batch["id"].startswith("msgbatch_")
    assert batch["processing_status"] == "in_progress" and batch["results_url"] is None
    assert batch["request_counts"] == {
        "processing": 4,
        "succeeded": 0,
        "errored": 0,
        "canceled": 0,
        "expired": 0,
    }
    assert batch["ended_at"] is None and batch["cancel_initiated_at"] is None and batch["archived_at"] is None
    assert batch["created_at"].endswith("Z") and "metadata" not in batch
    assert call("GET", f"{base}/{batch['id']}/results", headers=ANTHROPIC)[0] == 400

    server.advance(30)  # half done, yet every request counts as processing until the batch ends
    assert call("GET", f"{base}/{batch['id']}", headers=ANTHROPIC)[1]["request_counts"]["processing"] == 4
    server.advance(30)
    ended = call("GET", f"{base}/{batch['id']}", headers=ANTHROPIC)[1]
    assert ended["processing_status"] == "ended" and ended["ended_at"]
    assert ended["request_counts"] == {
        "processing": 0,
        "succeeded": 4,
        "errored": 0,
        "canceled": 0,
        "expired": 0,
    }
    assert ended["results_url"] == f"{base}/{batch['id']}/results"
    status, text = call("GET", ended["results_url"], headers=ANTHROPIC)
    results = read_jsonl(text)
    assert sorted(r["custom_id"] for r in results) == ["q0", "q1", "q2", "q3"]
    assert {r["result"]["type"] for r in results} == {"succeeded"}
    assert all(r["result"]["message"]["type"] == "message" for r in results)
    stats = server.stats()
    assert stats["batches_created"] == 1 and stats["lines_billed"] == 4 and stats["double_billed"] == []
    deleted = call("DELETE", f"{base}/{batch['id']}", headers=ANTHROPIC)[1]
    assert deleted == {"id": batch["id"], "type": "message_batch_deleted"}


def test_anthropic_errored_refusal_and_expiry(anthropic_fake: Any) -> None:
    server = anthropic_fake(script=["errored", "refusal"], expire_fraction=0.75)
    base = f"{server.url}/v1/messages/batches"
    reqs = batch_requests(3)
    reqs["requests"].append({"custom_id": "bad", "params": {"model": "m", "messages": []}})
    batch = call("POST", base, reqs, ANTHROPIC)[1]
    server.advance(3600)
    assert call("GET", f"{base}/{batch['id']}", headers=ANTHROPIC)[1]["processing_status"] == "in_progress"
    server.advance(86_400)
    ended = call("GET", f"{base}/{batch['id']}", headers=ANTHROPIC)[1]
    assert ended["ended_at"] == ended["expires_at"]
    assert ended["request_counts"] == {
        "processing": 0,
        "succeeded": 2,
        "errored": 1,
        "canceled": 0,
        "expired": 1,
    }
    results = {
        r["custom_id"]: r["result"]
        for r in read_jsonl(call("GET", ended["results_url"], headers=ANTHROPIC)[1])
    }
    assert results["q0"]["type"] == "errored" and results["q0"]["error"]["type"] == "error"
    assert results["q0"]["error"]["error"]["type"] == "api_error"
    assert results["q1"]["message"]["stop_reason"] == "refusal"
    assert results["q2"]["type"] == "succeeded" and results["bad"] == {"type": "expired"}
    stats = server.stats()
    assert stats["lines_billed"] == 2 and stats["lines_failed"] == 1


def test_anthropic_invalid_params_are_errored_results(anthropic_fake: Any) -> None:
    server = anthropic_fake()
    base = f"{server.url}/v1/messages/batches"
    reqs = {
        "requests": [
            {"custom_id": "bad", "params": {"model": "m", "messages": [{"role": "user", "content": "x"}]}}
        ]
    }
    batch = call("POST", base, reqs, ANTHROPIC)[1]
    server.advance(100)
    result = read_jsonl(call("GET", f"{base}/{batch['id']}/results", headers=ANTHROPIC)[1])[0]["result"]
    assert result["type"] == "errored" and result["error"]["error"]["type"] == "invalid_request_error"
    assert server.stats()["lines_billed"] == 0


def test_anthropic_cancel(anthropic_fake: Any) -> None:
    server = anthropic_fake(processing_s=40, canceling_s=5)
    base = f"{server.url}/v1/messages/batches"
    batch = call("POST", base, batch_requests(4), ANTHROPIC)[1]
    assert call("DELETE", f"{base}/{batch['id']}", headers=ANTHROPIC)[0] == 400  # cancel first
    server.advance(20)
    canceling = call("POST", f"{base}/{batch['id']}/cancel", headers=ANTHROPIC)[1]
    assert canceling["processing_status"] == "canceling" and canceling["cancel_initiated_at"]
    server.advance(5)
    ended = call("GET", f"{base}/{batch['id']}", headers=ANTHROPIC)[1]
    assert ended["processing_status"] == "ended"
    assert ended["request_counts"] == {
        "processing": 0,
        "succeeded": 2,
        "errored": 0,
        "canceled": 2,
        "expired": 0,
    }
    kinds = sorted(
        r["result"]["type"] for r in read_jsonl(call("GET", ended["results_url"], headers=ANTHROPIC)[1])
    )
    assert kinds == ["canceled", "canceled", "succeeded", "succeeded"]
    assert call("POST", f"{base}/{batch['id']}/cancel", headers=ANTHROPIC)[0] == 400
    stats = server.stats()
    assert stats["cancels"] == 1 and stats["lines_billed"] == 2


def test_anthropic_create_validation(anthropic_fake: Any) -> None:
    server = anthropic_fake(max_requests_per_batch=2)
    base = f"{server.url}/v1/messages/batches"
    assert call("POST", base, batch_requests(3), ANTHROPIC)[0] == 400
    assert call("POST", base, {"requests": []}, ANTHROPIC)[0] == 400
    dup = {"requests": [{"custom_id": "a", "params": message_params()}] * 2}
    status, error = call("POST", base, dup, ANTHROPIC)
    assert status == 400 and error["error"]["type"] == "invalid_request_error"
    bad_id = {"requests": [{"custom_id": "has space", "params": message_params()}]}
    assert call("POST", base, bad_id, ANTHROPIC)[0] == 400
    assert call("GET", base, headers={"anthropic-version": "2023-06-01"})[0] == 401
    assert server.stats()["batches_created"] == 0


def test_anthropic_list_pagination(anthropic_fake: Any) -> None:
    server = anthropic_fake()
    base = f"{server.url}/v1/messages/batches"
    ids = [call("POST", base, batch_requests(1), ANTHROPIC)[1]["id"] for _ in range(5)][::-1]
    first = call("GET", f"{base}?limit=2", headers=ANTHROPIC)[1]
    assert [b["id"] for b in first["data"]] == ids[:2] and first["has_more"]
    assert (first["first_id"], first["last_id"]) == (ids[0], ids[1])
    second = call("GET", f"{base}?limit=2&after_id={first['last_id']}", headers=ANTHROPIC)[1]
    assert [b["id"] for b in second["data"]] == ids[2:4] and second["has_more"]
    back = call("GET", f"{base}?limit=2&before_id={second['first_id']}", headers=ANTHROPIC)[1]
    assert [b["id"] for b in back["data"]] == ids[:2] and not back["has_more"]
    last = call("GET", f"{base}?limit=2&after_id={second['last_id']}", headers=ANTHROPIC)[1]
    assert [b["id"] for b in last["data"]] == ids[4:] and not last["has_more"]


# --- both, as subprocesses ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "suffix"),
    [("synsym.testing.openai_batch_server", "/v1"), ("synsym.testing.anthropic_server", "")],
)
def test_subprocess_prints_base_url(module: str, suffix: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", "--seed", "3"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith(suffix)
        origin = url.removesuffix(suffix)
        assert call("POST", f"{origin}/_clock", {"advance_s": 10})[0] == 200
        assert call("GET", f"{origin}/_stats")[1]["batches_created"] == 0
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_batch_fakes_refuse_what_the_providers_refuse(openai_fake: Any, anthropic_fake: Any) -> None:
    """A reasoning model's line sent max_tokens fails as on OpenAI; an Anthropic line whose schema is
    outside the structured-output subset is errored, as the API refuses it (testing.contracts)."""
    server = openai_fake(reasoning_models=["o4-mini"], shuffle_output=False)
    rows = [chat_line("old", model="o4-mini", max_tokens=50), chat_line("new", model="o4-mini")]
    rows[1]["body"]["max_completion_tokens"] = 50
    batch = submit(server, rows)
    server.advance(100)
    done = get(server, batch["id"])
    errors = content(server, done["error_file_id"])
    assert [e["custom_id"] for e in errors] == ["old"]
    assert "Use 'max_completion_tokens' instead" in errors[0]["response"]["body"]["error"]["message"]
    fake = anthropic_fake()
    base = f"{fake.url}/v1/messages/batches"
    fmt = {"format": {"type": "json_schema", "schema": SCHEMA}}  # no additionalProperties: false
    reqs = {"requests": [{"custom_id": "raw", "params": message_params(output_config=fmt)}]}
    batch = call("POST", base, reqs, ANTHROPIC)[1]
    fake.advance(100)
    result = read_jsonl(call("GET", f"{base}/{batch['id']}/results", headers=ANTHROPIC)[1])[0]["result"]
    assert result["type"] == "errored"
    assert "'additionalProperties' must be explicitly set to false" in result["error"]["error"]["message"]


# --- the documented failures, as knobs (issue 17) ---------------------------------------------------


def test_openai_fake_queue_limit_processing_retention_and_foreign(openai_fake: Any) -> None:
    """Each knob does what the docs say: over the enqueued-token limit a created batch fails with
    token_limit_exceeded; a pending file refuses create; output is deleted after its retention; the
    listing holds other runs' batches of the same size."""
    server = openai_fake(
        validating_s=0, in_progress_s=60, finalizing_s=0, max_enqueued_tokens=60, output_retention_s=100
    )
    first = submit(server, [chat_line("a")])
    second = submit(server, [chat_line("b"), chat_line("c")])
    assert (
        get(server, second["id"])["status"] == "failed"
        and get(server, first["id"])["status"] == "in_progress"
    )
    (error,) = get(server, second["id"])["errors"]["data"]
    assert (
        error["code"] == "token_limit_exceeded"
        and error["line"] is None
        and "in_progress" in error["message"]
    )
    server.advance(60)
    done = get(server, first["id"])
    assert done["status"] == "completed" and content(server, done["output_file_id"])
    server.advance(101)
    assert call("GET", f"{server.url}/files/{done['output_file_id']}/content", headers=BEARER)[0] == 404

    slow = openai_fake(file_processing_s=30, foreign_batches=1)
    status, f = upload(slow.url, jsonl([chat_line("a")]), BEARER)
    assert f["status"] == "uploaded"
    body = {"input_file_id": f["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    status, error = call("POST", f"{slow.url}/batches", body, BEARER)
    assert status == 400 and "Cannot find file" in error["error"]["message"]
    slow.advance(30)
    assert call("GET", f"{slow.url}/files/{f['id']}", headers=BEARER)[1]["status"] == "processed"
    status, mine = call("POST", f"{slow.url}/batches", {**body, "metadata": {"synsym_token": "t"}}, BEARER)
    listed = call("GET", f"{slow.url}/batches?limit=10", headers=BEARER)[1]["data"]
    assert status == 200 and len(listed) == 2 and len({b["request_counts"]["total"] for b in listed}) == 1
    theirs = next(b for b in listed if b["id"] != mine["id"])
    assert theirs["created_at"] <= mine["created_at"] and theirs["metadata"]["synsym_token"] != "t"
    assert slow.stats()["batches_created"] == 1


def test_openai_fake_azure_preview_quota_and_dropped_create(openai_fake: Any) -> None:
    server = openai_fake(azure_preview=True, quota_lines=0, p_drop_create=1.0)
    base, headers = f"{server.origin}/openai", {"api-key": KEY}
    status, error = upload(base, jsonl([chat_line("a", url="/chat/completions")]), headers, "?api-version=x")
    assert status == 429 and error["error"]["code"] == "insufficient_quota"
    server.call(lambda s: setattr(s.config, "quota_lines", None))
    status, f = upload(base, jsonl([chat_line("a", url="/chat/completions")]), headers, "?api-version=x")
    body = {"input_file_id": f["id"], "endpoint": "/chat/completions", "completion_window": "24h"}
    with pytest.raises(
        (urllib.error.URLError, ConnectionError)
    ):  # made; the connection drops before the answer
        call("POST", f"{base}/batches?api-version=x", body, headers)
    (made,) = call("GET", f"{base}/batches?api-version=x", headers=headers)[1]["data"]
    assert (
        made["status"] == "Validating" and made["created_at"].endswith("+00:00") and "." in made["created_at"]
    )


def test_anthropic_fake_processing_queue_archival_and_foreign(anthropic_fake: Any) -> None:
    server = anthropic_fake(processing_s=60, max_processing_requests=5, foreign_batches=1)
    base = f"{server.url}/v1/messages/batches"
    status, first = call("POST", base, batch_requests(2), ANTHROPIC)
    assert status == 200
    status, error = call("POST", base, batch_requests(2), ANTHROPIC)  # 2 + 2 foreign + 2 > 5
    assert status == 429 and error["error"]["type"] == "rate_limit_error"
    listed = call("GET", f"{base}?limit=10", headers=ANTHROPIC)[1]["data"]
    assert len(listed) == 2 and {b["request_counts"]["processing"] for b in listed} == {2}
    server.advance(60)
    assert call("GET", f"{base}/{first['id']}/results", headers=ANTHROPIC)[0] == 200
    server.advance(29 * 86_400)
    archived = call("GET", f"{base}/{first['id']}", headers=ANTHROPIC)[1]
    assert archived["archived_at"] is not None
    assert call("GET", f"{base}/{first['id']}/results", headers=ANTHROPIC)[0] == 404
