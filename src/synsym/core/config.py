"""Config models for everything a user writes, and the loader that turns YAML plus `--set` overrides
into a validated model whose errors read `dotted.path -> what is wrong`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, cast, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from synsym.core.errors import ConfigError, suggest


class StrictModel(BaseModel):
    """Base for user-written config: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class Prices(StrictModel):
    """Price per million tokens, in the user's currency (USD for the public APIs)."""

    input_per_mtok: float = Field(0.0, ge=0, description="price of a million prompt tokens")
    output_per_mtok: float = Field(0.0, ge=0, description="price of a million answer tokens")


class BackendConfig(StrictModel):
    """Where LLM requests go and how hard to push: what every backend shares. Any other key under
    `backend:` is one of the named backend's own options (`Backend.Options`), validated by that backend."""

    name: str = Field(
        "llamacpp",
        description="registered backend: openai, openai-sdk, openai-batch, anthropic, anthropic-batch, "
        "llamacpp, fake, or a plugin",
    )
    model: str | None = Field(None, description="model name sent to the server, or a label for local models")
    timeout_s: PositiveFloat = Field(120.0, description="seconds to wait for one answer")
    max_concurrency: PositiveInt = Field(16, description="hard ceiling on requests in flight")
    requests_per_minute: PositiveFloat | None = Field(None, description="ceiling on requests sent a minute")
    tokens_per_minute: PositiveFloat | None = Field(None, description="ceiling on tokens sent a minute")
    max_retries: int = Field(6, ge=0, description="transport retries per request (429, 5xx, timeouts)")
    max_reasks: int = Field(2, ge=0, description="re-asks after an answer fails its schema")
    stop_after_failures: PositiveInt = Field(
        3,
        description="stop the run after this many requests in a row fail for a reason waiting cannot fix "
        "(connection refused, unknown host, 401/403, 404, a model that cannot load)",
    )
    stop_failure_share: float = Field(
        0.5, gt=0, le=1, description="stop the run when more than this share of the last requests failed"
    )
    stop_window: PositiveInt = Field(
        50, description="how many of the last requests stop_failure_share counts"
    )
    prices: Prices = Field(default_factory=Prices, description="per million tokens, for cost and --max-cost")
    options: dict[str, Any] = Field(
        default_factory=dict, description="the backend's own options; written as keys beside these"
    )

    @model_validator(mode="before")
    @classmethod
    def _collect_options(cls, data: Any) -> Any:
        """Keys that are not shared settings belong to the backend's own options."""
        return collect_options(cls, data)

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Written back as the user writes it: the backend's options beside the shared settings."""
        data = handler(self)
        data.update(data.pop("options", None) or {})
        return cast(dict[str, Any], data)


# Shared settings that change how requests are sent, never what is answered.
def collect_options(model: type[BaseModel], data: Any) -> Any:
    """A plugin's section as written (`name: ray`, `workers: 3`): the keys `model` does not declare
    go into its `options`, which the named plugin's own options model validates."""
    if not isinstance(data, dict):
        return data
    shared = {k: v for k, v in data.items() if k in model.model_fields}
    own = {k: v for k, v in data.items() if k not in model.model_fields}
    if own:
        shared["options"] = {**(shared.get("options") or {}), **own}
    return shared


TRANSPORT_SETTINGS = frozenset(
    {
        "timeout_s",
        "max_concurrency",
        "requests_per_minute",
        "tokens_per_minute",
        "max_retries",
        "stop_after_failures",
        "stop_failure_share",
        "stop_window",
        "prices",
    }
)


M = TypeVar("M", bound=BaseModel)


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (`Model`, `Model | None`, `list[Model]`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _is_mapping(annotation: Any) -> bool:
    """`dict[str, Model]` (or an optional one): its keys are the user's names, not the model's."""
    return get_origin(annotation) is dict or any(_is_mapping(a) for a in get_args(annotation))


def known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the model accepts at `loc` (a validation error's location, list indexes and the user's
    own mapping keys included)."""
    current: type[BaseModel] | None = model
    skip = False
    for part in loc:
        if current is None:
            return []
        if isinstance(part, int) or skip:
            skip = False
            continue
        field = current.model_fields.get(str(part)) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return []
        current, skip = _inner_model(field.annotation), _is_mapping(field.annotation)
    if current is None:
        return []
    return [f.alias or name for name, f in current.model_fields.items()]


KEYS_HINT = " (every key: synsym config keys)"


def format_validation_error(
    err: ValidationError,
    source: str,
    prefix: str = "",
    model: type[BaseModel] | None = None,
    also_known: Sequence[str] = (),
    hint: str = "",
) -> str:
    """One line per problem: `dotted.path -> message (got value)`, under `source is not valid:`; an
    unknown key names the closest valid one (of `model`'s keys there, and `also_known` at the top), then
    `hint` (where to read every key)."""
    lines = [f"{source} is not valid:"]
    for item in err.errors():
        path = prefix + ".".join(str(p) for p in item["loc"]) or "(top level)"
        got = item.get("input")
        shown = "" if isinstance(got, dict | list) or item["type"] == "missing" else f" (got {got!r})"
        if item["type"] == "extra_forbidden":
            keys = known_keys(model, tuple(item["loc"][:-1])) if model is not None else []
            keys += list(also_known) if len(item["loc"]) == 1 else []
            close = suggest(str(item["loc"][-1]), keys) if keys else "; check its spelling"
            lines.append(f"  {path} -> unknown key{close}{hint}")
        else:
            lines.append(f"  {path} -> {item['msg']}{shown}")
    return "\n".join(lines)


def blame_overrides(err: ConfigError, source: str, overrides: Sequence[str]) -> ConfigError:
    """The same error, with each problem a `--set` made marked as such, and the header naming `--set`
    instead of the file when every problem is one: a typo in `--set judge.methd=llm` is not the file's."""
    keys = [o.partition("=")[0].strip() for o in overrides]
    lines = str(err).splitlines()
    ours = [i for i, line in enumerate(lines[1:], 1) if any(line.startswith(f"  {k} ->") for k in keys)]
    for i in ours:
        lines[i] += " (from --set)"
    if ours and len(ours) == len(lines) - 1 and lines[0] == f"{source} is not valid:":
        lines[0] = "--set is not valid:"
    return ConfigError("\n".join(lines))


def parse_override(text: str) -> tuple[list[str], Any]:
    """`backend.max_concurrency=64` -> (['backend', 'max_concurrency'], 64); values are YAML scalars."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r} -> expected KEY=VALUE, e.g. --set backend.max_concurrency=64")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r} -> value is not valid YAML: {exc}") from None
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text!r} -> {part} is a value, not a section")
            node = child
        node[path[-1]] = value
    return data


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """` at line 3, column 5: <problem>` on one line, instead of PyYAML's multi-line report."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{where}: {problem}"


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping with `safe_load`; a missing or malformed file is a ConfigError."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} -> file not found; pass the path of a YAML config") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} -> not valid YAML{_yaml_problem(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} -> expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def validate(
    model: type[M],
    data: dict[str, Any],
    source: str = "config",
    prefix: str = "",
    also_known: Sequence[str] = (),
    hint: str = "",
) -> M:
    """`model.model_validate` whose errors are a ConfigError of `path -> what is wrong` lines;
    `prefix` (e.g. `backend.`) places a section's errors in the whole file's dotted paths."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source, prefix, model, also_known, hint)) from None


def load_config(model: type[M], path: Path | None = None, overrides: list[str] | None = None) -> M:
    """Validate a YAML file (or defaults) plus `--set` overrides against `model`."""
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides or [])
    return validate(model, data, str(path) if path else "config")


def load_backend_config(
    path: Path | None, overrides: list[str] | None = None, name: str | None = None
) -> BackendConfig:
    """The `backend` section of a run config file (defaults without one), plus `--set backend.<key>=...`
    overrides, and `name` in place of the file's backend: what `synsym probe` checks."""
    data = apply_overrides({"backend": read_yaml(path).get("backend", {}) if path else {}}, overrides or [])
    if name:
        data["backend"]["name"] = name
    return validate(BackendConfig, data["backend"], str(path or "config"), "backend.")


def describe_keys(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, meaning) for every key a user can write in `model`, nested sections
    expanded (a list or mapping of sections as `key[].field` / `key.<name>.field`). A removed key (its
    description starts `removed:`; kept only to say what replaced it) is not listed."""
    rows: list[tuple[str, str, str, str]] = []
    for name, info in model.model_fields.items():
        if (info.description or "").startswith("removed:"):
            continue
        key = prefix + (info.alias or name)
        inner = _inner_model(info.annotation)
        default = "" if info.is_required() else _shown(info.get_default(call_default_factory=True))
        kind = _type_name(info.annotation)
        if inner is not None and inner is not model:
            rows.append((key, kind, "", info.description or (inner.__doc__ or "").strip().split("\n")[0]))
            joint = (
                "[]."
                if get_origin(info.annotation) is list
                else (".<name>." if _is_mapping(info.annotation) else ".")
            )
            rows += describe_keys(inner, key + joint)
        else:
            rows.append((key, kind, default, info.description or ""))
    return rows


def _type_name(annotation: Any) -> str:
    """`int`, `str | None`, `list[Style]`, `'llm' | 'seeds'`: what a user writes, not typing's repr."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (Union, UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def _shown(value: Any) -> str:
    if isinstance(value, BaseModel):
        return ""
    text = (
        repr(value)
        if not isinstance(value, list | dict) or len(repr(value)) < 40
        else f"({len(value)} items)"
    )
    return text
