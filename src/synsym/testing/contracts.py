"""What the providers document about request bodies, as checks the loopback fakes enforce: a fake that
accepts what the real API refuses proves nothing (the suite once passed while every structured request
to Anthropic would have been refused).

Each check returns the provider's error message for the first problem it finds, or None.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = [
    "anthropic_schema_problem",
    "openai_params_problem",
    "openai_strict_problem",
    "schema_nodes",
]

# Anthropic, structured outputs, "JSON Schema limitations": not supported are "Numerical constraints (such
# as minimum, maximum, multipleOf)", "String constraints (minLength, maxLength)", "Array constraints beyond
# minItems of 0 or 1", and "additionalProperties set to anything other than false".
_ANTHROPIC_UNSUPPORTED = (
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
    "maxItems",
)  # fmt: skip
# OpenAI, structured outputs, strict mode: "all fields or function parameters must be specified as
# required", "additionalProperties: false must always be set in objects"; for strings only "pattern" and
# "format" are supported (minLength and maxLength are not).
_OPENAI_STRICT_UNSUPPORTED = ("minLength", "maxLength")


def schema_nodes(schema: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every schema object inside `schema` with its path (properties, items, $defs, anyOf, ...)."""
    if not isinstance(schema, dict):
        return
    yield path, schema
    for key in ("properties", "$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            yield from schema_nodes(sub, (*path, key, name))
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            yield from schema_nodes(schema[key], (*path, key))
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for i, sub in enumerate(schema.get(key) or []):
            yield from schema_nodes(sub, (*path, key, str(i)))


def _is_object(node: dict[str, Any]) -> bool:
    return node.get("type") == "object" or "properties" in node


def anthropic_schema_problem(schema: Any, where: str = "output_config.format.schema") -> str | None:
    """The 400 message Anthropic gives for a structured-output schema outside its subset."""
    for path, node in schema_nodes(schema):
        at = ".".join((where, *path))
        if _is_object(node) and node.get("additionalProperties") is not False:
            return f"{at}: For 'object' type, 'additionalProperties' must be explicitly set to false"
        for key in _ANTHROPIC_UNSUPPORTED:
            if key in node:
                return f"{at}: '{key}' is not supported by structured outputs"
        if node.get("minItems", 0) > 1:
            return f"{at}: 'minItems' values other than 0 or 1 are not supported"
    return None


def openai_strict_problem(schema: Any, name: str) -> str | None:
    """The 400 message OpenAI gives for a `strict: true` schema that breaks the strict rules."""
    for path, node in schema_nodes(schema):
        context = f"Invalid schema for response_format '{name}': In context=({', '.join(map(repr, path))}), "
        if _is_object(node):
            if node.get("additionalProperties") is not False:
                return context + "'additionalProperties' is required to be supplied and to be false."
            missing = [k for k in node.get("properties") or {} if k not in (node.get("required") or [])]
            if missing:
                return (
                    context + "'required' is required to be supplied and to be an array including every key "
                    f"in properties. Missing '{missing[0]}'."
                )
        for key in _OPENAI_STRICT_UNSUPPORTED:
            if key in node:
                return context + f"'{key}' is not permitted."
    return None


def openai_params_problem(body: dict[str, Any], reasoning_models: frozenset[str] | set[str]) -> str | None:
    """The 400 message OpenAI gives a reasoning model (o-series, GPT-5) sent `max_tokens`: "max_tokens ...
    is not compatible with o1 series models"; the real text is below."""
    if body.get("model") in reasoning_models and "max_tokens" in body:
        return (
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        )
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        if spec.get("strict") is True:
            return openai_strict_problem(spec.get("schema") or {}, str(spec.get("name")))
    return None
