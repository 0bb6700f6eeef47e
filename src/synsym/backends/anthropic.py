"""`anthropic`: Claude through the native Messages API (https://docs.anthropic.com/en/api/messages).

Not the OpenAI-compatible shim, because the native API is where Anthropic's own structured output and
refusal semantics live, and because `anthropic-batch` sends exactly these request bodies as its lines
(both cache under one family, so online and batch runs share answers):
- system turns go to the top-level `system`; `stop` becomes `stop_sequences`; there is no `seed`.
- a JSON schema is sent as `output_config.format` (type `json_schema`), or as the older beta
  `output_format` (with its `structured-outputs-2025-11-13` beta header), or as a forced tool whose input
  is the answer (`structured_output: tool`); always in Anthropic's documented subset of JSON Schema
  (synsym.backends.schemas), the full schema being checked when the answer arrives.
- `stop_reason: refusal` is a refusal (ChatResponse.refusal), `max_tokens` a "length" finish.
- 429, 529 and 5xx are transient; 401/403/404 say the endpoint cannot be used; other 4xx are the
  request's own.
The key comes from the environment variable named by `api_key_env`, is sent as `x-api-key` only, and
never appears in an error message.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Literal

import aiohttp
import orjson
from pydantic import Field

from synsym.backends.base import (
    Backend,
    BackendOptions,
    ChatRequest,
    ChatResponse,
    EndpointError,
    TransientError,
    Usage,
)
from synsym.backends.batch_base import ENV_NAME, redact, redact_text
from synsym.backends.openai_http import http_error, retry_after
from synsym.backends.schemas import Dialect
from synsym.core.config import BackendConfig
from synsym.core.errors import BackendError, ConfigError

_STOPS = {"max_tokens": "length", "model_context_window_exceeded": "length"}
# "The old beta header (structured-outputs-2025-11-13) and output_format parameter will continue working
# for a transition period" (Anthropic, structured outputs): the older mode needs its header.
OUTPUT_FORMAT_BETA = "structured-outputs-2025-11-13"


class AnthropicOptions(BackendOptions):
    base_url: str = Field("https://api.anthropic.com", description="the API's origin (no /v1)")
    api_key_env: str | None = Field(None, description="NAME of the environment variable holding the key")
    anthropic_version: str = Field("2023-06-01", description="the anthropic-version header")
    beta: list[str] = Field(default_factory=list, description="anthropic-beta features to enable")
    headers: dict[str, str] = Field(default_factory=dict, description="extra HTTP headers (no secrets)")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="merged into every request body")
    structured_output: Literal["output_config", "output_format", "tool", "none"] = Field(
        "output_config",
        description="output_config: Anthropic's structured outputs; output_format: the older beta "
        "field; tool: a forced tool whose input is the answer; none: validate only",
    )

    transport: ClassVar[frozenset[str]] = frozenset({"api_key_env", "headers", "anthropic_version"})


class AnthropicBackend(Backend):
    name = "anthropic"
    family = "anthropic"
    Options = AnthropicOptions
    options: AnthropicOptions

    def __init__(self, config: BackendConfig, where: str = "backend") -> None:
        super().__init__(config, where)
        if not config.model:
            raise ConfigError(
                f"{where}.model -> required for the {self.name} backend, e.g. claude-sonnet-4-5"
            )
        env = self.options.api_key_env
        if env is not None and not ENV_NAME.fullmatch(env):
            raise ConfigError(
                f"{where}.api_key_env -> expected the NAME of an environment variable (e.g. "
                "ANTHROPIC_API_KEY), not the key; export the key under that name"
            )
        self.base = self.options.base_url.rstrip("/")
        self.url = self.base + "/v1/messages"
        self._session: aiohttp.ClientSession | None = None

    @property
    def endpoint(self) -> str:
        return self.url

    def identity(self) -> dict[str, Any]:
        return {"backend": self.family, "model": self.config.model, "extra_body": self.options.extra_body}

    @property
    def schema_dialect(self) -> Dialect:  # type: ignore[override]
        return "none" if self.options.structured_output == "none" else "anthropic"

    def body(self, request: ChatRequest) -> dict[str, Any]:
        system = "\n\n".join(c for role, c in request.messages if role == "system")
        messages: list[dict[str, Any]] = []
        for role, content in request.messages:
            if role == "system":
                continue
            if messages and messages[-1]["role"] == role:  # the API wants turns to alternate
                messages[-1]["content"] += "\n\n" + content
            else:
                messages.append({"role": role, "content": content})
        body: dict[str, Any] = {
            "model": self.config.model,
            "max_tokens": request.max_tokens,
            "messages": messages,
            "temperature": min(1.0, request.temperature),  # Anthropic's range is 0-1
        }
        if system:
            body["system"] = system
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        schema, mode = self.wire_schema(request), self.options.structured_output
        if schema is not None and mode == "output_config":
            body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        elif schema is not None and mode == "output_format":
            body["output_format"] = {"type": "json_schema", "schema": schema}
        elif schema is not None and mode == "tool":
            tool = {"name": request.schema_name, "description": "Give the answer.", "input_schema": schema}
            body["tools"] = [tool]
            body["tool_choice"] = {"type": "tool", "name": request.schema_name}
        body.update(self.options.extra_body)
        return body

    def headers(self) -> dict[str, str]:
        out = {"anthropic-version": self.options.anthropic_version, **self.options.headers}
        beta = list(self.options.beta)
        if self.options.structured_output == "output_format" and OUTPUT_FORMAT_BETA not in beta:
            beta.append(OUTPUT_FORMAT_BETA)
        if beta:
            out["anthropic-beta"] = ",".join(beta)
        env = self.options.api_key_env
        if env is not None:
            key = os.environ.get(env)
            if not key:
                raise EndpointError(
                    "auth",
                    f"environment variable {env} is not set; export it with your API key "
                    "(backend.api_key_env names it)",
                )
            out["x-api-key"] = key
        return out

    async def complete(self, request: ChatRequest) -> ChatResponse:
        try:
            return await self._send(request)
        except (TransientError, BackendError) as exc:
            exc.args = (redact_text(str(exc), self.options.api_key_env),)
            raise

    async def _send(self, request: ChatRequest) -> ChatResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
            )
        headers = {"Content-Type": "application/json", **self.headers()}
        try:
            async with self._session.post(
                self.url, data=orjson.dumps(self.body(request)), headers=headers
            ) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raw = redact(raw, self.options.api_key_env)
                    raise http_error(resp.status, raw, retry_after(resp.headers))
        except TimeoutError:
            raise TransientError("timeout", f"no answer within {self.config.timeout_s} s") from None
        except aiohttp.ClientConnectorError as exc:
            raise TransientError("unreachable", f"cannot reach {self.url}: {exc.os_error}") from None
        except aiohttp.ClientError as exc:
            raise TransientError("connection", f"{type(exc).__name__}: {exc}") from None
        try:
            return parse_message(orjson.loads(raw))
        except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
            raise TransientError("bad_response", f"the server sent a malformed answer ({exc})") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def parse_message(data: dict[str, Any]) -> ChatResponse:
    """A Message as a ChatResponse: its text blocks (or a forced tool's input, as JSON), the stop reason
    as a finish reason, a refusal as `refusal`, and every input token counted, cached ones included."""
    if data.get("type") != "message":
        raise ValueError(f"not a message: {str(data)[:100]}")
    parts = []
    for block in data.get("content") or []:
        if block.get("type") == "text":
            parts.append(block.get("text") or "")
        elif block.get("type") == "tool_use":
            parts.append(orjson.dumps(block.get("input")).decode())
    text, stop = "".join(parts), data.get("stop_reason") or "end_turn"
    refusal = None
    if stop == "refusal":
        details = data.get("stop_details") or {}
        refusal = details.get("explanation") or text or "the model declined to answer"
    usage = data.get("usage") or {}
    prompt = sum(
        int(usage.get(k) or 0)
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return ChatResponse(
        text=text,
        finish_reason=_STOPS.get(stop, "stop"),
        refusal=refusal,
        model=data.get("model"),
        usage=Usage(prompt, int(usage.get("output_tokens") or 0)),
    )
