"""`openai-batch`: the OpenAI Batch API (https://platform.openai.com/docs/guides/batch), and Azure
OpenAI's batch endpoint (the same routes under `https://RESOURCE.openai.azure.com/openai`, with an
`api-version` query and the key in `api-key`).

Lines are `POST /v1/chat/completions` bodies exactly as the online `openai` backend sends them, and
answers cache under the same family, so a batch run and an online run share every answer. The lines are
uploaded as one file (purpose `batch`), then one batch is created from it with the client token in
`metadata.synsym_token`; the ledger keeps the file id too, so a batch whose id was never saved is found
again by either. Limits (the docs): 50,000 requests and 200 MB per input file; both are options.

What the docs say can go wrong, and what this does about it: an uploaded file is `pending` until it is
`processed` ("Once your file has uploaded successfully by reaching a status of processed you can submit
the file for batch processing", Azure), so create waits for that, and a create answered "Cannot find
file" is retried; Azure's preview API answers ISO `created_at` and capitalised statuses, read here;
"The output file will automatically be deleted 30 days after the batch is complete", so a batch ended
longer ago than that reports `results_gone`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

import aiohttp
import orjson
from pydantic import Field, PositiveInt

from synsym.backends.base import ChatResponse, TransientError
from synsym.backends.batch_base import BatchBackend, BatchInfo, BatchOptions, online_config
from synsym.backends.batch_util import epoch, listed, readable
from synsym.backends.openai_http import OpenAIBackend, OpenAIOptions, http_error, parse_completion
from synsym.core.config import BackendConfig
from synsym.core.errors import BackendError, ConfigError

_ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
_LINE_ERRORS = {"batch_expired": "timeout", "batch_cancelled": "server_error"}
_RETENTION_S = 30 * 86_400  # "The output file will automatically be deleted 30 days after ..."
_NOT_READY = ("cannot find file", "not processed", "not ready")  # create before the file is processed
_FILE_WAIT_S = 600.0  # how long create waits for an upload to be processed before trying anyway


class OpenAIBatchOptions(OpenAIOptions, BatchOptions):
    max_requests_per_batch: PositiveInt = Field(50_000, description="requests per batch (OpenAI: 50,000)")
    max_bytes_per_batch: PositiveInt = Field(
        200 * 1024 * 1024, description="bytes per input file (OpenAI: 200 MB)"
    )
    line_url: str | None = Field(
        None, description="each line's url: /v1/chat/completions (default), /chat/completions for Azure"
    )

    transport: ClassVar[frozenset[str]] = (
        OpenAIOptions.transport | BatchOptions.transport | frozenset({"line_url"})
    )


class OpenAIBatchBackend(BatchBackend):
    name = "openai-batch"
    family = "openai"
    Options = OpenAIBatchOptions
    options: OpenAIBatchOptions

    def __init__(self, config: BackendConfig, where: str = "backend") -> None:
        super().__init__(config, where)
        opts = self.options
        if opts.base_urls:
            raise ConfigError(f"{where}.base_urls -> a batch backend sends to one base_url")
        if not opts.base_url:
            raise ConfigError(f"{where}.base_url -> required for {self.name}, e.g. https://api.openai.com/v1")
        self.base = opts.base_url.rstrip("/")
        self.azure = "api-version" in opts.query or opts.api_key_header.lower() == "api-key"
        self.line_url = opts.line_url or ("/chat/completions" if self.azure else "/v1/chat/completions")
        online = self.base  # Azure's classic API answers online requests per deployment
        if "api-version" in opts.query and not self.base.endswith("/v1"):
            online = f"{self.base}/deployments/{config.model}"
        self._chat = OpenAIBackend(online_config(config, OpenAIOptions, "openai", base_url=online), where)

    @property
    def endpoint(self) -> str:
        return self.base + "/batches"

    def online(self) -> OpenAIBackend:
        return self._chat

    def auth(self) -> dict[str, str]:
        return {**self.options.headers, **self._chat.auth_headers()}

    def line(self, custom_id: str, request: Any) -> bytes:
        body = self._chat.body(request)
        return orjson.dumps({"custom_id": custom_id, "method": "POST", "url": self.line_url, "body": body})

    def _params(self, **extra: str) -> dict[str, str] | None:
        return {**self.options.query, **extra} or None

    async def upload(self, data: bytes) -> str | None:
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", data, filename="synsym-batch.jsonl", content_type="application/jsonl")
        made = await self.http.json(
            "POST", f"{self.base}/files", data=form, params=self._params(), kind="upload"
        )
        await self._processed(str(made["id"]), str(made.get("status") or "processed"))
        return str(made["id"])

    async def _processed(self, file_id: str, status: str) -> None:
        """Wait (bounded) until the file is `processed`; a file the service could not read fails the
        lines with its reason. Create is tried after the bound anyway; "not ready" is retried there."""
        deadline, pause = time.monotonic() + _FILE_WAIT_S, 0.05
        while status.lower() != "processed":  # as openai-python's files.wait_for_processing
            if status.lower() in ("error", "deleted"):
                raise BackendError(f"the uploaded batch file {file_id} is {status}: the service cannot read")
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(pause)
            pause = min(2 * pause, self.options.poll_interval_s, 5.0)
            made = await self.http.json("GET", f"{self.base}/files/{file_id}", params=self._params())
            status = str(made.get("status") or "processed")

    async def create(self, lines: list[bytes], file_id: str | None, token: str) -> BatchInfo:
        body = {
            "input_file_id": file_id,
            "endpoint": self.line_url,
            "completion_window": self.options.completion_window,
            "metadata": {"synsym_token": token},
        }
        url = f"{self.base}/batches"
        try:
            made = await self.http.json(
                "POST", url, body=orjson.dumps(body), params=self._params(), kind="create"
            )
        except BackendError as exc:
            if type(exc) is BackendError and any(w in str(exc).lower() for w in _NOT_READY):
                raise TransientError("server_error", f"the input file is not ready yet: {exc}") from None
            raise
        return readable(info, made, "create")

    async def get(self, batch_id: str) -> BatchInfo:
        return readable(
            info, await self.http.json("GET", f"{self.base}/batches/{batch_id}", params=self._params()), "get"
        )

    async def recent(self, since: float) -> list[BatchInfo]:
        found: list[BatchInfo] = []
        after: str | None = None
        while True:
            extra = {"limit": "100", **({"after": after} if after else {})}
            page = await self.http.json(
                "GET", f"{self.base}/batches", params=self._params(**extra), kind="list"
            )
            batches = listed(info, page.get("data") or [])
            found += [b for b in batches if b.created_at >= since]
            if not page.get("has_more") or not batches or batches[-1].created_at < since:
                return found
            after = batches[-1].id

    async def cancel(self, batch_id: str) -> BatchInfo:
        url = f"{self.base}/batches/{batch_id}/cancel"
        return readable(
            info, await self.http.json("POST", url, params=self._params(), kind="cancel"), "cancel"
        )

    async def download(self, batch: BatchInfo) -> list[bytes]:
        lines: list[bytes] = []
        for file_id in batch.results:
            url = f"{self.base}/files/{file_id}/content"
            raw = await self.http.call("GET", url, params=self._params(), kind="download")
            lines += [row for row in raw.splitlines() if row.strip()]
        return lines

    def parse(self, raw: bytes) -> tuple[str, ChatResponse | Exception]:
        try:
            row = orjson.loads(raw)
            custom_id = str(row["custom_id"])
            response, error = row.get("response"), row.get("error")
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"malformed result line ({exc})") from None
        if response and response.get("status_code") == 200:
            try:
                return custom_id, parse_completion(response["body"])
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                return custom_id, TransientError("bad_response", f"a malformed answer in the batch ({exc})")
        if response:
            return custom_id, http_error(
                int(response.get("status_code") or 500), orjson.dumps(response.get("body")), None
            )
        code = str((error or {}).get("code") or "error")
        message = str((error or {}).get("message") or "no answer in the batch")
        return custom_id, TransientError(_LINE_ERRORS.get(code, "server_error"), f"{code}: {message}")


def info(b: dict[str, Any]) -> BatchInfo:
    counts = b.get("request_counts") or {}
    errors = ((b.get("errors") or {}).get("data")) or []
    status = str(b["status"]).lower()  # Azure's preview API: "Validating", "Completed"
    ended_at = max(epoch(b.get(k)) for k in ("completed_at", "expired_at", "cancelled_at", "failed_at"))
    return BatchInfo(
        id=str(b["id"]),
        status=status,
        ended=status in _ENDED,
        total=int(counts.get("total") or 0),
        done=int(counts.get("completed") or 0) + int(counts.get("failed") or 0),
        failed=int(counts.get("failed") or 0),
        created_at=epoch(b.get("created_at")),
        token=(b.get("metadata") or {}).get("synsym_token"),
        input_file=b.get("input_file_id"),
        results=tuple(f for f in (b.get("output_file_id"), b.get("error_file_id")) if f),
        errors=tuple((e.get("line"), str(e.get("code")), str(e.get("message"))) for e in errors),
        results_gone=status in _ENDED and 0 < ended_at < time.time() - _RETENTION_S,
    )
