"""Schema dialects: how a task's JSON schema reaches each kind of model.

A stage asks for an answer with its pydantic model's full JSON schema, and the engine validates every
answer against that full model (and re-asks with the error). What is *sent* differs by who enforces it,
because each enforcer accepts a different subset, and a schema outside it fails every request:

- `grammar`: llama.cpp (in-process, and llama-cpp-python's server) compiles the schema into a GBNF
  grammar and expands every bounded repetition: a `maxLength: 1200` string becomes 1,200 nested rules,
  which llama.cpp refuses ("exceeds sane defaults") and then crashes on. String length bounds and large
  array bounds are therefore left to client-side validation.
- `anthropic`: Anthropic's structured outputs take a documented subset ("JSON Schema limitations": no
  numeric or string-length constraints, no array bounds other than `minItems` 0 or 1,
  `additionalProperties` must be `false` on every object). Unsupported keywords move into the
  description, as the anthropic SDK's `transform_schema` does, so the model still reads them.
- `openai_strict`: OpenAI's `strict: true` ("all fields must be required", "additionalProperties: false
  must always be set in objects"; string `minLength`/`maxLength` are not among the supported keywords).
- `full`: the schema as the stage wrote it (a server that enforces all of JSON Schema, or only hints).
- `none`: no schema is sent (JSON mode, or plain text): only client-side validation.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

import orjson

__all__ = ["GRAMMAR_MAX_ITEMS", "Dialect", "to_dialect"]

Dialect = Literal["grammar", "anthropic", "openai_strict", "full", "none"]

GRAMMAR_MAX_ITEMS = 64  # array bounds up to this stay in a grammar (llama.cpp repeats the item rule)
_LENGTH = ("minLength", "maxLength")
_NUMERIC = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_ARRAY = ("minItems", "maxItems")
_STRING_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)  # Anthropic's supported string formats


def to_dialect(schema: dict[str, Any] | None, dialect: Dialect) -> dict[str, Any] | None:
    """The schema to send in `dialect` (None for `none`), its properties in their order (a grammar writes
    them in that order). The caller's dict is never changed; the one returned is shared: do not change it."""
    if schema is None or dialect == "none":
        return None
    if dialect == "full":
        return schema
    return _cached(orjson.dumps(schema), dialect)


@lru_cache(maxsize=1024)
def _cached(raw: bytes, dialect: Dialect) -> dict[str, Any]:
    return _RULES[dialect](orjson.loads(raw))  # a fresh copy to rewrite in place


def _walk(node: Any, visit: Any) -> Any:
    """`visit` applied to every schema object in `node` (a fresh copy, changed in place), children first
    ($defs, properties, items, ...)."""
    if isinstance(node, list):
        return [_walk(n, visit) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "$defs", "definitions", "patternProperties"):
            out[key] = {k: _walk(v, visit) for k, v in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "prefixItems", "not", "additionalProperties"):
            out[key] = _walk(value, visit)
        else:
            out[key] = value
    return visit(out)


def _describe(node: dict[str, Any], moved: dict[str, Any]) -> dict[str, Any]:
    """Keywords the enforcer cannot take, appended to the description so the model still reads them."""
    if moved:
        text = "{" + ", ".join(f"{k}: {v}" for k, v in moved.items()) + "}"
        node["description"] = f"{node['description']}\n\n{text}" if node.get("description") else text
    return node


def _grammar(schema: dict[str, Any]) -> dict[str, Any]:
    def visit(node: dict[str, Any]) -> dict[str, Any]:
        for key in _LENGTH:
            node.pop(key, None)
        if any(node.get(k, 0) > GRAMMAR_MAX_ITEMS for k in _ARRAY):
            for key in _ARRAY:
                node.pop(key, None)
        return node

    return _walk(schema, visit)


def _closed(node: dict[str, Any]) -> None:
    if node.get("type") == "object" or "properties" in node:
        node["additionalProperties"] = False


def _anthropic(schema: dict[str, Any]) -> dict[str, Any]:
    def visit(node: dict[str, Any]) -> dict[str, Any]:
        moved = {k: node.pop(k) for k in (*_LENGTH, *_NUMERIC, "pattern", "default") if k in node}
        if node.get("minItems", 0) > 1:
            moved["minItems"] = node.pop("minItems")
        if "maxItems" in node:
            moved["maxItems"] = node.pop("maxItems")
        if "format" in node and node["format"] not in _STRING_FORMATS:
            moved["format"] = node.pop("format")
        node.pop("$schema", None)
        _closed(node)
        return _describe(node, moved)

    return _walk(schema, visit)


def _openai_strict(schema: dict[str, Any]) -> dict[str, Any]:
    def visit(node: dict[str, Any]) -> dict[str, Any]:
        moved = {k: node.pop(k) for k in _LENGTH if k in node}
        node.pop("default", None)  # every property is required: a default could never apply
        _closed(node)
        if "properties" in node:
            node["required"] = list(node["properties"])
        return _describe(node, moved)

    return _walk(schema, visit)


_RULES = {"grammar": _grammar, "anthropic": _anthropic, "openai_strict": _openai_strict}
