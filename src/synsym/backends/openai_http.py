"""Any OpenAI-compatible chat-completions endpoint: OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp
server, LM Studio, TGI.

Two HTTP clients, one behaviour. `aiohttp` (default) is a lean client: measured in
benchmarks/engine_throughput.py it spends a fraction of the CPU per request that the official SDK
does, which is what limits throughput when client and server share a small machine. `openai-sdk`
uses the official `openai.AsyncOpenAI` for users who want its exact behaviour.

The API key is read from the environment variable named in config at each request and exists only
in the request's headers: never in config dumps, cache keys, logs or error messages.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import aiohttp
import orjson

from synsym.backends.base import Backend, ChatRequest, ChatResponse, TransientError, Usage
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


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        if not config.base_url:
            raise ConfigError(
                "backend.base_url -> required for the openai backend, e.g. https://api.openai.com/v1"
            )
        if not config.model:
            raise ConfigError("backend.model -> required for the openai backend, e.g. gpt-4o")
        if config.api_key_env is not None and not _ENV_NAME.fullmatch(config.api_key_env):
            # most likely the key itself was pasted here: never repeat it
            raise ConfigError(
                "backend.api_key_env -> expected the NAME of an environment variable (e.g. "
                "OPENAI_API_KEY), not the key; export the key under that name"
            )
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self._session: aiohttp.ClientSession | None = None
        self._sdk: Any = None

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.config.model, "extra_body": self.config.extra_body}

    def body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": request.openai_messages(),
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = list(request.stop)
        if request.json_schema is not None and self.config.structured_output == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": request.json_schema},
            }
        elif request.json_schema is not None and self.config.structured_output == "json_object_schema":
            body["response_format"] = {"type": "json_object", "schema": request.json_schema}
        elif request.json_schema is not None and self.config.structured_output == "json_object":
            body["response_format"] = {"type": "json_object"}
        body.update(self.config.extra_body)
        return body

    def _api_key(self) -> str | None:
        env = self.config.api_key_env
        if env is None:
            return None
        key = os.environ.get(env)
        if not key:
            raise BackendError(
                f"environment variable {env} is not set; export it with your API key "
                f"(backend.api_key_env names it)"
            )
        return key

    def _redact(self, raw: bytes) -> bytes:
        """A server's error body without the key, before it is shortened into a message (a key cut in
        half by the shortening would no longer match the redaction in `complete`)."""
        key = os.environ.get(self.config.api_key_env or "")
        return raw.replace(key.encode(), b"***") if key else raw

    async def complete(self, request: ChatRequest) -> ChatResponse:
        try:
            if self.config.http_client == "openai-sdk":
                return await self._complete_sdk(request)
            return await self._complete_aiohttp(request)
        except (TransientError, BackendError) as exc:
            key = os.environ.get(self.config.api_key_env or "")
            if key and key in str(exc):  # a server may echo the key back in its error message
                exc.args = (str(exc).replace(key, "***"),)
            raise

    async def _complete_aiohttp(self, request: ChatRequest) -> ChatResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
            )
        headers = {"Content-Type": "application/json", **self.config.headers}
        key = self._api_key()
        if key is not None:
            header = self.config.api_key_header
            headers[header] = f"Bearer {key}" if header.lower() == "authorization" else key
        try:
            async with self._session.post(
                self.url,
                data=orjson.dumps(self.body(request)),
                headers=headers,
                params=self.config.query or None,
            ) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise _http_error(resp.status, self._redact(raw), resp.headers.get("retry-after"))
        except TimeoutError:
            raise TransientError("timeout", f"no answer within {self.config.timeout_s} s") from None
        except aiohttp.ClientError as exc:
            raise TransientError("connection", f"{type(exc).__name__}: {exc}") from None
        try:
            return parse_completion(orjson.loads(raw))
        except (orjson.JSONDecodeError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise TransientError("bad_response", f"the server sent a malformed answer ({exc})") from None

    async def _complete_sdk(self, request: ChatRequest) -> ChatResponse:
        import openai

        if self._sdk is None:
            self._sdk = openai.AsyncOpenAI(
                base_url=self.config.base_url,
                api_key=self._api_key() or "not-needed",  # kept in memory only, by the SDK
                default_headers=self.config.headers or None,
                default_query=self.config.query or None,
                timeout=self.config.timeout_s,
                max_retries=0,  # the engine retries, with its own accounting
            )
        body = self.body(request)
        extra = {k: v for k, v in body.items() if k not in _SDK_ARGS}
        try:
            completion = await self._sdk.chat.completions.create(
                **{k: v for k, v in body.items() if k in _SDK_ARGS}, extra_body=extra or None
            )
            return parse_completion(completion.model_dump())
        except openai.APIStatusError as exc:
            content = self._redact(exc.response.content)
            raise _http_error(exc.status_code, content, exc.response.headers.get("retry-after")) from None
        except openai.APITimeoutError:
            raise TransientError("timeout", f"no answer within {self.config.timeout_s} s") from None
        except openai.APIConnectionError as exc:
            raise TransientError("connection", str(exc)) from None
        except (orjson.JSONDecodeError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise TransientError("bad_response", f"the server sent a malformed answer ({exc})") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._sdk is not None:
            await self._sdk.close()
            self._sdk = None


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SDK_ARGS = {"model", "messages", "temperature", "max_tokens", "seed", "stop", "response_format"}


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


def _http_error(status: int, raw: bytes, retry_after: str | None) -> Exception:
    detail = _error_message(raw)
    if status in _RETRYABLE_STATUS:
        return TransientError(_RETRYABLE_STATUS[status], f"HTTP {status}: {detail}", _seconds(retry_after))
    hint = {401: "check the API key in backend.api_key_env", 404: "check backend.base_url and backend.model"}
    return BackendError(f"HTTP {status}: {detail}" + (f"; {hint[status]}" if status in hint else ""))


def _error_message(raw: bytes) -> str:
    try:
        err = json.loads(raw).get("error")
        return str(err.get("message") if isinstance(err, dict) else err)[:300]
    except (ValueError, AttributeError):
        return raw[:200].decode("utf-8", "replace")


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date; the engine's own backoff applies
