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

The failures the providers document, each a knob (off by default unless the docs make it the default):
- `max_enqueued_tokens`: "Queued prompt tokens per model: Each model has a maximum number of prompt
  tokens that can be queued for batch processing" (OpenAI Batch guide, Rate limits). Over it, create
  still answers 200 and the batch then fails as openai-python#2084 shows: `token_limit_exceeded`,
  "Enqueued token limit reached for <model> in organization ... Please try again once some
  in_progress batches have been completed."
- `file_processing_s`: "Once your file has uploaded successfully by reaching a status of `processed`
  you can submit the file for batch processing" (Azure global batch): the upload answers `pending`
  (`uploaded` on OpenAI) and a create before then gets the 400 bespokelabsai/curator#116 saw: "Cannot
  find file ..., or project ... does not have access to it."
- `output_retention_s` (default 30 days): "The output file will automatically be deleted 30 days
  after the batch is complete"; then its content is a 404.
- `foreign_batches`: the listing is the whole project's, so other runs' batches of the same size (with
  their own tokens, other custom_ids, billed to nobody here) are created just before each of ours.
- `p_drop_create`: the batch is made, then the connection drops before the answer (a lost reply).
- `azure_preview`: the 2024-07-01-preview shapes on `/openai/...`: `"created_at":
  "2024-07-19T17:13:57.2491382+00:00"`, `"status": "Validating"` / `"Completed"`.
- `quota_lines`: once that many lines are billed, every POST answers 429 `insufficient_quota` ("You
  exceeded your current quota, please check your plan and billing details."), until `POST /_quota`
  raises it.

In process: `with OpenAIBatchServer(BatchServerConfig(...)) as s: s.url, s.advance(60), s.stats()`.
Subprocess: `python -m synsym.testing.openai_batch_server --port 0` prints the base URL (ending in /v1).
"""

from __future__ import annotations

import datetime as _dt
import json
import random
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
_QUEUE_FULL = (
    "Enqueued token limit reached for {model} in organization org-fake. Limit: {limit:,} enqueued tokens. "
    "Please try again once some in_progress batches have been completed."
)
_NO_FILE = "Cannot find file {id}, or project proj_fake does not have access to it."
_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more information on "
    "this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
)
_AZURE_STATUS = {"in_progress": "InProgress"}  # the rest: capitalised ("Validating", "Completed")


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
    max_enqueued_tokens: int | None = None  # per model, over unfinished batches (see the docstring)
    file_processing_s: float = 0.0  # an upload is `pending` this long
    output_retention_s: float | None = 30 * 86_400.0  # then output and error files are deleted
    foreign_batches: int = 0  # other runs' batches of the same size, created just before each of ours
    p_drop_create: float = 0.0  # create makes the batch, then drops the connection
    azure_preview: bool = False  # ISO created_at and capitalised statuses on /openai/...
    quota_lines: int | None = None  # billed lines before every POST answers 429 insufficient_quota
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
    ready_at: float = 0.0  # `processed` from then on
    expires_at: float | None = None  # deleted then (batch output)

    def obj(self, now: float, azure: bool = False) -> dict[str, Any]:
        status = "processed" if now >= self.ready_at else "pending" if azure else "uploaded"
        expires = None if self.expires_at is None else int(self.expires_at)
        return {"id": self.id, "object": "file", "bytes": len(self.data), "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": status,
                "expires_at": expires, "status_details": None}  # fmt: skip


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
    refusal: list[dict[str, Any]] | None = None  # errors it fails validation with (the queue was full)
    foreign: bool = False  # another run's: listed, never billed here
    model: str = ""
    queued: int = 0  # prompt tokens it holds in the model's queue while unfinished


class _State(BatchState[_Batch]):
    """Files, batches, dice and the ledger; touched only from the server's event loop."""

    def __init__(self, config: BatchServerConfig) -> None:
        super().__init__(config.seed, config.simulated_clock)
        self.config = config
        self.die = Die(config.seed, config.probs(), config.script)
        self.online_die = Die(config.seed + 1, config.probs(), [])
        self.drops = random.Random(config.seed + 3)
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

    def run_line(self, line: _Line, foreign: bool = False, batch_id: str = "") -> None:
        if foreign:  # another run's line: answered, billed to that run, and no roll of this run's dice
            body = self.completion(line.body, None)
            line.ok, line.result = (
                True,
                self.result_line(line.custom_id, {"status_code": 200, "body": body}, None),
            )
            return
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
            self.ledger.bill(line.custom_id, batch_id)
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
            errors = errors or b.refusal or []
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
                self.run_line(b.lines[b.done], b.foreign, b.id)
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
        keep = self.config.output_retention_s
        for name, rows in (("output", out), ("error", bad)):
            if rows:
                f = self.add_file(f"{b.id}_{name}.jsonl", "batch_output", jsonl(rows, key))
                f.expires_at = None if keep is None else at + keep
                setattr(b, f"{name}_file_id", f.id)

    def enqueued(self, model: str) -> int:
        """Prompt tokens this organisation has queued for `model`: its unfinished batches'."""
        for b in self.batches.values():
            self.tick(b)
        open_ = ("validating", "in_progress", "finalizing", "cancelling")
        return sum(b.queued for b in self.batches.values() if b.model == model and b.status in open_)

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
        if b.azure and self.config.azure_preview:  # "created_at": "2024-07-19T17:13:57.2491382+00:00"
            out["status"] = _AZURE_STATUS.get(b.status, b.status.capitalize())
            for key in ("created_at", "expires_at", *_TIMES, "cancelled_at"):
                out[key] = None if out[key] is None else _iso7(float(out[key]))
        out["request_counts"] = {"total": len(b.lines), "completed": ok, "failed": len(executed) - ok}
        out["metadata"] = b.metadata
        out["usage"] = {"input_tokens": tokens_in, "input_tokens_details": {"cached_tokens": 0},
                        "output_tokens": tokens_out, "output_tokens_details": {"reasoning_tokens": 0},
                        "total_tokens": tokens_in + tokens_out}  # fmt: skip
        return out


def _iso7(ts: float) -> str:
    """Azure's preview timestamp: seven fractional digits and an explicit offset."""
    when = _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"


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
    state = request.app[_STATE]
    quota = state.config.quota_lines
    if request.method == "POST" and quota is not None and state.ledger.lines_billed >= quota:
        return _err(429, _QUOTA, kind="insufficient_quota", code="insufficient_quota")
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
    made = state.add_file(upload.filename or "upload.jsonl", str(purpose), data)
    made.ready_at = state.clock.now() + state.config.file_processing_s
    return web.json_response(made.obj(state.clock.now(), _azure(request)))


async def _file(request: web.Request) -> web.Response:
    """GET /files/{id}, GET /files/{id}/content and DELETE /files/{id}."""
    state = request.app[_STATE]
    files, now = state.files, state.clock.now()
    f = files.get(request.match_info["file_id"])
    if f is not None and f.expires_at is not None and now >= f.expires_at:  # "automatically deleted"
        del files[f.id]
        f = None
    if f is None:
        return _err(404, f"No such File object: {request.match_info['file_id']}", param="id")
    if request.method == "DELETE":
        del files[f.id]
        return web.json_response({"id": f.id, "object": "file", "deleted": True})
    if request.path.endswith("/content"):
        return web.Response(body=f.data, content_type="application/octet-stream")
    return web.json_response(f.obj(now, _azure(request)))


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
    if state.clock.now() < f.ready_at:  # not `processed` yet
        return _err(400, _NO_FILE.format(id=f.id), param="input_file_id")
    model, queued = _queue_size(f.data)
    for _ in range(state.config.foreign_batches):
        _foreign(state, f.data, body["endpoint"], azure)
    b = _Batch(state.new_id("batch_"), f.id, body["endpoint"], metadata, state.clock.now(), azure)
    b.model, b.queued, limit = model, queued, state.config.max_enqueued_tokens
    if limit is not None and state.enqueued(model) + queued > limit:
        message = _QUEUE_FULL.format(model=model, limit=limit)
        b.refusal = [{"code": "token_limit_exceeded", "message": message, "param": None, "line": None}]
        state.ledger.creates_refused += 1
    state.batches[b.id] = b
    state.ledger.batches_created += 1
    state.ledger.batches_by_metadata.update(f"{k}={v}" for k, v in (metadata or {}).items())
    if state.drops.random() < state.config.p_drop_create and request.transport is not None:
        state.ledger.creates_dropped += 1
        request.transport.close()  # made, but the answer never arrives
    return web.json_response(state.obj(b))


def _queue_size(data: bytes) -> tuple[str, int]:
    """The model an input file's lines ask and the prompt tokens they queue (as `usage` counts them)."""
    model, tokens = "", 0
    for raw in data.splitlines():
        try:
            body = json.loads(raw)["body"]
            model, tokens = str(body.get("model")), tokens + 1 + len(json.dumps(body)) // 4
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return model, tokens


def _foreign(state: _State, data: bytes, endpoint: str, azure: bool) -> None:
    """Another run's batch of the same size, made a second before: its own token, its own ids."""
    tag = state.new_id("")
    rows = []
    for i, raw in enumerate(data.splitlines()):
        try:
            row = json.loads(raw)
            row["custom_id"] = f"other-{tag}-{i}"
            rows.append(row)
        except (ValueError, TypeError):
            continue
    f = state.add_file("theirs.jsonl", "batch", jsonl(rows))
    b = _Batch(state.new_id("batch_"), f.id, endpoint, {"synsym_token": f"synsym-{tag[:32]}"},
               state.clock.now() - 1.0, azure, foreign=True)  # fmt: skip
    state.batches[b.id] = b


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

    async def quota(request: web.Request) -> web.Response:  # the account is topped up
        body = await read_json(request) or {}
        state.config.quota_lines = body.get("lines")
        return web.json_response({"quota_lines": state.config.quota_lines})

    app.router.add_post("/_quota", quota)
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
