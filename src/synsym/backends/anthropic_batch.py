"""`anthropic-batch`: Anthropic's Message Batches API
(https://docs.anthropic.com/en/docs/build-with-claude/batch-processing).

Each line is `{"custom_id", "params"}` with `params` exactly the body the online `anthropic` backend
sends, and answers cache under the same family. Limits (the docs): 100,000 requests or 256 MB per
batch, whichever comes first; both are options. Results are one JSONL stream once the batch has
`ended`; each is `succeeded` (a Message), `errored`, `canceled` or `expired`.

The API keeps no metadata on a batch, so a client token cannot travel with it: the ledger saves the
batch id the moment create returns. A kill between create returning and that save (a few milliseconds:
parsing the answer and one SQLite commit) would lose the id; a rerun then narrows the account's recent
batches to those created since the intent was recorded (less `adopt_skew_s` for clock skew), with the
intent's number of requests, and not claimed by any other ledger row, and adopts the earliest. It can
only go wrong if another client created a batch of exactly that size in the same moment; then the
adopted batch's results hold none of this run's custom_ids, its lines count as missing and are sent
again, so the cost is at most that one batch's lines billed twice (at the batch price).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import orjson
from pydantic import Field, PositiveInt

from synsym.backends.anthropic import AnthropicBackend, AnthropicOptions, parse_message
from synsym.backends.base import ChatRequest, ChatResponse, TransientError
from synsym.backends.batch_base import BatchBackend, BatchInfo, BatchOptions, online_config
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
        return info(await self.http.json("POST", self.batches, body=body, kind="create"))

    async def get(self, batch_id: str) -> BatchInfo:
        return info(await self.http.json("GET", f"{self.batches}/{batch_id}"))

    async def recent(self, since: float) -> list[BatchInfo]:
        found: list[BatchInfo] = []
        after: str | None = None
        while True:
            params = {"limit": "100", **({"after_id": after} if after else {})}
            page = await self.http.json("GET", self.batches, params=params, kind="list")
            batches = [info(b) for b in page.get("data") or []]
            found += [b for b in batches if b.created_at >= since]
            if not page.get("has_more") or not batches or batches[-1].created_at < since:
                return found
            after = batches[-1].id

    async def cancel(self, batch_id: str) -> BatchInfo:
        return info(await self.http.json("POST", f"{self.batches}/{batch_id}/cancel", kind="cancel"))

    async def download(self, batch: BatchInfo) -> list[bytes]:
        lines: list[bytes] = []
        for url in batch.results:
            raw = await self.http.call("GET", url, kind="download")
            lines += [row for row in raw.splitlines() if row.strip()]
        return lines

    def matches(self, info: BatchInfo, token: str, file_id: str | None, n: int, since: float) -> bool:
        return info.total == n and info.created_at >= since - self.options.adopt_skew_s

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


def _time(value: Any) -> float:
    if not value:
        return 0.0
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def info(b: dict[str, Any]) -> BatchInfo:
    counts = {k: int((b.get("request_counts") or {}).get(k) or 0) for k in _COUNTS}
    ended = b.get("processing_status") == "ended"
    return BatchInfo(
        id=str(b["id"]),
        status=str(b.get("processing_status")),
        ended=ended,
        total=sum(counts.values()),
        done=sum(counts.values()) - counts["processing"],
        failed=counts["errored"] + counts["canceled"] + counts["expired"],
        created_at=_time(b.get("created_at")),
        results=(str(b["results_url"]),) if ended and b.get("results_url") else (),
    )
