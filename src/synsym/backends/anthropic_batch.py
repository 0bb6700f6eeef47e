"""`anthropic-batch`: Anthropic's Message Batches API
(https://docs.anthropic.com/en/docs/build-with-claude/batch-processing).

Each line is `{"custom_id", "params"}` with `params` exactly the body the online `anthropic` backend
sends, and answers cache under the same family. Limits (the docs): 100,000 requests or 256 MB per
batch, whichever comes first; both are options. Results are one JSONL stream once the batch has
`ended`; each is `succeeded` (a Message), `errored`, `canceled` or `expired`.

The API keeps no metadata on a batch, so a client token cannot travel with it: the ledger saves the
batch id the moment create returns. When that id is lost (a kill between create returning and the
save, or a create whose answer never arrived), the batch is looked for among the Workspace's batches,
which the docs say include every batch "created in the Workspace your API key belongs to": teammates'
and other runs' too. So a candidate must have the intent's number of requests, be created between the
intent (less `adopt_skew_s`) and the last create attempt plus the create timeout (plus the skew), and
be claimed by no other row; the earliest is adopted, but only provisionally: `batches cancel` leaves
it alone, and once it ends its results must carry exactly this row's custom_ids, or it is recorded as
another's and the search goes on.

The processing queue is counted in requests ("a limit on the number of batch requests that can be in
the processing queue at the same time", tier 1: 100,000), so `max_enqueued_requests` defaults to that,
and a create refused with 429 waits for room. Results "are available for 29 days after creation";
after that (or once `archived_at` is set) a batch reports `results_gone`.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import orjson
from pydantic import Field, PositiveInt

from synsym.backends.anthropic import AnthropicBackend, AnthropicOptions, parse_message
from synsym.backends.base import ChatRequest, ChatResponse, TransientError
from synsym.backends.batch_base import BatchBackend, BatchInfo, BatchOptions, online_config
from synsym.backends.batch_util import epoch, listed, readable
from synsym.backends.openai_http import http_error
from synsym.core.config import BackendConfig
from synsym.core.errors import BackendError

_ERRORS = {
    "api_error": "server_error",
    "overloaded_error": "overloaded",
    "rate_limit_error": "rate_limit",
    "timeout_error": "timeout",
}
_COUNTS = ("processing", "succeeded", "errored", "canceled", "expired")
_RETENTION_S = 29 * 86_400  # "Results ... are available for 29 days after creation"


class AnthropicBatchOptions(AnthropicOptions, BatchOptions):
    max_requests_per_batch: PositiveInt = Field(
        100_000, description="requests per batch (Anthropic: 100,000)"
    )
    max_bytes_per_batch: PositiveInt = Field(
        256 * 1024 * 1024, description="bytes per batch request (Anthropic: 256 MB)"
    )
    adopt_skew_s: float = Field(
        300.0, ge=0, description="clock skew allowed when a rerun looks for a batch whose id was not saved"
    )
    max_enqueued_requests: PositiveInt | None = Field(
        100_000, description="requests in unfinished batches (Anthropic tier 1: 100,000; tier 4: 500,000)"
    )

    transport: ClassVar[frozenset[str]] = (
        AnthropicOptions.transport | BatchOptions.transport | frozenset({"adopt_skew_s"})
    )


class AnthropicBatchBackend(BatchBackend):
    name = "anthropic-batch"
    family = "anthropic"
    api = "Message Batches API"
    online_name = "anthropic"
    Options = AnthropicBatchOptions
    options: AnthropicBatchOptions

    def __init__(self, config: BackendConfig, where: str = "backend") -> None:
        super().__init__(config, where)
        self._chat = AnthropicBackend(online_config(config, AnthropicOptions, "anthropic"), where)
        self.base = self._chat.base
        self.batches = self.base + "/v1/messages/batches"

    @property
    def endpoint(self) -> str:
        return self.batches

    def online(self) -> AnthropicBackend:
        return self._chat

    def auth(self) -> dict[str, str]:
        return self._chat.headers()

    def line(self, custom_id: str, request: ChatRequest) -> bytes:
        return orjson.dumps({"custom_id": custom_id, "params": self._chat.body(request)})

    async def create(self, lines: list[bytes], file_id: str | None, token: str) -> BatchInfo:
        body = b'{"requests":[' + b",".join(lines) + b"]}"
        return readable(info, await self.http.json("POST", self.batches, body=body, kind="create"), "create")

    async def get(self, batch_id: str) -> BatchInfo:
        return readable(info, await self.http.json("GET", f"{self.batches}/{batch_id}"), "get")

    async def recent(self, since: float) -> list[BatchInfo]:
        found: list[BatchInfo] = []
        after: str | None = None
        while True:
            params = {"limit": "100", **({"after_id": after} if after else {})}
            page = await self.http.json("GET", self.batches, params=params, kind="list")
            batches = listed(info, page.get("data") or [])
            found += [b for b in batches if b.created_at >= since]
            if not page.get("has_more") or not batches or batches[-1].created_at < since:
                return found
            after = batches[-1].id

    async def cancel(self, batch_id: str) -> BatchInfo:
        return readable(
            info, await self.http.json("POST", f"{self.batches}/{batch_id}/cancel", kind="cancel"), "cancel"
        )

    async def download(self, batch: BatchInfo) -> list[bytes]:
        lines: list[bytes] = []
        for url in batch.results:
            raw = await self.http.call("GET", url, kind="download")
            lines += [row for row in raw.splitlines() if row.strip()]
        return lines

    def proves(self, info: BatchInfo, row: dict[str, Any]) -> bool:
        return False  # no metadata: only the results' custom_ids can prove it (engine.batch checks them)

    def matches(self, info: BatchInfo, row: dict[str, Any]) -> bool:
        skew, last = self.options.adopt_skew_s, row.get("attempted") or row["created"]
        window = (row["created"] - skew, last + self.options.create_timeout_s + skew)
        return info.total == row["n"] and window[0] <= info.created_at <= window[1]

    def parse(self, raw: bytes) -> tuple[str, ChatResponse | Exception]:
        try:
            row = orjson.loads(raw)
            custom_id, result = str(row["custom_id"]), row["result"]
            kind = result["type"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"malformed result line ({exc})") from None
        if kind == "succeeded":
            try:
                return custom_id, parse_message(result["message"])
            except (KeyError, TypeError, ValueError) as exc:
                return custom_id, TransientError("bad_response", f"a malformed message in the batch ({exc})")
        if kind == "errored":
            error = (result.get("error") or {}).get("error") or {}
            etype, message = str(error.get("type") or "api_error"), str(error.get("message") or "errored")
            if etype in _ERRORS:
                return custom_id, TransientError(_ERRORS[etype], f"{etype}: {message}")
            if etype == "not_found_error" and "model" in message.lower():
                return custom_id, self.model_error(message)
            if etype in ("authentication_error", "permission_error", "not_found_error"):
                status = {"authentication_error": 401, "permission_error": 403}.get(etype, 404)
                return custom_id, http_error(status, orjson.dumps({"error": error}), None)
            return custom_id, BackendError(f"{etype}: {message}")
        if kind == "expired":
            return custom_id, TransientError("timeout", "the batch expired before this request ran")
        return custom_id, TransientError("server_error", f"the request was {kind} before it ran")


def info(b: dict[str, Any]) -> BatchInfo:
    counts = {k: int((b.get("request_counts") or {}).get(k) or 0) for k in _COUNTS}
    ended = str(b.get("processing_status")).lower() == "ended"
    created = epoch(b.get("created_at"))
    return BatchInfo(
        id=str(b["id"]),
        status=str(b.get("processing_status")),
        ended=ended,
        total=sum(counts.values()),
        done=sum(counts.values()) - counts["processing"],
        failed=counts["errored"] + counts["canceled"] + counts["expired"],
        created_at=created,
        results=(str(b["results_url"]),) if ended and b.get("results_url") else (),
        results_gone=ended and (b.get("archived_at") is not None or 0 < created < time.time() - _RETENTION_S),
    )
