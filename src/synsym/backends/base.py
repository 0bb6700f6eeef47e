"""The one interface every backend implements, and the registry that finds backends by name.

A backend turns one `ChatRequest` into one `ChatResponse` and knows nothing of symptoms, caches,
retries or budgets: the engine does those. Transient failures raise `TransientError` so the engine
can back off; anything no retry can fix raises `BackendError`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, cast

from pydantic import ConfigDict

from synsym.backends.schemas import Dialect, to_dialect
from synsym.core.config import KEYS_HINT, TRANSPORT_SETTINGS, BackendConfig, StrictModel, validate
from synsym.core.errors import BackendError
from synsym.core.plugins import named, plugins, register


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


@dataclass(frozen=True, slots=True)
class Speed:
    """A local model's measured speed: prompt tokens evaluated and answer tokens written a second, one
    request at a time (for the plan's time estimate)."""

    prompt_tps: float
    answer_tps: float


class EndpointError(BackendError):
    """The endpoint itself cannot be used, for every request alike: unreachable, the key refused, no such
    model or path, a model that cannot load. `kind` is unreachable, auth, not_found or model_load. The
    engine stops the run after a few in a row instead of failing every request the same way. Raised
    before a run (a model the plan's warm-up cannot load), it exits 4 at the CLI, as the early stop does."""

    exit_code = 4

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class TransientError(Exception):
    """A failure worth retrying: `kind` is rate_limit, server_error, overloaded, timeout, connection or
    bad_response; `retry_after` is the server's hint in seconds, if it gave one."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class StatusSink(Protocol):
    """Where a backend names a silent stretch: the engine's `Events`, connected by the engine's builder."""

    def status(self, text: str) -> None: ...


class BackendOptions(StrictModel):
    """A backend's own options, written under `backend:` beside the shared settings. Subclass it as
    `Options` inside a backend; `transport` names the options that change how requests are sent, never
    what is answered (they are left out of stage fingerprints)."""

    transport: ClassVar[frozenset[str]] = frozenset()


class Backend(abc.ABC):
    """Subclass, set `name`, declare `Options`, implement `complete`. Capabilities are class attributes."""

    name: ClassVar[str]
    family: ClassVar[str | None] = None  # the name its answers are cached under (default: `name`)
    Options: ClassVar[type[BackendOptions]] = BackendOptions
    max_parallel: ClassVar[int | None] = None  # None: as many as config allows; 1 for in-process models
    supports_json_schema: ClassVar[bool] = True
    schema_dialect: Dialect = "full"  # how a request's JSON schema is sent (synsym.backends.schemas)

    def __init__(self, config: BackendConfig, where: str = "backend") -> None:
        self.config = config
        self.options = parse_options(type(self), config, where)
        self.events: StatusSink | None = None  # the run's events, where the engine's builder connects them

    def say(self, text: str) -> None:
        """Name a silent stretch on the progress line (a model loading); '' when it is over."""
        if self.events is not None:
            self.events.status(text)

    @property
    def endpoint(self) -> str:
        """Where requests go, for messages: a URL, a model file, or the backend's name."""
        return self.name

    @abc.abstractmethod
    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send one request and return the answer, or raise TransientError / BackendError."""

    def measure_speed(self) -> Speed | None:
        """A short warm-up that measures how fast this backend answers, where that is the backend's own
        (an in-process model); None for a server, whose speed is the server's and its ceilings'."""
        return None

    def wire_schema(self, request: ChatRequest) -> dict[str, Any] | None:
        """The request's JSON schema as this backend's enforcer takes it (None: send none); answers are
        still validated against the full schema by the engine."""
        return to_dialect(request.json_schema, self.schema_dialect)

    def identity(self) -> dict[str, Any]:
        """What makes this backend's answers this backend's: part of every cache key. Never a secret."""
        return {"backend": self.family or self.name, "model": self.config.model}

    def endpoints(self) -> list[Backend]:
        """One backend per endpoint this config names (the engine spreads requests over them); itself
        when it names one."""
        return [self]

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or models."""


def parse_options(cls: type[Backend], config: BackendConfig, where: str = "backend") -> Any:
    """`config.options` validated by the backend's own `Options`: errors read `backend.<key> -> ...`."""
    shared = [k for k in BackendConfig.model_fields if k != "options"]
    source = f"{where} ({config.name})"
    return validate(cls.Options, config.options, source, f"{where}.", also_known=shared, hint=KEYS_HINT)


def register_backend(cls: type[Backend]) -> type[Backend]:
    """Register a backend class under `cls.name` in this process (usable as a decorator, e.g. in tests)."""
    return register("backends", cls.name, cls)


def available_backends() -> dict[str, type[Backend]]:
    """Registered backends: built-ins and plugins through the `synsym.backends` entry point group; one
    whose optional dependency is missing says so when it is asked for."""
    return plugins("backends", _missing)


def backend_class(config: BackendConfig, where: str = "backend") -> type[Backend]:
    return cast(type[Backend], named("backends", config.name, where, _missing))


def check_backend(config: BackendConfig, where: str = "backend") -> None:
    """Validate a backend config without creating the backend: its name and its own options."""
    parse_options(backend_class(config, where), config, where)


def create_backend(config: BackendConfig, where: str = "backend") -> Backend:
    return backend_class(config, where)(config, where)


def answer_settings(config: BackendConfig) -> dict[str, Any]:
    """What in a backend config can change its answers (for stage fingerprints): the family it caches
    under, the model, re-asks and the options that are not transport."""
    cls = available_backends().get(config.name)
    transport = cls.Options.transport if cls is not None else frozenset()
    data = config.model_dump(mode="json")
    return {
        "backend": (cls.family or cls.name) if cls is not None else config.name,
        **{
            k: v
            for k, v in data.items()
            if k not in TRANSPORT_SETTINGS and k not in transport and k != "name"
        },
    }


def _missing(name: str, exc: ImportError) -> type[Backend]:
    class Missing(Backend):
        def __init__(self, config: BackendConfig, where: str = "backend") -> None:
            raise BackendError(
                f"backend {name!r} needs a package that is not installed ({exc}); "
                f"install it with: pip install 'synsym[local]'"
            )

        async def complete(self, request: ChatRequest) -> ChatResponse:  # pragma: no cover
            raise NotImplementedError

    Missing.name = name
    Missing.Options = _AnyOptions
    return Missing


class _AnyOptions(BackendOptions):
    """Options of a backend whose package is missing: not checked until it is installed."""

    model_config = ConfigDict(extra="allow")
