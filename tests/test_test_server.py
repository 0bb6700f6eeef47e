"""The local test server over real HTTP: answer shapes, faults, the script, determinism, the cap."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import aiohttp
import openai
import pytest
from pydantic import BaseModel, Field, conint

from synsym.testing.server import FAULT_KINDS, ServerConfig, TestServer


class Judgement(BaseModel):
    score: conint(ge=0, le=5)  # type: ignore[valid-type]
    reason: str


class Statements(BaseModel):
    statements: list[str] = Field(min_length=3, max_length=5)


def body(prompt: str = "Symptom: fatigue", schema: type[BaseModel] | None = None, **extra: Any) -> dict:
    out: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": prompt}], **extra}
    if schema is not None:
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()},
        }
    return out


async def _post_all(url: str, bodies: list[Any], parallel: bool) -> list[tuple[int, Any, str]]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(b: Any) -> tuple[int, Any, str]:
            async with session.post(url + "/chat/completions", json=b) as r:
                return r.status, r.headers, await r.text()

        if parallel:
            return list(await asyncio.gather(*(one(b) for b in bodies)))
        return [await one(b) for b in bodies]


def post(url: str, *bodies: Any, parallel: bool = False) -> list[tuple[int, Any, str]]:
    return asyncio.run(_post_all(url, list(bodies), parallel))


def content(text: str) -> str:
    return json.loads(text)["choices"][0]["message"]["content"]


def test_response_shape_and_answer_kinds() -> None:
    with TestServer() as server:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/v1")
        (status, _, text), (_, _, js), (_, _, jo) = post(
            server.url,
            body("Symptom: fatigue"),
            body(PROMPT_J, Judgement),
            body("x", response_format={"type": "json_object"}),
        )
        assert status == 200
        data = json.loads(text)
        assert data["object"] == "chat.completion" and data["id"].startswith("chatcmpl-")
        assert isinstance(data["created"], int) and data["model"] == "m"
        choice = data["choices"][0]
        assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
        assert choice["message"]["refusal"] is None and "fatigue" in choice["message"]["content"]
        usage = data["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
        Judgement.model_validate_json(content(js))
        assert isinstance(json.loads(content(jo)), dict)
        stats = server.stats()
        assert stats["requests"] == stats["answered"] == 3
        assert sum(stats["faults"].values()) == 0


PROMPT_J = "Post: I can't get out of bed.\nSymptom: fatigue\nRate 0-5."


def test_answers_are_deterministic_per_body_and_seed() -> None:
    b1, b2 = body("Symptom: fatigue", Statements), body("Symptom: fatigue", Statements, seed=1)
    with TestServer(ServerConfig(seed=3)) as a, TestServer(ServerConfig(seed=3)) as b:
        first = [content(t) for _, _, t in post(a.url, b1, b2, b1)]
        again = [content(t) for _, _, t in post(b.url, b1, b2)]
    with TestServer(ServerConfig(seed=4)) as c:
        other = content(post(c.url, b1)[0][2])
    assert first[0] == first[2] == again[0] and first[1] == again[1]
    assert first[0] != first[1] and other != first[0]
    Statements.model_validate_json(first[0])


def test_script_gives_exact_faults_in_order() -> None:
    script = ["429", "503", "500", "timeout", "malformed", "refusal", "content_filter", "schema_fail", "ok"]
    config = ServerConfig(script=script, retry_after_s=2, hang_s=0.05, p_429=0.0)
    with TestServer(config) as server:
        results = post(server.url, *[body("Symptom: fatigue", Judgement) for _ in range(10)])
        stats = server.stats()
    statuses = [s for s, _, _ in results]
    assert statuses == [429, 503, 500, 504, 200, 200, 200, 200, 200, 200]
    assert results[0][1]["Retry-After"] == "2"
    assert json.loads(results[0][2])["error"]["type"] == "rate_limit_exceeded"
    with pytest.raises(json.JSONDecodeError):
        json.loads(results[4][2])
    refusal = json.loads(results[5][2])["choices"][0]
    assert refusal["message"]["content"] is None and refusal["message"]["refusal"]
    filtered = json.loads(results[6][2])["choices"][0]
    assert filtered["finish_reason"] == "content_filter" and filtered["message"]["content"] == ""
    assert json.loads(content(results[7][2])) == {"unexpected": True}
    for _, _, text in results[8:]:
        Judgement.model_validate_json(content(text))
    assert stats["faults"] == {kind: 1 for kind in FAULT_KINDS}
    assert stats["requests"] == 10 and stats["answered"] == 2


def test_fault_probabilities_give_the_same_totals_every_run() -> None:
    config = ServerConfig(seed=1, p_429=0.3, p_500=0.1, p_schema_fail=0.1)
    totals = []
    for _ in range(2):
        with TestServer(config) as server:
            results = post(server.url, *[body(f"Symptom: {i}") for i in range(300)], parallel=True)
            stats = server.stats()
        codes = [s for s, _, _ in results]
        assert 60 <= codes.count(429) <= 120 and 12 <= codes.count(500) <= 50
        assert stats["faults"]["429"] == codes.count(429) and stats["faults"]["500"] == codes.count(500)
        assert stats["answered"] + sum(stats["faults"].values()) == stats["requests"] == 300
        totals.append(stats["faults"])
    assert totals[0] == totals[1]


def test_concurrency_cap_queues_requests() -> None:
    with TestServer(ServerConfig(concurrency=4, latency_s=0.05)) as server:
        start = time.perf_counter()
        results = post(server.url, *[body(f"Symptom: {i}") for i in range(40)], parallel=True)
        elapsed = time.perf_counter() - start
        stats = server.stats()
    assert all(s == 200 for s, _, _ in results)
    assert stats["max_in_flight"] == 4 and stats["max_queued"] > 4
    assert elapsed >= 10 * 0.05 * 0.9  # 40 requests through 4 slots of 50 ms


def test_max_tokens_truncates_with_length() -> None:
    with TestServer() as server:
        (_, _, text), _ = post(server.url, body("Symptom: fatigue", Statements, max_tokens=5), body("x"))
    choice = json.loads(text)["choices"][0]
    assert choice["finish_reason"] == "length" and len(choice["message"]["content"]) <= 20


def test_bad_requests_are_400_and_n_gives_several_choices() -> None:
    with TestServer() as server:
        results = post(server.url, {"model": "m"}, body("x", stream=True), body("x", n="many"), [1])
        assert [status for status, _, _ in results] == [400] * 4
        [(_, _, text)] = post(server.url, body("Symptom: fatigue", n=3))
        choices = json.loads(text)["choices"]
        assert [c["index"] for c in choices] == [0, 1, 2]
        assert len({c["message"]["content"] for c in choices}) == 3
    with pytest.raises(ValueError, match="unknown fault"):
        ServerConfig(script=["418"])


def test_models_stats_and_reset_endpoints() -> None:
    async def run(url: str) -> tuple[Any, Any]:
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "/models") as r:
                models = await r.json()
            await session.post(url + "/chat/completions", json=body())
            async with session.get(url.removesuffix("/v1") + "/stats") as r:
                return models, await r.json()

    with TestServer(ServerConfig(model="tiny", script=["500"])) as server:
        models, stats = asyncio.run(run(server.url))
        assert models["data"][0]["id"] == "tiny"
        assert stats["requests"] == 1 and stats["max_in_flight"] == 1 and stats["faults"]["500"] == 1
        server.reset()
        assert server.stats()["requests"] == 0
        [(status, _, _)] = post(server.url, body())
        assert status == 200  # the script is not replayed after a reset
        assert server.stats()["answered"] == 1


def test_openai_sdk_round_trip() -> None:
    async def run(url: str) -> None:
        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        try:
            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            rf = body(schema=Judgement)["response_format"]
            msgs = body()["messages"]
            done = await client.chat.completions.create(model="m", messages=msgs, response_format=rf)
            Judgement.model_validate_json(done.choices[0].message.content or "")
            assert done.usage is not None and done.usage.completion_tokens > 0
            refused = await client.chat.completions.create(model="m", messages=msgs)
            assert refused.choices[0].message.refusal and refused.choices[0].message.content is None
        finally:
            await client.close()

    with TestServer(ServerConfig(script=["429", "ok", "refusal"])) as server:
        asyncio.run(run(server.url))


def test_cli_prints_url_and_serves() -> None:
    cmd = [sys.executable, "-m", "synsym.testing.server", "--port", "0", "--p-429", "1", "--retry-after", "3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        [(status, headers, _)] = post(url, body())
        assert status == 429 and headers["Retry-After"] == "3"
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_hung_request_times_the_client_out_and_stop_stays_bounded() -> None:
    async def run(url: str) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2)) as session:
            with pytest.raises(asyncio.TimeoutError):
                async with session.post(url + "/chat/completions", json=body()) as r:
                    await r.read()

    server = TestServer(ServerConfig(script=["timeout"], hang_s=30)).start()
    try:
        asyncio.run(run(server.url))
        assert server.stats()["in_flight"] == 1
    finally:
        start = time.perf_counter()
        server.stop()
    assert time.perf_counter() - start < 3
