"""A loopback fake of the Anthropic Messages API and Message Batches API, for hermetic tests of batch
backends: shapes as https://platform.claude.com/docs/en/api/messages and
https://platform.claude.com/docs/en/build-with-claude/batch-processing document them.

`POST /v1/messages` answers text, or JSON for `output_config.format` (and the deprecated
`output_format`) of type `json_schema`, or a `tool_use` block when `tool_choice` forces a tool. Message
Batches (`/v1/messages/batches`: create, retrieve, list with `before_id`/`after_id`/`limit`, cancel,
delete, results JSONL) run on the server's clock, simulated unless `simulated_clock=False`: a batch is
`in_progress`, its requests finish evenly over `processing_s`, then it `ended`; a cancel makes it
`canceling` for `canceling_s`. As documented, `request_counts` keep every request under `processing`
until the batch ends. Every request needs `x-api-key` (when a key is set) and `anthropic-version`.

The batch failures the docs describe, each a knob:
- `max_processing_requests`: "a limit on the number of batch requests that can be in the processing
  queue at the same time ... A batch request is considered part of the processing queue when it has
  yet to be successfully processed by the model" (rate limits; tier 1: 100,000); over it, create
  answers 429 `rate_limit_error` with `retry-after`.
- `results_retention_s` (default 29 days): "Batch results are available for 29 days after creation.
  After that, you can still view the batch, but its results can no longer be downloaded": then
  `archived_at` is set and the results are a 404.
- `foreign_batches`: "Batches are scoped to a Workspace. You can view all batches ... created within
  the Workspace your API key belongs to": other clients' batches of the same size, made a second
  before each of ours, appear in the listing (not billed here).
- `p_drop_create`: the batch is made, then the connection drops before the answer.

In process: `with AnthropicServer(AnthropicServerConfig(...)) as s: s.url, s.advance(60), s.stats()`;
`s.url` is the SDK's base URL (no /v1). Subprocess: `python -m synsym.testing.anthropic_server
--port 0` prints it on the first line of stdout.
"""

from __future__ import annotations

import json
import random
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from synsym.backends.anthropic import OUTPUT_FORMAT_BETA
from synsym.backends.fake_content import fake_sentence, instance_for_schema
from synsym.testing.batch_common import (
    BackgroundServer,
    BatchState,
    Die,
    add_control_routes,
    body_rng,
    config_from_argv,
    due,
    jsonl,
    page,
    read_json,
    rfc3339,
    serve_forever,
)
from synsym.testing.contracts import anthropic_schema_problem
from synsym.testing.server import REFUSAL, prompt_of

__all__ = ["ONLINE_FAULTS", "RESULT_FAULTS", "AnthropicServer", "AnthropicServerConfig", "build_app", "main"]

RESULT_FAULTS = ("errored", "refusal", "max_tokens", "schema_fail")
ONLINE_FAULTS = ("429", "529", "refusal", "max_tokens", "schema_fail")
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_COUNTS = ("processing", "succeeded", "errored", "canceled", "expired")


@dataclass
class AnthropicServerConfig:
    """Knobs. `processing_s` spreads a batch's requests over time; `expire_fraction` stops work after
    that share of them, so the batch ends at `completion_window_s` with the rest `expired`. Result
    faults (`p_errored` with `errored_type`, `p_refusal`, `p_max_tokens`, `p_schema_fail`, and
    `script` for the first valid requests processed) come from one seeded die; the online endpoint rolls
    its own die over the answer faults (refusal, max_tokens, schema_fail) plus `p_429` and `p_529`."""

    seed: int = 0
    model: str = "claude-fake"
    api_key: str | None = None
    simulated_clock: bool = True
    processing_s: float = 60.0
    canceling_s: float = 5.0
    completion_window_s: float = 86_400.0
    expire_fraction: float | None = None
    p_errored: float = 0.0
    errored_type: str = "api_error"
    p_refusal: float = 0.0
    p_max_tokens: float = 0.0
    p_schema_fail: float = 0.0
    p_429: float = 0.0
    p_529: float = 0.0
    script: list[str] = field(default_factory=list)
    max_requests_per_batch: int = 100_000
    max_batch_bytes: int = 256 * 1024 * 1024
    shuffle_results: bool = True  # the docs: results are not guaranteed to be in request order
    honor_max_tokens: bool = True  # ~4 chars per token, then stop_reason "max_tokens"
    models: list[str] = field(default_factory=list)  # the models batches may use (empty: any)
    max_processing_requests: int | None = None  # unprocessed batch requests the queue holds
    results_retention_s: float | None = 29 * 86_400.0  # after creation; then archived
    foreign_batches: int = 0  # other clients' batches of the same size, made just before each of ours
    p_drop_create: float = 0.0  # create makes the batch, then drops the connection

    def probs(self, kinds: tuple[str, ...]) -> dict[str, float]:
        return {k: float(getattr(self, f"p_{k}")) for k in kinds}


def _error_body(kind: str, message: str, request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


@dataclass
class _Request:
    custom_id: str
    params: Any
    result: dict[str, Any] | None = None  # {"type": "succeeded", "message": ...} once processed


@dataclass
class _Batch:
    id: str
    created: float
    requests: list[_Request]
    status: str = "in_progress"
    done: int = 0
    times: dict[str, float] = field(default_factory=dict)
    foreign: bool = False  # another client's: listed, never billed here


class _State(BatchState[_Batch]):
    """Batches, dice and the ledger; touched only from the server's event loop."""

    def __init__(self, config: AnthropicServerConfig) -> None:
        super().__init__(config.seed, config.simulated_clock)
        self.config = config
        self.die = Die(config.seed, config.probs(RESULT_FAULTS), config.script)
        self.online_die = Die(config.seed + 1, config.probs(ONLINE_FAULTS), [])
        self.drops = random.Random(config.seed + 3)

    def archived(self, b: _Batch) -> bool:
        keep = self.config.results_retention_s
        return keep is not None and self.clock.now() >= b.created + keep

    def queued(self) -> int:
        """Batch requests not yet processed, over the Workspace's unfinished batches."""
        for b in self.batches.values():
            self.tick(b)
        return sum(len(b.requests) - b.done for b in self.batches.values() if b.status != "ended")

    def message(self, params: dict[str, Any], fault: str | None) -> dict[str, Any]:
        """A Message for `params`, deterministic in (seed, params), bent by `fault`."""
        digest, rng = body_rng(params, self.config.seed)
        prompt = prompt_of(params["messages"])
        choice, tools = params.get("tool_choice") or {}, params.get("tools") or []
        forced = [t for t in tools if choice.get("type") == "any" or choice.get("name") == t.get("name")]
        fmt = (params.get("output_config") or {}).get("format") or params.get("output_format") or {}
        schema = fmt.get("schema") if fmt.get("type") == "json_schema" else None
        stop, details, content = "end_turn", None, []
        if fault == "refusal":
            stop, details = "refusal", {"type": "refusal", "category": None, "explanation": REFUSAL}
        elif forced and choice.get("type") in ("tool", "any"):
            tool = forced[0]
            value = instance_for_schema(tool.get("input_schema") or {"type": "object"}, rng, prompt)
            value = {"unexpected": True} if fault == "schema_fail" else {} if fault == "max_tokens" else value
            stop = "max_tokens" if fault == "max_tokens" else "tool_use"
            content = [
                {"type": "tool_use", "id": f"toolu_{digest}", "name": tool.get("name"), "input": value}
            ]
        else:
            text = (
                json.dumps(instance_for_schema(schema, rng, prompt)) if schema else fake_sentence(rng, prompt)
            )
            limit = 4 * int(params["max_tokens"]) if self.config.honor_max_tokens else 0
            if fault == "schema_fail":
                text = '{"unexpected": true}'
            elif fault == "max_tokens":
                text, stop = text[: max(1, len(text) // 2)], "max_tokens"
            elif limit and len(text) > limit:
                text, stop = text[:limit], "max_tokens"
            content = [{"type": "text", "text": text}]
        tokens_in, tokens_out = 1 + len(json.dumps(params)) // 4, 1 + len(json.dumps(content)) // 8
        usage = {"input_tokens": tokens_in, "output_tokens": tokens_out,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}  # fmt: skip
        return {"id": f"msg_{digest}", "type": "message", "role": "assistant",
                "model": str(params.get("model") or self.config.model), "content": content,
                "stop_reason": stop, "stop_sequence": None, "stop_details": details,
                "usage": usage}  # fmt: skip

    def run(self, req: _Request, foreign: bool = False, batch_id: str = "") -> None:
        if foreign:  # another client's request: answered, billed to them, no roll of this run's dice
            req.result = {"type": "succeeded", "message": self.message(req.params, None)}
            return
        problem = _invalid(req.params)
        fault = None if problem else self.die.pick()
        if problem or fault == "errored":
            kind = "invalid_request_error" if problem else self.config.errored_type
            error = _error_body(kind, problem or "Injected error.", self.new_id("req_"))
            req.result = {"type": "errored", "error": error}
            self.ledger.lines_failed += 1
        else:
            req.result = {"type": "succeeded", "message": self.message(req.params, fault)}
            self.ledger.bill(req.custom_id, batch_id)

    def tick(self, b: _Batch) -> None:
        """Bring `b` to the state it has at the clock's now."""
        c, now, n = self.config, self.clock.now(), len(b.requests)
        deadline = b.created + c.completion_window_s
        if b.status == "in_progress":
            target = due(n, b.created, now, c.processing_s, deadline, c.expire_fraction)
            while b.done < target:
                self.run(b.requests[b.done], b.foreign, b.id)
                b.done += 1
            if b.done == n:
                self.end(b, "", b.created + max(0.0, c.processing_s))
            elif now >= deadline:
                self.end(b, "expired", deadline)
        elif b.status == "canceling" and now >= b.times["cancel_initiated_at"] + c.canceling_s:
            self.end(b, "canceled", b.times["cancel_initiated_at"] + c.canceling_s)

    def end(self, b: _Batch, leftover: str, at: float) -> None:
        """Processing ends: requests never processed become `leftover` (expired or canceled)."""
        b.status, b.times["ended_at"] = "ended", at
        for req in b.requests[b.done :]:
            req.result = {"type": leftover}

    def obj(self, b: _Batch, origin: str) -> dict[str, Any]:
        self.tick(b)
        counts = dict.fromkeys(_COUNTS, 0)
        if b.status == "ended":
            for req in b.requests:
                counts[req.result["type"] if req.result else "processing"] += 1
        else:
            counts["processing"] = len(b.requests)
        ended = b.status == "ended"
        archived = rfc3339(b.created + (self.config.results_retention_s or 0)) if self.archived(b) else None
        times = {
            k: rfc3339(b.times[k]) if k in b.times else None for k in ("ended_at", "cancel_initiated_at")
        }
        return {"id": b.id, "type": "message_batch", "processing_status": b.status, "request_counts": counts,
                **times, "created_at": rfc3339(b.created),
                "expires_at": rfc3339(b.created + self.config.completion_window_s), "archived_at": archived,
                "results_url": f"{origin}/v1/messages/batches/{b.id}/results" if ended else None}  # fmt: skip


def _invalid(params: Any) -> str | None:
    """Why `params` is not a valid Messages request, or None: its shape, and a structured-output schema
    outside the documented subset (testing.contracts)."""
    if not isinstance(params, dict):
        return "params: Input should be an object"
    if not isinstance(params.get("model"), str):
        return "model: Field required"
    tokens = params.get("max_tokens")
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 1:
        return "max_tokens: Field required (an integer of at least 1)"
    messages = params.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for where in ("output_config", "output_format"):
        fmt = params.get(where) or {}
        fmt = fmt.get("format") or {} if where == "output_config" else fmt
        if fmt.get("type") == "json_schema":
            path = "output_config.format.schema" if where == "output_config" else "output_format.schema"
            return anthropic_schema_problem(fmt.get("schema"), path)
    return None


def _beta_missing(request: web.Request, params: Any) -> str | None:
    """`output_format` is the beta mode: "the old beta header (structured-outputs-2025-11-13) and
    output_format parameter will continue working for a transition period", with that header only."""
    betas = request.headers.get("anthropic-beta", "")
    if isinstance(params, dict) and "output_format" in params and OUTPUT_FORMAT_BETA not in betas:
        return f"output_format: requires the anthropic-beta header {OUTPUT_FORMAT_BETA}"
    return None


_STATE = web.AppKey("state", _State)


def _err(request: web.Request, status: int, kind: str, message: str, **headers: str) -> web.Response:
    rid = request.app[_STATE].new_id("req_")
    body = _error_body(kind, message, rid)
    return web.json_response(body, status=status, headers={"request-id": rid, **headers})


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """`x-api-key` against the configured key, then the required `anthropic-version` header."""
    if request.path.startswith("/_"):
        return await handler(request)
    key = request.app[_STATE].config.api_key
    if key and request.headers.get("x-api-key") != key:
        return _err(request, 401, "authentication_error", "invalid x-api-key")
    if "anthropic-version" not in request.headers:
        return _err(request, 400, "invalid_request_error", "anthropic-version: header is required")
    return await handler(request)


async def _messages(request: web.Request) -> web.Response:
    state, params = request.app[_STATE], await read_json(request)
    state.ledger.online_requests += 1
    problem = "The request body is not a JSON object." if params is None else _invalid(params)
    problem = problem or _beta_missing(request, params)
    if problem or params is None:
        return _err(request, 400, "invalid_request_error", problem or "invalid request")
    fault = state.online_die.pick()
    if fault == "429":
        return _err(request, 429, "rate_limit_error", "Rate limited; retry later.", **{"retry-after": "1"})
    if fault == "529":
        return _err(request, 529, "overloaded_error", "Overloaded")
    return web.json_response(state.message(params, fault))


async def _create(request: web.Request) -> web.Response:
    state, c = request.app[_STATE], request.app[_STATE].config
    raw = await request.read()
    if len(raw) > c.max_batch_bytes:
        return _err(
            request, 413, "request_too_large", f"A Message Batch is limited to {c.max_batch_bytes} bytes."
        )
    body = await read_json(request)
    items = body.get("requests") if body else None
    if not isinstance(items, list) or not 1 <= len(items) <= c.max_requests_per_batch:
        message = f"requests: a list of 1 to {c.max_requests_per_batch} items is required"
        return _err(request, 400, "invalid_request_error", message)
    seen: set[str] = set()
    for i, item in enumerate(items):
        cid = item.get("custom_id") if isinstance(item, dict) else None
        if not isinstance(cid, str) or not _CUSTOM_ID.match(cid) or "params" not in item:
            message = f"requests.{i}: needs a custom_id matching ^[a-zA-Z0-9_-]{{1,64}}$ and params"
            return _err(request, 400, "invalid_request_error", message)
        if cid in seen:
            return _err(request, 400, "invalid_request_error", f"requests.{i}.custom_id: duplicate {cid!r}")
        seen.add(cid)
        if problem := _beta_missing(request, item["params"]):
            return _err(request, 400, "invalid_request_error", f"requests.{i}.params.{problem}")
        model = item["params"].get("model") if isinstance(item["params"], dict) else None
        if c.models and model not in c.models:
            return _err(request, 404, "not_found_error", f"model: {model}")
    limit = c.max_processing_requests
    if limit is not None and state.queued() + len(items) > limit:
        message = f"Number of batch requests in the processing queue would exceed your limit of {limit:,}."
        state.ledger.creates_refused += 1
        return _err(request, 429, "rate_limit_error", message, **{"retry-after": "60"})
    for _ in range(c.foreign_batches):  # someone else in the Workspace, a second earlier
        tag = state.new_id("")[:12]
        theirs = [_Request(f"other-{tag}-{n}", i["params"]) for n, i in enumerate(items)]
        other = _Batch(state.new_id("msgbatch_"), state.clock.now() - 1.0, theirs, foreign=True)
        state.batches[other.id] = other
    b = _Batch(
        state.new_id("msgbatch_"), state.clock.now(), [_Request(i["custom_id"], i["params"]) for i in items]
    )
    state.batches[b.id] = b
    state.ledger.batches_created += 1
    if state.drops.random() < c.p_drop_create and request.transport is not None:
        state.ledger.creates_dropped += 1
        request.transport.close()  # made, but the answer never arrives
    return web.json_response(state.obj(b, str(request.url.origin())))


async def _list(request: web.Request) -> web.Response:
    state, q = request.app[_STATE], request.query
    try:
        limit = int(q.get("limit", "20"))
        assert 1 <= limit <= 1000
        ids, more = page(list(reversed(state.batches)), limit, q.get("after_id"), q.get("before_id"))
    except (ValueError, AssertionError):
        return _err(request, 400, "invalid_request_error", "limit: an integer from 1 to 1000")
    except KeyError as exc:
        return _err(request, 404, "not_found_error", f"No Message Batch {exc.args[0]!r}")
    data = [state.obj(state.batches[i], str(request.url.origin())) for i in ids]
    first, last = (ids[0], ids[-1]) if ids else (None, None)
    return web.json_response({"data": data, "has_more": more, "first_id": first, "last_id": last})


async def _batch(request: web.Request) -> web.StreamResponse:
    """GET (retrieve), DELETE, POST .../cancel and GET .../results of one batch."""
    state, bid = request.app[_STATE], request.match_info["batch_id"]
    b = state.batches.get(bid)
    if b is None:
        return _err(request, 404, "not_found_error", f"No Message Batch {bid!r}")
    state.tick(b)
    if request.path.endswith("/cancel"):
        if b.status == "ended":
            return _err(request, 400, "invalid_request_error", "This Message Batch has already ended.")
        if b.status == "in_progress":
            b.status, b.times["cancel_initiated_at"] = "canceling", state.clock.now()
            state.ledger.cancels += 1
    elif request.path.endswith("/results"):
        if state.archived(b):
            return _err(
                request, 404, "not_found_error", f"The results of Message Batch {bid!r} have expired."
            )
        if b.status != "ended":
            return _err(request, 400, "invalid_request_error", "Results are available once processing ends.")
        rows = [{"custom_id": r.custom_id, "result": r.result} for r in b.requests]
        key = f"{state.config.seed}:{b.id}" if state.config.shuffle_results else None
        return web.Response(body=jsonl(rows, key), content_type="application/x-jsonl")
    elif request.method == "DELETE":
        if b.status != "ended":
            return _err(request, 400, "invalid_request_error", "Cancel the Message Batch before deleting it.")
        del state.batches[bid]
        return web.json_response({"id": bid, "type": "message_batch_deleted"})
    return web.json_response(state.obj(b, str(request.url.origin())))


def build_app(config: AnthropicServerConfig | None = None) -> web.Application:
    """The aiohttp app: /v1/messages, /v1/messages/batches..., plus /_stats and /_clock."""
    config = config or AnthropicServerConfig()
    app = web.Application(middlewares=[_guard], client_max_size=2 * config.max_batch_bytes)
    state = app[_STATE] = _State(config)
    app.router.add_post("/v1/messages", _messages)
    app.router.add_post("/v1/messages/batches", _create)
    app.router.add_get("/v1/messages/batches", _list)
    app.router.add_route("*", "/v1/messages/batches/{batch_id}", _batch)
    app.router.add_post("/v1/messages/batches/{batch_id}/cancel", _batch)
    app.router.add_get("/v1/messages/batches/{batch_id}/results", _batch)
    add_control_routes(app, state)
    return app


class AnthropicServer(BackgroundServer[_State]):
    """The fake in a background thread; `url` is what `anthropic.Anthropic(base_url=...)` takes."""

    def __init__(self, config: AnthropicServerConfig | None = None) -> None:
        super().__init__()
        self.config = config or AnthropicServerConfig()

    def build(self) -> tuple[web.Application, _State]:
        app = build_app(self.config)
        return app, app[_STATE]

    @property
    def url(self) -> str:
        return self.origin


def main(argv: list[str] | None = None) -> None:
    """Serve until killed; the first stdout line is the base URL (the origin, no /v1)."""
    prog = "python -m synsym.testing.anthropic_server"
    config, port = config_from_argv(
        AnthropicServerConfig, argv, prog, "A loopback fake of the Anthropic API."
    )
    serve_forever(build_app(config), port)


if __name__ == "__main__":
    main(sys.argv[1:])
