"""`openai-sdk`: the `openai` backend on the official `openai.AsyncOpenAI` client instead of aiohttp.

Same options, requests and cache family as `openai` (synsym.backends.openai_http), for users who want
the SDK's exact behaviour. The SDK's own retries are off: the engine retries, with its own accounting.
"""

from __future__ import annotations

from typing import Any

import orjson

from synsym.backends.base import ChatRequest, ChatResponse, TransientError
from synsym.backends.openai_http import OpenAIBackend, http_error, parse_completion

_SDK_ARGS = {
    "model", "messages", "temperature", "max_tokens", "max_completion_tokens", "seed", "stop",
    "response_format",
}  # fmt: skip


class OpenAISDKBackend(OpenAIBackend):
    name = "openai-sdk"
    _sdk: Any = None

    async def _send(self, request: ChatRequest) -> ChatResponse:
        import openai

        if self._sdk is None:
            key = self.auth_headers()
            self._sdk = openai.AsyncOpenAI(
                base_url=self.options.base_url,
                api_key=self._api_key() or "not-needed",  # kept in memory only, by the SDK
                default_headers={**self.options.headers, **key} or None,
                default_query=self.options.query or None,
                timeout=self.config.timeout_s,
                max_retries=0,
            )
        body = self.body(request)
        extra = {k: v for k, v in body.items() if k not in _SDK_ARGS}
        try:
            completion = await self._sdk.chat.completions.create(
                **{k: v for k, v in body.items() if k in _SDK_ARGS}, extra_body=extra or None
            )
            return parse_completion(completion.model_dump())
        except openai.APIStatusError as exc:
            content = self.redact(exc.response.content)
            raise http_error(exc.status_code, content, exc.response.headers.get("retry-after")) from None
        except openai.APITimeoutError:
            raise TransientError("timeout", f"no answer within {self.config.timeout_s} s") from None
        except openai.APIConnectionError as exc:
            import httpx

            refused = isinstance(exc.__cause__, httpx.ConnectError)  # refused, unknown host
            raise TransientError(
                "unreachable" if refused else "connection", f"{exc}: {exc.__cause__}"
            ) from None
        except (orjson.JSONDecodeError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise TransientError("bad_response", f"the server sent a malformed answer ({exc})") from None

    async def aclose(self) -> None:
        if self._sdk is not None:
            await self._sdk.close()
            self._sdk = None
