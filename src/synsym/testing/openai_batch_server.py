"""A loopback fake of the OpenAI Files + Batch API (and Azure OpenAI global batch), for hermetic tests
of batch backends: shapes as https://platform.openai.com/docs/guides/batch and the API reference
document them (file objects, batch objects, output/error file lines, `after`/`limit` pagination).

Mounted three times: `/v1/...` (OpenAI, `Authorization: Bearer`), `/openai/...` (Azure, which needs an
`api-version` query parameter and answers 404 "Resource not found" without one, as Azure does; key in
`api-key`) and `/openai/v1/...` (Azure's v1 API, no `api-version`). A batch moves validating ->
in_progress -> finalizing -> completed on the server's clock (simulated unless
`simulated_clock=False`), or to failed / expired / cancelling -> cancelled (Azure batches do not expire
unless `azure_expires`, as Azure documents); its state is brought up to the clock's now whenever it
is read, so a test advances the clock instead of sleeping.

In process: `with OpenAIBatchServer(BatchServerConfig(...)) as s: s.url, s.advance(60), s.stats()`.
Subprocess: `python -m synsym.testing.openai_batch_server --port 0` prints the base URL (ending in /v1).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

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
    serve_forever,
)
from synsym.testing.contracts import openai_params_problem
from synsym.testing.server import REFUSAL, answer_for, prompt_of

__all__ = ["LINE_FAULTS", "BatchServerConfig", "OpenAIBatchServer", "build_app", "main"]

LINE_FAULTS = ("4xx", "5xx", "refusal", "schema_fail", "length")
_CHAT = "/v1/chat/completions"
_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
_EXPIRED = "This request could not be executed before the completion window expired."
_CANCELLED = "This request could not be executed before the batch was cancelled."
_TIMES = ("in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at", "cancelling_at")
_DUPLICATE = "The custom_id for this request is a duplicate of another request."
_AZURE_401 = "Access denied due to invalid subscription key or wrong API endpoint."
_NO_KEY = "You didn't provide an API key. Provide it in an Authorization header (Bearer YOUR_KEY)."


@dataclass
class BatchServerConfig:
    """Knobs. Phase durations are seconds of the server's clock; lines finish evenly over
    `in_progress_s`. `expire_fraction` stops work after that share of the lines, so the batch expires
    at `completion_window_s` with partial output. `p_*` are per-line fault odds (4xx/5xx lines go to
    the error file, the rest are 200 answers that refuse, break the schema or stop at "length");
    `script` forces the faults of the first lines executed. The same odds apply to the online chat
    endpoint, on a die of their own."""

    seed: int = 0
    model: str = "fake-model"
    api_key: str | None = None
    simulated_clock: bool = True
    validating_s: float = 2.0
    in_progress_s: float = 60.0
    finalizing_s: float = 2.0
    cancelling_s: float = 5.0
    completion_window_s: float = 86_400.0
    expire_fraction: float | None = None
    p_4xx: float = 0.0
    p_5xx: float = 0.0
    p_refusal: float = 0.0
    p_schema_fail: float = 0.0
    p_length: float = 0.0
    script: list[str] = field(default_factory=list)
    reject_malformed_at_upload: bool = False  # False: upload succeeds, the batch fails validation
    max_requests_per_batch: int = 50_000
    max_input_bytes: int = 200 * 1024 * 1024
    shuffle_output: bool = True  # the docs: output order may not match input order
    honor_max_tokens: bool = True  # ~4 chars per token, then finish_reason "length"
    azure_missing_version_status: int = 404  # what Azure answers (with "Resource not found")
    azure_expires: bool = False  # Azure: "we do not expire the jobs that take longer" than 24h
    models: list[str] = field(default_factory=list)  # the models batches may use (empty: any)
    reasoning_models: list[str] = field(default_factory=list)  # lines sent max_tokens fail, as on OpenAI

    def probs(self) -> dict[str, float]:
        return {k: float(getattr(self, f"p_{k}")) for k in LINE_FAULTS}


def _err(status: int, message: str, kind: str = "invalid_request_error", **extra: Any) -> web.Response:
    error = {"message": message, "type": kind, "param": extra.get("param"), "code": extra.get("code")}
    return web.json_response({"error": error}, status=status)


def _azure_err(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": str(status), "message": message}}, status=status)


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def obj(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": len(self.data), "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": "processed",
                "expires_at": None, "status_details": None}  # fmt: skip


@dataclass
class _Line:
    custom_id: str
    body: dict[str, Any]
    result: dict[str, Any] | None = None  # the output- or error-file line, once executed
    ok: bool = False
    tokens: tuple[int, int] = (0, 0)


@dataclass
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    metadata: dict[str, str] | None
    created: float
    azure: bool
    status: str = "validating"
    lines: list[_Line] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)
    errors: list[dict[str, Any]] | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    done: int = 0


class _State(BatchState[_Batch]):
    """Files, batches, dice and the ledger; touched only from the server's event loop."""

    def __init__(self, config: BatchServerConfig) -> None:
        super().__init__(config.seed, config.simulated_clock)
        self.config = config
        self.die = Die(config.seed, config.probs(), config.script)
        self.online_die = Die(config.seed + 1, config.probs(), [])
        self.files: dict[str, _File] = {}

    def add_file(self, filename: str, purpose: str, data: bytes) -> _File:
        f = _File(self.new_id("file-"), filename, purpose, data, int(self.clock.now()))
        self.files[f.id] = f
        return f

    def check_lines(self, data: bytes, azure: bool, endpoint: str | None) -> tuple[list[_Line], list[Any]]:
        """Parse an input file; the errors are `errors.data` entries ({code, message, param, line})."""
        errors: list[dict[str, Any]] = []
        lines: list[_Line] = []
        seen: set[str] = set()
        models: set[str] = set()

        def err(code: str, message: str, line: int | None = None, param: str | None = None) -> None:
            errors.append({"code": code, "message": message, "param": param, "line": line})

        rows = data.decode("utf-8", errors="replace").splitlines()
        if not any(r.strip() for r in rows):
            err("empty_file", "The input file is empty.")
        if len(rows) > self.config.max_requests_per_batch:
            limit = self.config.max_requests_per_batch
            err("too_many_tasks", f"The input file has {len(rows)} requests; the limit is {limit}.")
        urls = {"/chat/completions", _CHAT} if azure else {_CHAT}
        for i, raw in enumerate(rows, 1):
            try:
                row = json.loads(raw)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                err("invalid_json_line", "This line is not parseable as valid JSON.", i)
                continue
            missing = [k for k in ("custom_id", "method", "url", "body") if k not in row]
            body = row.get("body")
            if missing or not isinstance(body, dict):
                err("missing_required_parameter", f"Missing required parameter: {missing}.", i, "body")
                continue
            cid = row["custom_id"]
            if not isinstance(cid, str) or not cid:
                err("invalid_value", "custom_id must be a non-empty string.", i, "custom_id")
            elif cid in seen:
                err("duplicate_custom_id", _DUPLICATE, i, "custom_id")
            seen.add(str(cid))
            if row["method"] != "POST":
                err("invalid_value", "Only POST is supported.", i, "method")
            url = row["url"]
            if url not in urls or (
                endpoint is not None and url.removeprefix("/v1") != endpoint.removeprefix("/v1")
            ):
                err("url_mismatch", f"The url {url!r} does not match the batch endpoint.", i, "url")
            if not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
                err("missing_required_parameter", "body needs a model and a messages list.", i, "body")
                continue
            models.add(body["model"])
            if len(models) > 1:
                err("model_mismatch", "Each input file can only include requests to a single model.", i)
                models = {body["model"]}
            lines.append(_Line(str(cid), body))
        return lines, errors

    def completion(self, body: dict[str, Any], fault: str | None) -> dict[str, Any]:
        """A chat.completion for `body`, deterministic in (seed, body), bent by `fault`."""
        digest, rng = body_rng(body, self.config.seed)
        prompt = prompt_of(body.get("messages") or [])
        content: str | None
        refusal, finish = None, "stop"
        if fault == "refusal":
            content, refusal = None, REFUSAL
        elif fault == "schema_fail":
            content = '{"unexpected": true}'
        else:
            content = answer_for(body, rng, prompt)
            limit = 4 * int(body.get("max_completion_tokens") or body.get("max_tokens") or 0)
            if fault == "length":
                content, finish = content[: max(1, len(content) // 2)], "length"
            elif self.config.honor_max_tokens and limit and len(content) > limit:
                content, finish = content[:limit], "length"
        prompt_tokens = 1 + len(json.dumps(body)) // 4
        completion_tokens = max(1, len(content or refusal or "") // 4)
        message = {"role": "assistant", "content": content, "refusal": refusal}
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}  # fmt: skip
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        return {"id": f"chatcmpl-{digest}", "object": "chat.completion", "created": int(self.clock.now()),
                "model": str(body.get("model") or self.config.model), "choices": [choice], "usage": usage,
                "system_fingerprint": "fp_synsym"}  # fmt: skip

    def run_line(self, line: _Line) -> None:
        problem = openai_params_problem(line.body, set(self.config.reasoning_models))
        fault = "4xx" if problem else self.die.pick()
        response: dict[str, Any] = {"status_code": 200, "request_id": self.new_id("req_")}
        if fault in ("4xx", "5xx"):
            status, kind = (400, "invalid_request_error") if fault == "4xx" else (500, "server_error")
            response["status_code"] = status
            message = problem or f"Injected {status}."
            response["body"] = {"error": {"message": message, "type": kind, "param": None, "code": None}}
            self.ledger.lines_failed += 1
        else:
            response["body"] = self.completion(line.body, fault)
            usage = response["body"]["usage"]
            line.ok, line.tokens = True, (usage["prompt_tokens"], usage["completion_tokens"])
            self.ledger.bill(line.custom_id)
        line.result = self.result_line(line.custom_id, response, None)

    def result_line(self, custom_id: str, response: Any, error: Any) -> dict[str, Any]:
        return {"id": self.new_id("batch_req_"), "custom_id": custom_id, "response": response, "error": error}

    def tick(self, b: _Batch) -> None:
        """Bring `b` to the state it has at the clock's now (phases may be skipped over)."""
        c, now = self.config, self.clock.now()
        if b.status == "validating":
            t = b.created + c.validating_s
            if now < t:
                return
            data = self.files[b.input_file_id].data if b.input_file_id in self.files else b""
            b.lines, errors = self.check_lines(data, b.azure, b.endpoint)
            if errors:
                b.status, b.errors, b.lines = "failed", errors, []
                b.times["failed_at"] = t
                return
            b.status, b.times["in_progress_at"] = "in_progress", t
        n, deadline = len(b.lines), b.created + c.completion_window_s
        if b.azure and not c.azure_expires:
            deadline = float("inf")
        if b.status == "in_progress":
            start = b.times["in_progress_at"]
            fraction = c.expire_fraction if deadline < float("inf") else None
            target = due(n, start, now, c.in_progress_s, deadline, fraction)
            while b.done < target:
                self.run_line(b.lines[b.done])
                b.done += 1
            if b.done == n:
                b.status, b.times["finalizing_at"] = "finalizing", start + max(0.0, c.in_progress_s)
            elif now >= deadline:
                self.finish(b, "expired", deadline)
        if b.status == "finalizing" and now >= b.times["finalizing_at"] + c.finalizing_s:
            self.finish(b, "completed", b.times["finalizing_at"] + c.finalizing_s)
        if b.status == "cancelling" and now >= b.times["cancelling_at"] + c.cancelling_s:
            self.finish(b, "cancelled", b.times["cancelling_at"] + c.cancelling_s)

    def finish(self, b: _Batch, status: str, at: float) -> None:
        """Enter a final state and write the output and error files (each only if it has lines)."""
        b.status, b.times[f"{status}_at"] = status, at
        executed = b.lines[: b.done]
        out = [ln.result for ln in executed if ln.ok]
        bad = [ln.result for ln in executed if not ln.ok]
        code, message = (
            ("batch_expired", _EXPIRED) if status == "expired" else ("batch_cancelled", _CANCELLED)
        )
        bad += [
            self.result_line(ln.custom_id, None, {"code": code, "message": message})
            for ln in b.lines[b.done :]
        ]
        key = f"{self.config.seed}:{b.id}" if self.config.shuffle_output else None
        for name, rows in (("output", out), ("error", bad)):
            if rows:
                f = self.add_file(f"{b.id}_{name}.jsonl", "batch_output", jsonl(rows, key))
                setattr(b, f"{name}_file_id", f.id)

    def obj(self, b: _Batch) -> dict[str, Any]:
        self.tick(b)
        executed = b.lines[: b.done]
        ok = sum(ln.ok for ln in executed)
        tokens_in, tokens_out = sum(ln.tokens[0] for ln in executed), sum(ln.tokens[1] for ln in executed)
        out: dict[str, Any] = {
            "id": b.id, "object": "batch", "endpoint": b.endpoint,
            "model": b.lines[0].body["model"] if b.lines else None,
            "errors": {"object": "list", "data": b.errors} if b.errors else None,
            "input_file_id": b.input_file_id, "completion_window": "24h", "status": b.status,
            "output_file_id": b.output_file_id, "error_file_id": b.error_file_id,
            "created_at": int(b.created), "expires_at": int(b.created + self.config.completion_window_s),
        }  # fmt: skip
        out.update({key: int(b.times[key]) if key in b.times else None for key in (*_TIMES, "cancelled_at")})
        out["request_counts"] = {"total": len(b.lines), "completed": ok, "failed": len(executed) - ok}
        out["metadata"] = b.metadata
        out["usage"] = {"input_tokens": tokens_in, "input_tokens_details": {"cached_tokens": 0},
                        "output_tokens": tokens_out, "output_tokens_details": {"reasoning_tokens": 0},
                        "total_tokens": tokens_in + tokens_out}  # fmt: skip
        return out


_STATE = web.AppKey("state", _State)


def _azure(request: web.Request) -> bool:
    return request.path.startswith("/openai/")


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Azure's api-version rule, then the key: Bearer for OpenAI, `api-key` (or Bearer) for Azure."""
    if request.path.startswith("/_"):
        return await handler(request)
    azure = _azure(request)
    if azure and not request.path.startswith("/openai/v1/") and "api-version" not in request.query:
        return _azure_err(request.app[_STATE].config.azure_missing_version_status, "Resource not found")
    key = request.app[_STATE].config.api_key
    auth = request.headers.get("Authorization", "")
    given = auth[7:] if auth.startswith("Bearer ") else None
    if azure:
        given = request.headers.get("api-key") or given
    if key and given != key:
        if azure:
            return _azure_err(401, _AZURE_401)
        return (
            _err(401, _NO_KEY) if given is None else _err(401, "Incorrect API key.", code="invalid_api_key")
        )
    return await handler(request)


async def _upload(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    try:
        form = await request.post()
    except ValueError as exc:
        return _err(400, f"Invalid multipart body: {exc}")
    upload, purpose = form.get("file"), form.get("purpose")
    if not isinstance(upload, web.FileField):
        return _err(400, "Missing required parameter: 'file'.", param="file")
    if purpose not in _PURPOSES:
        return _err(400, f"Invalid value for 'purpose': {purpose!r}.", param="purpose")
    data = upload.file.read()
    if purpose == "batch":
        limit = state.config.max_input_bytes
        if len(data) > limit:
            return _err(400, f"The file has {len(data)} bytes; the Batch API takes at most {limit}.")
        malformed = state.config.reject_malformed_at_upload
        errors = state.check_lines(data, _azure(request), None)[1] if malformed else []
        if errors:
            message = f"Invalid file format for Batch API: line {errors[0]['line']}: {errors[0]['message']}"
            return _err(400, message, code=errors[0]["code"])
    state.ledger.files_uploaded += 1
    return web.json_response(state.add_file(upload.filename or "upload.jsonl", str(purpose), data).obj())


async def _file(request: web.Request) -> web.Response:
    """GET /files/{id}, GET /files/{id}/content and DELETE /files/{id}."""
    files = request.app[_STATE].files
    f = files.get(request.match_info["file_id"])
    if f is None:
        return _err(404, f"No such File object: {request.match_info['file_id']}", param="id")
    if request.method == "DELETE":
        del files[f.id]
        return web.json_response({"id": f.id, "object": "file", "deleted": True})
    if request.path.endswith("/content"):
        return web.Response(body=f.data, content_type="application/octet-stream")
    return web.json_response(f.obj())


def _bad_metadata(metadata: Any) -> bool:
    if metadata is None:
        return False
    if not isinstance(metadata, dict) or len(metadata) > 16:
        return True
    return not all(isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512
                   for k, v in metadata.items())  # fmt: skip


async def _create_batch(request: web.Request) -> web.Response:
    state, azure, body = request.app[_STATE], _azure(request), await read_json(request)
    if body is None:
        return _err(400, "We could not parse the JSON body of your request.")
    for name in ("input_file_id", "endpoint", "completion_window"):
        if name not in body:
            return _err(400, f"Missing required parameter: '{name}'.", param=name)
    if body["endpoint"] not in ({"/chat/completions", _CHAT} if azure else {_CHAT}):
        return _err(400, f"Invalid value for 'endpoint': {body['endpoint']!r}.", param="endpoint")
    if body["completion_window"] != "24h":
        return _err(400, "Only a completion_window of '24h' is supported.", param="completion_window")
    metadata = body.get("metadata")
    if _bad_metadata(metadata):
        return _err(400, "metadata: at most 16 pairs of strings (keys <= 64, values <= 512 characters).")
    f = state.files.get(body["input_file_id"])
    if f is None or f.purpose != "batch":
        return _err(400, f"No batch input file {body['input_file_id']!r}.", param="input_file_id")
    for model in _models(f.data):
        if state.config.models and model not in state.config.models:
            message = f"The model '{model}' does not exist or is not supported by the Batch API."
            return _err(400, message, param="model", code="model_not_found")
    b = _Batch(state.new_id("batch_"), f.id, body["endpoint"], metadata, state.clock.now(), azure)
    state.batches[b.id] = b
    state.ledger.batches_created += 1
    state.ledger.batches_by_metadata.update(f"{k}={v}" for k, v in (metadata or {}).items())
    return web.json_response(state.obj(b))


def _models(data: bytes) -> set[str]:
    """The models an input file's lines name (lines that do not parse are validation's business)."""
    found = set()
    for raw in data.splitlines():
        try:
            found.add(str(json.loads(raw)["body"]["model"]))
        except (ValueError, KeyError, TypeError):
            continue
    return found


async def _batch(request: web.Request) -> web.Response:
    """GET /batches/{id} and POST /batches/{id}/cancel."""
    state = request.app[_STATE]
    b = state.batches.get(request.match_info["batch_id"])
    if b is None:
        return _err(404, f"No batch found with id '{request.match_info['batch_id']}'.")
    if request.method == "POST":
        state.tick(b)
        if b.status in ("validating", "in_progress", "finalizing"):
            b.status, b.times["cancelling_at"] = "cancelling", state.clock.now()
            state.ledger.cancels += 1
        elif b.status != "cancelling":
            return _err(409, f"Cannot cancel a batch with status '{b.status}'.")
    return web.json_response(state.obj(b))


async def _list_batches(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    try:
        limit = int(request.query.get("limit", "20"))
        ids, more = page(list(reversed(state.batches)), limit, request.query.get("after"))
        assert 1 <= limit <= 100
    except (ValueError, AssertionError):
        return _err(400, "limit must be an integer between 1 and 100.", param="limit")
    except KeyError:
        return _err(400, "Unknown 'after' cursor.", param="after")
    data = [state.obj(state.batches[i]) for i in ids]
    first, last = (ids[0], ids[-1]) if ids else (None, None)
    return web.json_response(
        {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": more}
    )


async def _chat(request: web.Request) -> web.Response:
    """Online chat completions (a convenience), with the lines' fault odds on a die of their own."""
    state, body = request.app[_STATE], await read_json(request)
    state.ledger.online_requests += 1
    if body is None or not isinstance(body.get("messages"), list):
        return _err(400, "The body needs a 'messages' list.", param="messages")
    if "deployment" in request.match_info:
        body.setdefault("model", request.match_info["deployment"])
    fault = state.online_die.pick()
    if fault in ("4xx", "5xx"):
        return _err(400, "Injected 400.") if fault == "4xx" else _err(500, "Injected 500.", "server_error")
    return web.json_response(state.completion(body, fault))


def build_app(config: BatchServerConfig | None = None) -> web.Application:
    """The aiohttp app with every route under /v1, /openai and /openai/v1, plus /_stats and /_clock."""
    config = config or BatchServerConfig()
    app = web.Application(middlewares=[_guard], client_max_size=config.max_input_bytes + (1 << 20))
    state = app[_STATE] = _State(config)
    for prefix in ("/v1", "/openai", "/openai/v1"):
        r = app.router
        r.add_post(f"{prefix}/files", _upload)
        r.add_route("*", f"{prefix}/files/{{file_id}}", _file)
        r.add_get(f"{prefix}/files/{{file_id}}/content", _file)
        r.add_post(f"{prefix}/batches", _create_batch)
        r.add_get(f"{prefix}/batches", _list_batches)
        r.add_get(f"{prefix}/batches/{{batch_id}}", _batch)
        r.add_post(f"{prefix}/batches/{{batch_id}}/cancel", _batch)
        r.add_post(f"{prefix}/chat/completions", _chat)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", _chat)
    add_control_routes(app, state)
    return app


class OpenAIBatchServer(BackgroundServer[_State]):
    """The fake in a background thread. `url` is the OpenAI base URL (`.../v1`); `azure_endpoint` is
    what `AzureOpenAI(azure_endpoint=...)` takes (the origin)."""

    def __init__(self, config: BatchServerConfig | None = None) -> None:
        super().__init__()
        self.config = config or BatchServerConfig()

    def build(self) -> tuple[web.Application, _State]:
        app = build_app(self.config)
        return app, app[_STATE]

    @property
    def url(self) -> str:
        return f"{self.origin}/v1"

    @property
    def azure_endpoint(self) -> str:
        return self.origin


def main(argv: list[str] | None = None) -> None:
    """Serve until killed; the first stdout line is the base URL (ending in /v1)."""
    prog = "python -m synsym.testing.openai_batch_server"
    config, port = config_from_argv(BatchServerConfig, argv, prog, "A loopback fake of the OpenAI Batch API.")
    serve_forever(build_app(config), port, "/v1")


if __name__ == "__main__":
    main(sys.argv[1:])
