"""Fake JSON for the fake backend and the local test server: a value valid against a request's JSON
schema (as pydantic v2 emits it), its strings on the prompt's topic (synsym.backends.fake_text).

Every function is a pure function of its `random.Random`, so one seed gives one answer.
"""

from __future__ import annotations

import datetime as _dt
import math
import random
import re
from typing import Any

from synsym.backends.fake_text import fake_phrase, fit_length, is_name_field, text_for_field

__all__ = ["instance_for_schema"]


def _formatted(fmt: str, rng: random.Random) -> str | None:
    base = _dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(
        seconds=rng.randrange(63_072_000)
    )
    if fmt == "date-time":
        return base.isoformat().replace("+00:00", "Z")
    if fmt == "date":
        return base.date().isoformat()
    if fmt == "time":
        return base.time().isoformat()
    if fmt == "uuid":
        h = f"{rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[rng.randrange(4)]}{h[17:20]}-{h[20:]}"
    if fmt == "email":
        return f"user{rng.randrange(10_000)}@example.org"
    if fmt in ("uri", "url"):
        return f"https://example.org/post/{rng.randrange(1_000_000)}"
    return None


def _bounds(low: Any, high: Any, span: float) -> tuple[float, float]:
    """Fill a missing bound `span` away from the other one."""
    if low is None and high is None:
        return 0.0, span
    if low is None:
        return float(high) - span, float(high)
    if high is None:
        return float(low), float(low) + span
    return float(low), float(high)


def _integer(schema: dict[str, Any], rng: random.Random, field: str) -> int:
    low, high = schema.get("minimum"), schema.get("maximum")
    if "exclusiveMinimum" in schema:
        low = math.floor(schema["exclusiveMinimum"]) + 1
    if "exclusiveMaximum" in schema:
        high = math.ceil(schema["exclusiveMaximum"]) - 1
    if low is None and high is None:
        low = 1
    flo, fhi = _bounds(low, high, 10)
    lo, hi = math.ceil(flo), math.floor(fhi)
    step = int(schema.get("multipleOf", 1)) or 1
    first = -(-lo // step) * step
    values = range(first, hi + 1, step)
    if not values:
        return first
    if (lo == 0 and hi == 5 and step == 1) or "score" in field.lower() or "rating" in field.lower():
        # Judge scores lean high, so a filter keeps most rows, as with a decent generator.
        r = rng.random()
        idx = len(values) - 1 if r < 0.55 else len(values) - 2 if r < 0.85 else rng.randrange(len(values))
        return values[max(idx, 0)]
    return values[rng.randrange(len(values))]


def _number(schema: dict[str, Any], rng: random.Random) -> float:
    lo, hi = _bounds(
        schema.get("minimum", schema.get("exclusiveMinimum")),
        schema.get("maximum", schema.get("exclusiveMaximum")),
        1.0,
    )
    value = round(lo + (hi - lo) * (0.05 + 0.9 * rng.random()), 3)
    if not lo < value < hi:  # degenerate or tiny interval: the midpoint is the safest choice
        value = lo + (hi - lo) / 2
    return float(value)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        extra = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **extra}
    return schema


def instance_for_schema(schema: dict[str, Any], rng: random.Random, prompt: str = "") -> Any:
    """A JSON value valid against `schema` (as pydantic v2 emits it), with on-topic strings."""
    return _Builder(rng, prompt, schema).value(schema, "", 0)


_MOVED = re.compile(r"\{(\w+: [^{}]+)\}$")


def _with_moved(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with the constraints a dialect moved into its description (`{minimum: 0, maximum: 5}`,
    synsym.backends.schemas) put back: a model reads them there, so a fake model honours them."""
    found = _MOVED.search(str(schema.get("description") or ""))
    if not found:
        return schema
    moved: dict[str, Any] = {}
    for part in found.group(1).split(", "):
        key, _, raw = part.partition(": ")
        try:
            moved[key] = int(raw) if raw.lstrip("-").isdigit() else float(raw)
        except ValueError:
            moved[key] = raw
    return {**moved, **schema}


def _is_null(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or (schema.get("const", 0) is None and "type" not in schema)


class _Builder:
    """One instance's walk over the schema; remembers names used so far so that no two sub-concepts
    (or titles, labels) of one answer share a name."""

    def __init__(self, rng: random.Random, prompt: str, root: dict[str, Any]) -> None:
        self.rng, self.prompt, self.root = rng, prompt, root
        self.names: set[str] = set()
        self.open_refs: list[str] = []

    def value(self, schema: dict[str, Any], field: str, depth: int) -> Any:
        if depth > 64:
            raise ValueError("schema has no finite instance (a required field recurses into itself)")
        ref = schema.get("$ref")
        if ref is None:
            return self.plain(schema, field, depth)
        # A model inside itself (a tree): from there on build the smallest valid subtree.
        self.open_refs.append(ref)
        try:
            deep = depth if self.open_refs.count(ref) == 1 else max(depth, 9)
            return self.plain(_resolve(schema, self.root), field, deep)
        finally:
            self.open_refs.pop()

    def plain(self, schema: dict[str, Any], field: str, depth: int) -> Any:
        schema = _with_moved(_resolve(schema, self.root))
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = [b for b in schema[key] if not _is_null(_resolve(b, self.root))]
                if not branches or (depth > 8 and len(branches) < len(schema[key])):
                    return None
                # A union of models varies; a union of scalars keeps its first branch, which pydantic
                # makes the real one (Decimal is number | string, and a sentence is no Decimal).
                models = all(_resolve(b, self.root).get("type") == "object" for b in branches)
                branch = self.rng.choice(branches) if models or key == "oneOf" else branches[0]
                return self.value(branch, field, depth + 1)
        if "allOf" in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = _resolve(part, self.root)
                props = {**merged.get("properties", {}), **part.get("properties", {})}
                req = [*merged.get("required", []), *part.get("required", [])]
                merged = {**merged, **part, "properties": props, "required": req}
            if not merged["properties"]:
                merged.pop("properties")
            return self.value(merged, field, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            non_null = [k for k in kind if k != "null"]
            kind = self.rng.choice(non_null) if non_null else "null"
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, field, depth)
        if kind == "string":
            return self.string(schema, field)
        if kind == "integer":
            return _integer(schema, self.rng, field)
        if kind == "number":
            return _number(schema, self.rng)
        if kind == "boolean":
            return self.rng.random() < 0.5
        return None

    def string(self, schema: dict[str, Any], field: str) -> str:
        if not is_name_field(field):
            return _string(schema, self.rng, self.prompt, field)
        for _ in range(8):
            text = _string(schema, self.rng, self.prompt, field)
            if text not in self.names:
                break
        self.names.add(text)
        return text

    def object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        out: dict[str, Any] = {}
        for name, sub in props.items():
            if depth > 8 and name not in required:
                continue  # recursive models: stop growing once deep
            out[name] = self.value(sub, name, depth + 1)
        extra = schema.get("additionalProperties")
        if not props and isinstance(extra, dict):
            for i in range(int(schema.get("minProperties", 0)) or self.rng.randint(1, 3)):
                key = re.sub(r"\W+", "_", fake_phrase(self.rng, self.prompt).lower()).strip("_") or f"key{i}"
                out[key if key not in out else f"{key}_{i}"] = self.value(extra, key, depth + 1)
        return out

    def array(self, schema: dict[str, Any], field: str, depth: int) -> list[Any]:
        if schema.get("prefixItems"):
            return [self.value(s, field, depth + 1) for s in schema["prefixItems"]]
        lo, hi = int(schema.get("minItems", 0)), schema.get("maxItems")
        top = int(hi) if hi is not None else max(lo, 2) + 3
        count = lo if depth > 8 else self.rng.randint(max(lo, min(2, top)), top)
        raw_items = schema.get("items", {})
        items = _resolve(raw_items, self.root)
        plain = not {"enum", "const", "format", "pattern"} & items.keys()
        free_text = items.get("type") == "string" and plain
        out: list[Any] = []
        seen: set[str] = set()
        for i in range(count):
            value: Any = None
            for _ in range(12):  # strings in an array, and items of a `uniqueItems` array, stay distinct
                value = self.value(raw_items, field, depth + 1)
                if repr(value) not in seen:
                    break
            else:
                if free_text:
                    value = _distinct(value, i, items)
                elif len(out) >= lo:
                    continue  # cannot find another distinct value: a shorter list is still valid
            seen.add(repr(value))
            out.append(value)
        return out


def _string(schema: dict[str, Any], rng: random.Random, prompt: str, field: str) -> str:
    fmt = schema.get("format")
    if fmt:
        special = _formatted(fmt, rng)
        if special is not None:
            return special
    text = text_for_field(rng, prompt, field)
    hi = schema.get("maxLength")
    return fit_length(text, rng, int(schema.get("minLength", 0)), int(hi) if hi is not None else None)


def _distinct(value: str, i: int, items: dict[str, Any]) -> str:
    suffix = f" ({i + 1})"
    hi = items.get("maxLength")
    if hi is not None:
        value = value[: max(0, int(hi) - len(suffix))]
    return value + suffix
