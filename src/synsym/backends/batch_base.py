"""What a provider's batch API is, as a backend: build a line from (custom_id, request), upload, create,
get, list, cancel, download the result lines and parse one into an answer or an error. HTTP only.

When to submit, what to resubmit, the ledger that makes a killed run adopt its batches instead of paying
twice, and the cache: all of that is scheduling and state, so it lives in the engine layer
(`synsym.engine.batch.BatchDispatch`, which `make_dispatch` picks for any `BatchBackend`).

Prices: `backend.prices` are the provider's online list prices; both OpenAI and Anthropic bill batch lines
at half of them, so a batch backend's `config.prices` are scaled by `batch_price_factor` and the engine
reserves (`--max-cost`) and records cost at the batch price. `complete()` sends one request online.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import aiohttp
import orjson
from pydantic import Field, PositiveFloat, PositiveInt

from synsym.backends.base import Backend, BackendOptions, ChatRequest, ChatResponse, TransientError
from synsym.backends.batch_util import redact, redact_text
from synsym.backends.openai_http import http_error, retry_after
from synsym.core.config import BackendConfig, Prices
from synsym.core.errors import BackendError, ConfigError

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
OTHERS = "not sent: the provider refused another line of its batch"
_MODEL_WORDS = re.compile(r"\bmodel", re.IGNORECASE)
_LINE = re.compile(r"\bline (\d+)\b")
_CUSTOM_ID = re.compile(rb'"custom_id"\s*:\s*"([A-Za-z0-9_-]+)"')
_MISSING = {  # why a line has no result, by the batch's status
    "expired": ("timeout", "the batch expired before this line ran"),
    "cancelled": ("server_error", "the batch was cancelled before this line ran"),
    "failed": ("server_error", OTHERS),
}
Outcome = ChatResponse | Exception


class BatchOptions(BackendOptions):
    """What every batch backend adds to its provider's online options. Each provider's class sets the
    documented limits as the defaults of `max_requests_per_batch` and `max_bytes_per_batch`."""

    poll_interval_s: PositiveFloat = Field(30.0, description="seconds between status checks of a batch")
    collect_s: PositiveFloat = Field(
        2.0, description="a batch is sent once no new request came for this long (at most 10x as long)"
    )
    completion_window: Literal["24h"] = Field("24h", description="the providers' only completion window")
    batch_price_factor: float = Field(
        0.5, gt=0, le=1, description="batch lines cost this share of backend.prices (both document 50%)"
    )
    reask: Literal["batch", "online"] = Field(
        "batch", description="re-asks after a failed schema: in a further batch, or online at list price"
    )
    max_enqueued_tokens: PositiveInt | None = Field(
        None, description="cap on estimated prompt tokens in unfinished batches (OpenAI's queue limit)"
    )
    max_enqueued_requests: PositiveInt | None = Field(
        None, description="cap on requests in unfinished batches (Anthropic's processing-queue limit)"
    )
    upload_timeout_s: PositiveFloat = Field(
        1800.0, description="seconds for one upload of an input file (up to 200 MB)"
    )
    create_timeout_s: PositiveFloat = Field(
        1800.0, description="seconds for one create (Anthropic's carries the lines: up to 256 MB)"
    )
    poll_timeout_s: PositiveFloat = Field(60.0, description="seconds for one status check, list or cancel")
    download_timeout_s: PositiveFloat = Field(1800.0, description="seconds for one download of results")

    transport: ClassVar[frozenset[str]] = frozenset(
        {
            "poll_interval_s",
            "collect_s",
            "completion_window",
            "batch_price_factor",
            "reask",
            "max_requests_per_batch",
            "max_bytes_per_batch",
            "max_enqueued_tokens",
            "max_enqueued_requests",
            "upload_timeout_s",
            "create_timeout_s",
            "poll_timeout_s",
            "download_timeout_s",
        }
    )


@dataclass(frozen=True, slots=True)
class BatchInfo:
    """A batch as the provider reports it, in one shape for every provider."""

    id: str
    status: str  # the provider's own word (validating, in_progress, finalizing, ended, ...)
    ended: bool  # nothing more will happen to it: its results can be read
    total: int
    done: int  # lines finished, answered or not (providers that only count at the end say 0)
    failed: int
    created_at: float  # epoch seconds
    token: str | None = None  # the client token it was created with, where the API keeps metadata
    input_file: str | None = None
    results: tuple[str, ...] = ()  # where its result lines are: file ids, or a results URL
    errors: tuple[tuple[int | None, str, str], ...] = ()  # (line, code, message): why validation failed
    results_gone: bool = False  # ended so long ago (or archived) that the provider deleted its results


class QueueFull(TransientError):
    """The provider refused a batch because its queue for the model is full (OpenAI's enqueued-token
    limit, Anthropic's processing-queue limit): nothing was created; the lines wait for room."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__("rate_limit", message, retry_after)


class BatchBackend(Backend):
    """Subclass per provider: the lines, the calls and the parsing; the engine does the rest."""

    api: ClassVar[str] = "Batch API"  # for messages
    online_name: ClassVar[str] = "openai"  # the online backend to suggest
    options: Any
    base: str  # the API's base URL, set by each provider's class

    def __init__(self, config: BackendConfig, where: str = "backend") -> None:
        super().__init__(config, where)
        self.where = where
        self.list_config = config  # as the user wrote it, list prices included
        f = self.options.batch_price_factor
        prices = Prices(
            input_per_mtok=config.prices.input_per_mtok * f, output_per_mtok=config.prices.output_per_mtok * f
        )
        self.config = config.model_copy(update={"prices": prices})
        self.http = Http(self)

    @abc.abstractmethod
    def online(self) -> Backend:
        """The provider's online backend with the same requests and cache family (re-asks online)."""

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """One request, online: for `synsym probe` and for runs without a run directory."""
        return await self.online().complete(request)

    def identity(self) -> dict[str, Any]:
        return self.online().identity()

    @abc.abstractmethod
    def line(self, custom_id: str, request: ChatRequest) -> bytes:
        """One batch line (JSON, no newline) asking `request` under `custom_id`."""

    @abc.abstractmethod
    def auth(self) -> dict[str, str]:
        """Every request's headers, the key among them (read from the environment each time)."""

    async def upload(self, data: bytes) -> str | None:
        """Upload the lines as a file and return its id; None for APIs that take the lines at create."""
        return None

    @abc.abstractmethod
    async def create(self, lines: list[bytes], file_id: str | None, token: str) -> BatchInfo: ...

    @abc.abstractmethod
    async def get(self, batch_id: str) -> BatchInfo: ...

    @abc.abstractmethod
    async def recent(self, since: float) -> list[BatchInfo]:
        """The account's batches created since `since` (epoch seconds), newest first."""

    @abc.abstractmethod
    async def cancel(self, batch_id: str) -> BatchInfo: ...

    @abc.abstractmethod
    async def download(self, info: BatchInfo) -> list[bytes]:
        """Every result line of an ended batch: answers and errors."""

    @abc.abstractmethod
    def parse(self, raw: bytes) -> tuple[str, ChatResponse | Exception]:
        """(custom_id, the answer or the error for it) from one result line; ValueError if malformed."""

    def proves(self, info: BatchInfo, row: dict[str, Any]) -> bool:
        """Whether `info` is provably the batch a create for ledger `row` made: its token or its file."""
        file_id = row["file_id"]
        return info.token == row["token"] or (file_id is not None and info.input_file == file_id)

    def matches(self, info: BatchInfo, row: dict[str, Any]) -> bool:
        """Whether `info` may be the batch a create for `row` made (the ledger lost its id)."""
        return self.proves(info, row)

    def find(self, listing: list[BatchInfo], row: dict[str, Any], claimed: set[str]) -> BatchInfo | None:
        """The batch a create for ledger `row` made, whose id was never saved: the earliest that matches
        and no other row claims (nor was proven another's)."""
        found = [b for b in listing if b.id not in claimed and self.matches(b, row)]
        return min(found, key=lambda b: b.created_at) if found else None

    def outcomes(self, info: BatchInfo, raw: list[bytes], ids: list[str]) -> tuple[dict[str, Outcome], int]:
        """What became of each of `ids` in an ended batch: its answer, the error its result line gives,
        the provider's refusal of its input line, or why it has none (the batch expired, was cancelled,
        or lost it); and how many result lines were malformed (one whose custom_id can still be read
        goes again)."""
        wanted, out, malformed = set(ids), dict[str, Outcome](), 0
        for line in raw:
            try:
                cid, outcome = self.parse(line)
            except ValueError:
                malformed, match = malformed + 1, _CUSTOM_ID.search(line)
                cid = match.group(1).decode() if match else ""
                outcome = TransientError("bad_response", "its result line in the batch was malformed")
            if cid in wanted and (isinstance(outcome, ChatResponse) or cid not in out):
                out[cid] = outcome  # an answer wins over an error line for the same id
        for pos, code, message in info.errors:
            if pos is not None and 1 <= pos <= len(ids):
                out.setdefault(
                    ids[pos - 1], BackendError(f"the provider refused this line: {code}: {message}")
                )
        kind, why = _MISSING.get(
            info.status, ("bad_response", f"missing from the results of batch {info.id}")
        )
        missing = self.failure(info) or TransientError(kind, why)
        return {cid: out.get(cid, missing) for cid in ids}, malformed

    def refused_line(self, error: Exception, n: int) -> int | None:
        """The index of the one line an upload or create refusal names ("line 3: ..."), if it names one."""
        named = _LINE.search(str(error)) if type(error) is BackendError else None
        return int(named.group(1)) - 1 if named and 1 <= int(named.group(1)) <= n else None

    def failure(self, info: BatchInfo) -> Exception | None:
        """Why a batch failed as a whole (validation), or None: a ConfigError when the model is the
        problem, so the run stops with exit code 2 instead of resubmitting the same refusal."""
        if not info.errors or any(line is not None for line, _, _ in info.errors):
            return None
        message = "; ".join(f"{code}: {text}" for _, code, text in info.errors[:3])
        if any(code == "token_limit_exceeded" for _, code, _ in info.errors):  # OpenAI: queue full
            return QueueFull(f"the batch {info.id} was refused: {message}")
        if _MODEL_WORDS.search(message):
            return self.model_error(message)
        return BackendError(f"the batch {info.id} failed: {message}")

    def model_error(self, detail: str) -> ConfigError:
        return ConfigError(
            f"{self.where}.model -> {self.config.model!r} cannot be used with the {self.api} at "
            f"{self.endpoint}: {detail}; choose a model that supports batches, or use the online "
            f"`{self.online_name}` backend"
        )

    def unsupported(self, status: int, path: str, detail: str) -> ConfigError:
        return ConfigError(
            f"{self.where}.base_url -> {self.endpoint} does not serve the {self.api} (HTTP {status} on "
            f"{path}: {detail}); point it at a provider with batches, or use the online "
            f"`{self.online_name}` backend"
        )

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.online().aclose()


class Http:
    """One aiohttp session for a batch backend: its headers, errors mapped as the online backends map
    them (429/5xx transient, 401/403 the endpoint's), a 404 on the batch routes (or a create that names
    the model) a ConfigError, and the key never in a message."""

    def __init__(self, backend: BatchBackend) -> None:
        self.backend = backend
        self._session: aiohttp.ClientSession | None = None

    async def call(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        data: Any = None,
        params: dict[str, str] | None = None,
        kind: str = "get",  # upload | create | list | get | cancel | download
    ) -> bytes:
        b = self.backend
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = b.auth()
        if body is not None:
            data, headers = body, {**headers, "Content-Type": "application/json"}
        seconds = self.timeout(kind)
        timeout = aiohttp.ClientTimeout(total=seconds)
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, params=params, timeout=timeout
            ) as r:
                raw = await r.read()
                status, retry = r.status, retry_after(r.headers)
        except TimeoutError:
            raise TransientError("timeout", f"no answer from {url} within {seconds:g} s ({kind})") from None
        except aiohttp.ClientConnectorError as exc:
            raise TransientError("unreachable", f"cannot reach {url}: {exc.os_error}") from None
        except aiohttp.ClientError as exc:
            raise TransientError("connection", f"{type(exc).__name__}: {exc}") from None
        if status < 300:
            return raw
        raw = redact(raw, b.options.api_key_env)
        error = http_error(status, raw, retry)
        detail = redact_text(str(error), b.options.api_key_env).removeprefix(f"HTTP {status}: ")
        detail = detail.split("; check ")[0].rstrip(".")  # the online backends' hint is not this API's
        path = url.split("?")[0].removeprefix(b.base)
        if kind == "create" and status in (400, 404, 422) and _MODEL_WORDS.search(detail):
            raise b.model_error(detail)
        if status == 404 and kind in ("upload", "create", "list"):
            raise b.unsupported(status, path, detail)
        error.args = (f"{method} {path}: HTTP {status}: {detail}",)
        if kind == "create" and status == 429 and isinstance(error, TransientError):  # an answer: not made
            raise QueueFull(str(error), error.retry_after)
        raise error

    def timeout(self, kind: str) -> float:
        """Each kind of call has its own limit: a 200 MB upload needs minutes, a status check does not."""
        opts = self.backend.options
        by_kind = {"upload": opts.upload_timeout_s, "create": opts.create_timeout_s}
        by_kind["download"] = opts.download_timeout_s
        return float(by_kind.get(kind, opts.poll_timeout_s))

    async def json(self, method: str, url: str, **kwargs: Any) -> Any:
        raw = await self.call(method, url, **kwargs)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise TransientError("bad_response", f"{url} answered something that is not JSON") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def online_config(
    config: BackendConfig, options: type[BackendOptions], name: str, **own: Any
) -> BackendConfig:
    """The batch config as its online backend's: the same shared settings and list prices, and only the
    options the online backend knows."""
    kept = {k: v for k, v in config.options.items() if k in options.model_fields}
    return config.model_copy(update={"name": name, "options": {**kept, **own}})
