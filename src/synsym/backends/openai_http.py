"""Any OpenAI-compatible chat-completions endpoint: OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp
server, LM Studio, TGI.

`openai` sends requests with aiohttp, a lean client: measured in benchmarks/engine_throughput.py it
spends a fraction of the CPU per request that the official SDK does, which is what limits throughput
when client and server share a small machine. `openai-sdk` (synsym.backends.openai_sdk) is the same
backend on the official `openai.AsyncOpenAI`, for users who want its exact behaviour; both cache their
answers under one name, so switching between them pays for nothing twice.

The API key is read from the environment variable named in config at each request and exists only
in the request's headers: never in config dumps, cache keys, logs or error messages.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import urlparse

import aiohttp
import orjson
from pydantic import Field, field_validator, model_validator

from synsym.backends.base import (
    Backend,
    BackendOptions,
    ChatRequest,
    ChatResponse,
    EndpointError,
    TransientError,
    Usage,
)
from synsym.backends.schemas import Dialect
from synsym.core.config import BackendConfig
from synsym.core.errors import BackendError, ConfigError

_RETRYABLE_STATUS = {
    408: "timeout",
    409: "server_error",
    429: "rate_limit",
    500: "server_error",
    502: "server_error",
    503: "overloaded",
    504: "timeout",
    529: "overloaded",
}


_QUOTA = "insufficient_quota"
_ENDPOINT_STATUS = {
    401: ("auth", "check the API key in backend.api_key_env"),
    403: ("auth", "check that the key may use this model and endpoint"),
    404: ("not_found", "check backend.base_url and backend.model"),
}


class OpenAIOptions(BackendOptions):
    base_url: str | None = Field(None, description="the API's base URL, e.g. https://api.openai.com/v1")
    base_urls: list[str] | None = Field(
        None,
        min_length=1,
        description="instead of base_url: several endpoints serving the same model (vLLM or llama.cpp "
        "servers, one key's deployments); requests are spread over them, each with max_concurrency and "
        "the per-minute ceilings of its own, and one that goes down is taken out of rotation",
    )
    api_key_env: str | None = Field(None, description="NAME of the environment variable holding the key")
    api_key_header: str = Field("Authorization", description="'Authorization' (Bearer) or 'api-key' (Azure)")
    headers: dict[str, str] = Field(default_factory=dict, description="extra HTTP headers (no secrets)")
    query: dict[str, str] = Field(default_factory=dict, description="extra query params, e.g. api-version")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="merged into every request body")
    structured_output: Literal["json_schema", "json_object_schema", "json_object", "none"] = Field(
        "json_schema",
        description="json_schema: OpenAI, vLLM; json_object_schema: llama-cpp-python's server (schema inside "
        "json_object); json_object: JSON mode without a schema; none: validate only",
    )
    strict: bool = Field(
        True,
        description="json_schema mode: send `strict: true` with the schema in OpenAI's strict subset, so the "
        "server enforces it (OpenAI, Azure, vLLM); false: the schema as written, as a hint",
    )
    token_limit: Literal["auto", "max_completion_tokens", "max_tokens"] = Field(
        "auto",
        description="the field that carries the answer's token limit: max_completion_tokens (OpenAI and "
        "Azure; o-series and GPT-5 refuse max_tokens), max_tokens (vLLM, Ollama, llama.cpp, older servers); "
        "auto: the first for OpenAI's and Azure's hosts, the second elsewhere",
    )
    http_client: None = Field(None, description="removed: name the backend openai-sdk instead")

    # base_urls: which of several servers of one model answers changes nothing of the answer (they share
    # the cache), so adding or removing one resumes a run instead of redoing it
    transport: ClassVar[frozenset[str]] = frozenset(
        {"api_key_env", "api_key_header", "headers", "query", "base_urls"}
    )

    @model_validator(mode="after")
    def _one_of(self) -> OpenAIOptions:
        if self.base_url is not None and self.base_urls is not None:
            raise ValueError("give base_url (one endpoint) or base_urls (several), not both")
        if self.base_urls is not None and len(set(self.base_urls)) != len(self.base_urls):
            raise ValueError(f"base_urls: each endpoint once, got {self.base_urls}")
        return self

    @field_validator("http_client", mode="before")
    @classmethod
    def _removed(cls, value: Any) -> None:
        if value is None:
            return None
        raise ValueError(
            "removed: the SDK transport is its own backend, `name: openai-sdk`; the default is aiohttp"
        )


class OpenAIBackend(Backend):
    name = "openai"
    family = "openai"
    Options = OpenAIOptions
    options: OpenAIOptions

    def __init__(self, config: BackendConfig, where: str = "backend") -> None:
        super().__init__(config, where)
        opts = self.options
        if opts.base_urls:  # several endpoints: this one sends to the first when used alone
            self.options = opts = opts.model_copy(update={"base_url": opts.base_urls[0]})
        if not opts.base_url:
            raise ConfigError(
                f"{where}.base_url -> required for the {self.name} backend, e.g. https://api.openai.com/v1 "
                "(base_urls: [...] for several endpoints)"
            )
        if not config.model:
            raise ConfigError(f"{where}.model -> required for the {self.name} backend, e.g. gpt-4o")
        if opts.api_key_env is not None and not _ENV_NAME.fullmatch(opts.api_key_env):
            # most likely the key itself was pasted here: never repeat it
            raise ConfigError(
                f"{where}.api_key_env -> expected the NAME of an environment variable (e.g. "
                "OPENAI_API_KEY), not the key; export the key under that name"
            )
        self.url = opts.base_url.rstrip("/") + "/chat/completions"
        self._session: aiohttp.ClientSession | None = None
        self._where = where

    def endpoints(self) -> list[Backend]:
        """One backend of this class per URL of `base_urls`, all with this one's identity (so the cache
        does not care which answered); itself for a single `base_url`."""
        urls = self.options.base_urls or []
        if len(urls) < 2:
            return [self]
        out: list[Backend] = []
        for i, url in enumerate(urls):
            options = {k: v for k, v in self.config.options.items() if k != "base_urls"} | {"base_url": url}
            config = self.config.model_copy(update={"options": options})
            out.append(type(self)(config, f"{self._where}.base_urls[{i}]"))
        return out

    @property
    def endpoint(self) -> str:
        return self.url

    def identity(self) -> dict[str, Any]:
        return {"backend": self.family, "model": self.config.model, "extra_body": self.options.extra_body}

    @property
    def schema_dialect(self) -> Dialect:  # type: ignore[override]
        """json_schema: OpenAI's strict subset (or as written); json_object_schema: llama-cpp-python's
        server compiles it into a grammar; json_object and none send no schema."""
        mode = self.options.structured_output
        if mode == "json_schema":
            return "openai_strict" if self.options.strict else "full"
        return "grammar" if mode == "json_object_schema" else "none"

    @property
    def token_limit_field(self) -> str:
        field = self.options.token_limit
        if field != "auto":
            return field
        return "max_completion_tokens" if _openai_host(self.options.base_url or "") else "max_tokens"

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": request.openai_messages(),
            "temperature": request.temperature,
            self.token_limit_field: request.max_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = list(request.stop)
        schema, mode = self.wire_schema(request), self.options.structured_output
        if schema is not None and mode == "json_schema":
            spec: dict[str, Any] = {"name": request.schema_name, "schema": schema}
            body["response_format"] = {"type": "json_schema", "json_schema": spec}
            if self.options.strict:
                spec["strict"] = True
        elif schema is not None and mode == "json_object_schema":
            body["response_format"] = {"type": "json_object", "schema": schema}
        elif request.json_schema is not None and mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        body.update(self.options.extra_body)
        return body

    def _api_key(self) -> str | None:
        env = self.options.api_key_env
        if env is None:
            return None
        key = os.environ.get(env)
        if not key:
            raise EndpointError(
                "auth",
                f"environment variable {env} is not set; export it with your API key "
                "(backend.api_key_env names it)",
            )
        return key

    def auth_headers(self) -> dict[str, str]:
        key = self._api_key()
        if key is None:
            return {}
        header = self.options.api_key_header
        return {header: f"Bearer {key}" if header.lower() == "authorization" else key}

    def redact(self, raw: bytes) -> bytes:
        """A server's error body without the key, before it is shortened into a message (a key cut in
        half by the shortening would no longer match the redaction in `complete`)."""
        key = os.environ.get(self.options.api_key_env or "")
        return raw.replace(key.encode(), b"***") if key else raw

    async def complete(self, request: ChatRequest) -> ChatResponse:
        try:
            return await self._send(request)
        except (TransientError, BackendError) as exc:
            key = os.environ.get(self.options.api_key_env or "")
            if key and key in str(exc):  # a server may echo the key back in its error message
                exc.args = (str(exc).replace(key, "***"),)
            raise

    async def _send(self, request: ChatRequest) -> ChatResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
            )
        headers = {"Content-Type": "application/json", **self.options.headers, **self.auth_headers()}
        try:
            async with self._session.post(
                self.url,
                data=orjson.dumps(self.body(request)),
                headers=headers,
                params=self.options.query or None,
            ) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise http_error(resp.status, self.redact(raw), retry_after(resp.headers))
        except TimeoutError:
            raise TransientError("timeout", f"no answer within {self.config.timeout_s} s") from None
        except aiohttp.ClientConnectorError as exc:  # refused, unknown host: the engine stops if it lasts
            raise TransientError("unreachable", f"cannot reach {self.url}: {exc.os_error}") from None
        except aiohttp.ClientError as exc:
            raise TransientError("connection", f"{type(exc).__name__}: {exc}") from None
        try:
            return parse_completion(orjson.loads(raw))
        except (orjson.JSONDecodeError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise TransientError("bad_response", f"the server sent a malformed answer ({exc})") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _openai_host(url: str) -> bool:
    """OpenAI's own API or an Azure OpenAI resource: where max_tokens is deprecated in favour of
    max_completion_tokens ("not compatible with o1 series models", refused by GPT-5-class ones)."""
    host = (urlparse(url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith((".openai.azure.com", ".cognitiveservices.azure.com"))


def parse_completion(data: dict[str, Any]) -> ChatResponse:
    choice = data["choices"][0]
    message = choice.get("message") or {}
    usage = data.get("usage") or {}
    return ChatResponse(
        text=message.get("content") or "",
        finish_reason=choice.get("finish_reason") or "stop",
        refusal=message.get("refusal"),
        model=data.get("model"),
        usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
    )


def http_error(status: int, raw: bytes, retry_after: str | None) -> Exception:
    """The exception for an HTTP error answer: retryable, the endpoint's (the engine stops), or the
    request's own. OpenAI's 429 `insufficient_quota` ("You exceeded your current quota") is the
    account's: retrying cannot help, so the run stops with what to do."""
    detail = _error_message(raw)
    if status == 429 and _QUOTA in _error_code(raw):
        return EndpointError("quota", f"HTTP 429: {detail}; add credit or raise the account's spend limit")
    if status in _RETRYABLE_STATUS:
        return TransientError(_RETRYABLE_STATUS[status], f"HTTP {status}: {detail}", _seconds(retry_after))
    if status in _ENDPOINT_STATUS:
        kind, hint = _ENDPOINT_STATUS[status]
        return EndpointError(kind, f"HTTP {status}: {detail}; {hint}")
    return BackendError(f"HTTP {status}: {detail}")


def _error_message(raw: bytes) -> str:
    """The server's words: OpenAI's `error.message`, FastAPI's `detail` (llama-cpp-python's server says
    "Invalid API key" there), a bare `message`, else the body itself; never "None"."""
    try:
        body = json.loads(raw)
        err = body.get("error") or body.get("detail") or body.get("message")
        if isinstance(err, dict):
            err = err.get("message") or err.get("detail")
        if err:
            return str(err)[:300]
    except (ValueError, AttributeError):
        pass
    return raw[:200].decode("utf-8", "replace") or "(no body)"


def _error_code(raw: bytes) -> str:
    """The error's `code` and `type` (OpenAI puts `insufficient_quota` in either), or ""."""
    try:
        err = json.loads(raw).get("error")
        return f"{err.get('code')} {err.get('type')}" if isinstance(err, dict) else ""
    except (ValueError, AttributeError):
        return ""


def retry_after(headers: Mapping[str, str]) -> str | None:
    """The wait a 429/503 asks for, in seconds as text: `retry-after-ms` first (OpenAI and Azure send
    it; openai-python reads it first), then `retry-after` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return f"{max(0.0, float(ms)) / 1000:g}"
        except ValueError:
            pass
    return headers.get("retry-after")


def _seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date (RFC 9110 allows either form)
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
