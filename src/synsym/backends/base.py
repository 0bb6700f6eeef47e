"""The one interface every backend implements, and the registry that finds backends by name.

A backend turns one `ChatRequest` into one `ChatResponse` and knows nothing of symptoms, caches,
retries or budgets: the engine does those. Transient failures raise `TransientError` so the engine
can back off; anything no retry can fix raises `BackendError`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar

from synsym.core.config import BackendConfig
from synsym.core.errors import BackendError, ConfigError


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A chat-completion request in OpenAI's shape, minus anything endpoint-specific."""

    messages: tuple[tuple[str, str], ...]  # (role, content)
    temperature: float = 0.7
    max_tokens: int = 512
    seed: int | None = None
    json_schema: dict[str, Any] | None = None  # when set, the answer must be JSON matching it
    schema_name: str = "answer"
    stop: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A shallow dict of every field (cheaper than dataclasses.asdict's deep copy, per request)."""
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    def openai_messages(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(slots=True)
class ChatResponse:
    text: str
    finish_reason: str = "stop"  # stop | length | content_filter | ...
    usage: Usage = field(default_factory=Usage)
    refusal: str | None = None  # OpenAI's `message.refusal`, when the model declined
    model: str | None = None


class TransientError(Exception):
    """A failure worth retrying: `kind` is rate_limit, server_error, overloaded, timeout, connection or
    bad_response; `retry_after` is the server's hint in seconds, if it gave one."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class Backend(abc.ABC):
    """Subclass, set `name`, implement `complete`. Capabilities are class attributes."""

    name: ClassVar[str]
    max_parallel: ClassVar[int | None] = None  # None: as many as config allows; 1 for in-process models
    supports_json_schema: ClassVar[bool] = True

    def __init__(self, config: BackendConfig) -> None:
        self.config = config

    @abc.abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send one request and return the answer, or raise TransientError / BackendError."""

    def identity(self) -> dict[str, Any]:
        """What makes this backend's answers this backend's: part of every cache key. Never a secret."""
        return {"backend": self.name, "model": self.config.model}

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or models."""


_REGISTRY: dict[str, type[Backend]] = {}


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Register a backend class under `cls.name` (usable as a decorator, e.g. in tests)."""
    _REGISTRY[cls.name] = cls
    return cls


def available_backends() -> dict[str, type[Backend]]:
    """Registered backends: built-ins and plugins through the `synsym.backends` entry point group."""
    found: dict[str, type[Backend]] = {}
    for ep in entry_points(group="synsym.backends"):
        try:
            found[ep.name] = ep.load()
        except ImportError as exc:  # an optional dependency is missing; say so when it is asked for
            found.setdefault(ep.name, _missing(ep.name, exc))
    found.update(_REGISTRY)
    return found


def create_backend(config: BackendConfig) -> Backend:
    backends = available_backends()
    if config.name not in backends:
        names = ", ".join(sorted(backends)) or "none (is synsym installed?)"
        raise ConfigError(f"backend.name -> unknown backend {config.name!r}; available: {names}")
    return backends[config.name](config)


def _missing(name: str, exc: ImportError) -> type[Backend]:
    class Missing(Backend):
        def __init__(self, config: BackendConfig) -> None:
            raise BackendError(
                f"backend {name!r} needs a package that is not installed ({exc}); "
                f"install it with: pip install 'synsym[local]'"
            )

        async def complete(self, request: ChatRequest) -> ChatResponse:  # pragma: no cover
            raise NotImplementedError

    Missing.name = name
    return Missing
