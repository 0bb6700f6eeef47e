"""The native `anthropic` backend (Messages API: its structured output, refusals, errors, the key) and
`anthropic-batch` (Message Batches) against the loopback fake: whole runs equal to online ones, partial
failures and expiry without double billing, and SIGKILL at each crash point, then a rerun."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from synsym.backends.anthropic import AnthropicBackend, parse_message
from synsym.backends.base import ChatRequest, EndpointError, TransientError, create_backend
from synsym.backends.schemas import to_dialect
from synsym.core.config import BackendConfig
from synsym.core.errors import BackendError, ConfigError
from synsym.engine.batch_ledger import batch_records
from synsym.testing.anthropic_server import AnthropicServer, AnthropicServerConfig
from test_batch_backends import ENV, KEY, Pump, answers, backend, baseline, crash_and_rerun, rows, run

SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 0, "maximum": 5}, "reason": {"type": "string"}},
    "required": ["score", "reason"],
}
ASK = ChatRequest(
    messages=(("system", "You judge."), ("system", "Be brief."), ("user", "Rate it."), ("user", "Now.")),
    temperature=1.3,
    max_tokens=200,
    json_schema=SCHEMA,
    schema_name="judge",
    stop=("END",),
    seed=7,
)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, KEY)


@pytest.fixture
def fake() -> Iterator[Callable[..., AnthropicServer]]:
    started: list[AnthropicServer] = []

    def start(**config: Any) -> AnthropicServer:
        server = AnthropicServer(AnthropicServerConfig(api_key=KEY, **config)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def anthropic(url: str, **options: Any) -> AnthropicBackend:
    values = {"name": "anthropic", "base_url": url, "model": "claude-fake", "api_key_env": ENV, **options}
    made = create_backend(BackendConfig.model_validate(values))
    assert isinstance(made, AnthropicBackend)
    return made


def ask(b: AnthropicBackend, request: ChatRequest = ASK) -> Any:
    async def go() -> Any:
        try:
            return await b.complete(request)
        finally:
            await b.aclose()

    return asyncio.run(go())


# --- the request and the answer ---------------------------------------------------------------------


def test_body_is_the_native_messages_shape() -> None:
    body = anthropic("http://127.0.0.1:9").body(ASK)
    assert body["system"] == "You judge.\n\nBe brief."  # system turns go to the top level
    assert body["messages"] == [{"role": "user", "content": "Rate it.\n\nNow."}]  # turns alternate
    assert body["temperature"] == 1.0 and body["stop_sequences"] == ["END"] and "seed" not in body
    sent = to_dialect(SCHEMA, "anthropic")  # Anthropic's documented subset of the full schema
    assert sent is not None and sent["additionalProperties"] is False
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": sent}}
    legacy_backend = anthropic("http://127.0.0.1:9", structured_output="output_format")
    legacy = legacy_backend.body(ASK)
    assert legacy["output_format"] == {"type": "json_schema", "schema": sent}
    assert "output_config" not in legacy
    assert "structured-outputs-2025-11-13" in legacy_backend.headers()["anthropic-beta"]  # its beta header
    tool = anthropic("http://127.0.0.1:9", structured_output="tool", extra_body={"top_k": 5}).body(ASK)
    assert tool["tools"][0]["input_schema"] == sent and tool["top_k"] == 5
    assert tool["tool_choice"] == {"type": "tool", "name": "judge"}
    assert "output_config" not in anthropic("http://127.0.0.1:9", structured_output="none").body(ASK)


def test_parse_message_maps_stop_reasons_refusals_and_usage() -> None:
    usage = {
        "input_tokens": 10,
        "cache_read_input_tokens": 5,
        "cache_creation_input_tokens": 1,
        "output_tokens": 3,
    }
    done = parse_message(
        {
            "type": "message",
            "content": [{"type": "text", "text": "hi"}],
            "stop_reason": "end_turn",
            "usage": usage,
        }
    )
    assert (done.text, done.finish_reason, done.refusal) == ("hi", "stop", None)
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (16, 3)
    cut = parse_message(
        {"type": "message", "content": [{"type": "text", "text": "h"}], "stop_reason": "max_tokens"}
    )
    assert cut.finish_reason == "length"
    refused = parse_message({"type": "message", "content": [], "stop_reason": "refusal"})
    assert refused.refusal and refused.finish_reason == "stop"
    tool = parse_message({"type": "message", "content": [{"type": "tool_use", "input": {"a": 1}}]})
    assert json.loads(tool.text) == {"a": 1}
    with pytest.raises(ValueError):
        parse_message({"type": "error"})


def test_online_answers_structured_refusals_and_length(fake: Callable[..., AnthropicServer]) -> None:
    server = fake()
    answer = ask(anthropic(server.url))
    assert set(json.loads(answer.text)) == {"score", "reason"} and answer.usage.prompt_tokens > 0
    tool = ask(anthropic(server.url, structured_output="tool"))
    assert set(json.loads(tool.text)) == {"score", "reason"}
    refusing = fake(p_refusal=1.0)
    assert ask(anthropic(refusing.url)).refusal
    short = ask(anthropic(server.url), ChatRequest(messages=(("user", "Write a lot."),), max_tokens=1))
    assert short.finish_reason == "length"


def test_online_errors_are_mapped_and_never_show_the_key(
    fake: Callable[..., AnthropicServer],
    serve_handler: Callable[[Callable[..., Any]], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limited = fake(p_429=1.0)
    with pytest.raises(TransientError) as err:
        ask(anthropic(limited.url))
    assert err.value.kind == "rate_limit" and err.value.retry_after == 1.0
    with pytest.raises(TransientError) as err:
        ask(anthropic(fake(p_529=1.0).url))
    assert err.value.kind == "overloaded"

    async def broken(request: web.Request) -> web.Response:
        body = {"type": "error", "error": {"type": "api_error", "message": f"boom {KEY}"}}
        return web.json_response(body, status=500)

    origin = serve_handler(broken).removesuffix("/v1")
    with pytest.raises(TransientError) as err:
        ask(anthropic(origin))
    assert err.value.kind == "server_error" and KEY not in str(err.value)

    server = fake()
    monkeypatch.setenv(ENV, "sk-wrong")
    with pytest.raises(EndpointError) as wrong:
        ask(anthropic(server.url))
    assert wrong.value.kind == "auth" and "sk-wrong" not in str(wrong.value)
    monkeypatch.setenv(ENV, KEY)
    with pytest.raises(EndpointError) as missing:
        ask(anthropic(server.url + "/nowhere"))
    assert missing.value.kind == "not_found"
    with pytest.raises(BackendError):
        ask(anthropic(server.url), ChatRequest(messages=(("user", "x"),), max_tokens=0))
    monkeypatch.delenv(ENV)
    with pytest.raises(EndpointError, match=ENV):
        ask(anthropic(server.url))
    with pytest.raises(ConfigError) as pasted:
        anthropic(server.url, api_key_env="sk-ant-a-pasted-key")
    assert "sk-ant-a-pasted-key" not in str(pasted.value)


# --- whole runs -------------------------------------------------------------------------------------


def test_batch_run_equals_online_run(fake: Callable[..., AnthropicServer], tmp_path: Path) -> None:
    online, batches = fake(), fake(processing_s=600)
    run(tmp_path / "online", backend("anthropic", online.url, model="claude-fake"))
    with Pump(batches.advance, step=100):
        run(tmp_path / "batch", backend("anthropic-batch", batches.url, model="claude-fake"))
    assert rows(tmp_path / "batch") == rows(tmp_path / "online")
    stats = batches.stats()
    assert stats["online_requests"] == 0 and stats["double_billed"] == []
    assert stats["lines_billed"] == answers(tmp_path / "batch") == online.stats()["online_requests"]
    assert {r["state"] for r in batch_records(tmp_path / "batch")} == {"collected"}


def test_batch_partial_failures_and_expiry(fake: Callable[..., AnthropicServer], tmp_path: Path) -> None:
    faults = {"p_errored": 0.06, "p_refusal": 0.02, "p_max_tokens": 0.02, "p_schema_fail": 0.04}
    server = fake(processing_s=0, **faults)
    result = run(tmp_path / "a", backend("anthropic-batch", server.url, model="claude-fake"))
    stats = server.stats()
    assert stats["double_billed"] == [] and stats["lines_billed"] == answers(tmp_path / "a")
    assert stats["lines_failed"] > 0 and stats["batches_created"] > 3  # errored lines went again
    assert set(result.counts["failed_by_class"]) <= {"refusal", "invalid_output", "truncated", "server_error"}

    expiring = fake(processing_s=200, completion_window_s=100, expire_fraction=0.8)
    config = backend(
        "anthropic-batch", expiring.url, model="claude-fake", max_retries=1, stop_failure_share=1.0
    )
    with Pump(expiring.advance, step=50):
        result = run(tmp_path / "b", config)
    stats = expiring.stats()
    assert stats["double_billed"] == [] and stats["lines_billed"] == answers(tmp_path / "b")
    # which lines expire twice depends on the pump's timing: 14-22 of about 200 here, leaving 100-115
    # posts kept; the bounds say most lines were answered on their second batch, none billed twice
    timeouts = result.counts["failed_by_class"]["timeout"]
    assert stats["lines_billed"] > 4 * timeouts > 0 and result.counts["kept"] > 80


def test_reasks_online_use_the_native_backend(fake: Callable[..., AnthropicServer], tmp_path: Path) -> None:
    server = fake(processing_s=0, p_schema_fail=0.1)
    run(tmp_path / "a", backend("anthropic-batch", server.url, model="claude-fake", reask="online"))
    stats = server.stats()
    assert stats["online_requests"] > 5 and stats["double_billed"] == []
    assert stats["lines_billed"] + stats["online_requests"] == answers(tmp_path / "a")


# --- SIGKILL at each crash point, then a rerun ------------------------------------------------------


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], int]:
    return baseline("anthropic", tmp_path_factory.mktemp("baseline"))


@pytest.mark.parametrize(
    "point",
    [
        "intent",  # before create (no upload step): the intent is saved, nothing sent
        "created",  # between create returning and the save of its id: found again by size and time
        "polling",
        "downloaded",
    ],
)
def test_sigkill_then_rerun_pays_for_nothing_twice(
    point: str, expected: tuple[list[Any], int], tmp_path: Path
) -> None:
    crash_and_rerun("anthropic", point, expected, tmp_path)
