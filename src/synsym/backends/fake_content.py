"""Deterministic, plausible fake answers for the fake backend and the local test server.

Both must answer every request the pipeline makes with content a person would not mistake for
placeholder text ("string", 0), so that downstream stages (dedup, judging, export, reports) see
varied, on-topic data. Every function here is a pure function of its `random.Random`, so one seed
gives one answer.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import random
import re
from typing import Any

__all__ = [
    "extract_phrases",
    "fake_edit",
    "fake_phrase",
    "fake_reason",
    "fake_sentence",
    "instance_for_schema",
]


def _banks(text: str) -> dict[str, tuple[str, ...]]:
    """Word banks written compactly: `[name]` sections, entries separated by " | " or new lines."""
    return {
        name: tuple(e.strip() for line in body.splitlines() for e in line.split(" | ") if e.strip())
        for name, body in re.findall(r"^\[(\w+)\]$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    }


_BANKS = _banks(
    """
[topics]
trouble sleeping | feeling on edge | losing interest in things I used to love | being tired all the time
not wanting to see anyone | a heavy feeling in my chest | racing thoughts at night | no appetite
[templates]
Lately I can't shake {p}, and it's wearing me down.
Honestly, {p} has taken over my whole week.
I've been dealing with {p} for a while now and I don't know who to tell.
Every morning it's the same thing: {p}.
I keep telling myself it's nothing, but {p} won't go away.
Is it normal to have {p} this often? Because I do.
My friends don't get it, but {p} is real for me right now.
Some days {p} is so bad I just stay in bed.
I noticed {p} again today and it scared me a little.
It's been weeks of {p} and I'm running out of energy to fight it.
Not sure why, but {p} hits me hardest in the evenings.
I used to be fine, and now {p} is just part of my life.
Whenever I'm alone, {p} creeps back in.
I hate admitting it, but {p} is getting worse.
Work is harder than ever because of {p}.
I can't remember the last time I didn't have {p}.
Tried to explain {p} to my mom today and ended up crying.
At this point {p} feels like my default setting.
Anyone else get {p} out of nowhere? It happened again last night.
I'm exhausted from pretending {p} isn't happening.
The worst part of my day is {p}, no question.
I wish I could switch off {p} for just one day.
Even small things set off {p} lately.
I'm so tired of {p} ruining my plans.
My therapist asked about {p} and I didn't know where to start.
Since the move, {p} has been constant.
I thought I'd grown out of {p}, but here we are.
It's 3am and {p} is keeping me company again.
Nobody would guess it from my photos, but {p} is my everyday reality.
I feel like {p} is slowly taking pieces of me.
I experience {p} most days, and it affects how I function.
Over the past two weeks I've had {p} nearly every day.
[follow_ups]
I don't know what to do anymore. | Does anyone else feel like this? | It's been like this for weeks.
I just want to feel normal again. | Not sure how much longer I can keep this up.
I haven't told anyone yet. | Some days are better, but most aren't. | It's honestly exhausting.
I'm trying, I really am. | I keep hoping it will pass.
[reasons]
The text directly describes {p}, so it is clearly expressed.
The writer reports {p} in the first person, which makes the symptom explicit.
There is a clear mention of {p} with an impact on daily life.
The statement refers to {p}, though somewhat indirectly.
Mentions {p} explicitly and describes how often it happens.
The post centres on {p}; no other symptom is as prominent.
[names]
persistent {p} | {p} at night | {p} in social situations | sudden {p} | {p} about the future
{p} during the day | chronic {p} | {p} at work | early-morning {p} | {p} with physical tension
recurrent {p} | {p} after conflict
[descriptions]
A pattern of {p} that persists across most days and interferes with daily routines.
Recurrent episodes of {p}, often reported together with low energy.
The person describes {p} and finds it hard to control.
Noticeable {p} that others may not see but the person experiences strongly.
Ongoing {p}, sometimes triggered by stress, sometimes without a clear cause.
[gerunds]
is being | has having | gets getting | cries crying | worries worrying | feels feeling | loses losing
sleeps sleeping | avoids avoiding | thinks thinking | eats eating | struggles struggling | lacks lacking
experiences experiencing | finds finding | wakes waking | moves moving | withdraws withdrawing
"""
)
_TEMPLATES, _FOLLOW_UPS = _BANKS["templates"], _BANKS["follow_ups"]


_REASON_FIELDS = ("reason", "rationale", "explanation", "justification", "why", "comment", "feedback")
_NAME_FIELDS = ("name", "title", "label", "concept", "subconcept", "sub_concept", "topic", "heading")
_DESC_FIELDS = ("description", "definition", "summary")
_ID_FIELDS = ("id", "key", "slug", "identifier")
_SKIP_KEYS = re.compile(  # `Key:` lines and list headers that say how to write, not what about
    r"^(styles?|format|severity|language|output|return|instructions?|notes?|json|schema|rules?|role|"
    r"answer|scores?|threshold|n|count|number|temperature|examples?|task|system|user|assistant)$"
    r"|\b(other|not|avoid|exclud\w*|every|each|must|rules?|styles?|format|examples?)\b",
    re.I,
)
_KEY_RANKS = (  # which `Key:` lines name the content a statement should be about, best first
    re.compile(r"sub[- _]?concept|aspect|facet", re.I),
    re.compile(r"concept|symptom", re.I),
    re.compile(r"description|topic|theme|statement|text|post", re.I),
)
_PLURAL_KEY = re.compile(r"symptoms|concepts|items", re.I)
_KEY_VALUE = re.compile(r"^[ \t]*([A-Za-z][\w \-/(),']{0,80}?)[ \t]*:[ \t]*(.*?)[ \t]*$")
_BULLET = re.compile(r"^[ \t]*(?:[-*•]|\d{1,2}[.)])[ \t]+(.+?)[ \t]*$")
_QUOTED = re.compile(r"\"([^\"\n]{3,80})\"(?![ \t]*:)|“([^”\n]{3,80})”|(?<!\w)'([^'\n]{3,80})'(?!\w)")


def extract_phrases(prompt: str) -> tuple[str, ...]:
    """The salient phrases of a prompt, best first: values of `Key: value` lines and bullet lists whose
    key or header names a sub-concept, a symptom, a description; then quoted phrases; then the rest."""
    return tuple(", ".join(items) for items, _ in _phrase_table(prompt))


@functools.lru_cache(maxsize=1024)
def _phrase_table(prompt: str) -> tuple[tuple[tuple[str, ...], bool], ...]:
    """(items, whether all of them are meant, as under `Symptoms:`), best first. A bullet item
    `- Name: definition` counts as its name. Cached: prompts repeat a lot."""
    ranked: list[tuple[int, int, tuple[str, ...], bool]] = []

    def add(key: str, items: list[str]) -> None:
        items = [p for p in (_clean(i) for i in items) if p and len(p) <= 160 and not p.isdigit()]
        if items and not _SKIP_KEYS.search(key):
            default = len(_KEY_RANKS) + (key != "quoted")
            rank = next((r for r, rx in enumerate(_KEY_RANKS) if rx.search(key)), default)
            ranked.append((rank, len(ranked), tuple(items), bool(_PLURAL_KEY.search(key))))

    header, group = "", []
    for line in [*prompt.splitlines(), ""]:
        bullet = _BULLET.match(line)
        if bullet:
            named = _KEY_VALUE.match(bullet.group(1))
            group.append(named.group(1) if named and len(named.group(1)) <= 40 else bullet.group(1))
            continue
        if group:
            add(header, group)
            header, group = "", []
        if "{" in line:  # an answer shape: its keys and "..." are not content
            continue
        pair = _KEY_VALUE.match(line)
        if pair and pair.group(2):
            add(pair.group(1), _split_list(pair.group(2)))
        elif line.rstrip().endswith(":"):
            header = line.rstrip()[:-1]
        for groups in _QUOTED.findall(line):
            add("quoted", [next(g for g in groups if g)])
    seen: set[tuple[str, ...]] = set()
    out = []
    for _rank, _, items, plural in sorted(ranked):
        key = tuple(i.lower() for i in items)
        if key not in seen:
            seen.add(key)
            out.append((items, plural))
    return tuple(out)


# "Feels sad" reads badly inside "I can't shake {p}"; "feeling sad" does not.
_GERUNDS = dict(pair.split() for pair in _BANKS["gerunds"])


def _clean(value: str) -> str:
    """Tidy a phrase so it reads inside a sentence: "Feels sad." -> "feeling sad", "Depressed_Mood" ->
    "depressed mood"; keeps "PTSD" and "I"."""
    value = value.strip().strip("\"'“”`").strip().rstrip(".;:!?,").strip()
    if "_" in value and " " not in value:
        value = value.replace("_", " ")
    words = value.split()
    if 1 < len(words) <= 5 and all(w[:1].isupper() and w[1:].islower() for w in words):
        value = value.lower()  # a Title Case name
    elif value[:1].isupper() and not value[1:2].isupper() and not re.match(r"I\b", value):
        value = value[0].lower() + value[1:]
    head, _, rest = value.partition(" ")
    if rest and head in _GERUNDS:
        value = f"{_GERUNDS[head]} {rest}"
    return value


def _topics(rng: random.Random, prompt: str) -> list[str]:
    """A salient phrase of the prompt (one of the best two); under a plural key or header
    (`Symptoms: a, b, c`) all its items; from any other list, one item."""
    table = _phrase_table(prompt) if prompt else ()
    if not table:
        return [rng.choice(_BANKS["topics"])]
    items, plural = rng.choice(table[:2])
    return list(items) if plural else [rng.choice(items)]


def _topic(rng: random.Random, prompt: str) -> str:
    return rng.choice(_topics(rng, prompt))


def _split_list(phrase: str) -> list[str]:
    """Split "a, b and c" or "a; b" into items; a phrase with one comma or an "and" stays whole."""
    parts = [re.sub(r"^(and|or)\s+", "", p) for p in re.split(r"\s*[;,]\s*", phrase) if p.strip()]
    if len(parts) >= 3 or (";" in phrase and len(parts) >= 2):
        last = re.split(r"\s+(?:and|or)\s+", parts[-1])
        return [*parts[:-1], *last] if len(parts) <= 8 else [phrase]
    return [phrase]


def fake_sentence(rng: random.Random, prompt: str = "") -> str:
    """A first-person, 1-2 sentence social-media-style statement about a salient phrase of `prompt`.

    When that phrase is a list meant whole (`Symptoms: a, b, c`, as for a multi-symptom post), it
    writes a post of up to three sentences that together mention every item."""
    items = _topics(rng, prompt)
    if len(items) > 1:
        items = rng.sample(items, len(items))
        groups = [" and ".join(items[i::3]) for i in range(min(3, len(items)))]
        templates = rng.sample(_TEMPLATES, len(groups))
        return " ".join(_capital(t.format(p=g)) for t, g in zip(templates, groups, strict=True))
    text = rng.choice(_TEMPLATES).format(p=items[0])
    if rng.random() < 0.4:
        text = f"{text} {rng.choice(_FOLLOW_UPS)}"
    return _capital(text)


def _capital(text: str) -> str:
    return text[0].upper() + text[1:]


def fake_reason(rng: random.Random, prompt: str = "") -> str:
    """A short justification, as a judge would give."""
    return rng.choice(_BANKS["reasons"]).format(p=_topic(rng, prompt))


def fake_phrase(rng: random.Random, prompt: str = "") -> str:
    """A short noun phrase built on the prompt's topic: a name or title."""
    return rng.choice(_BANKS["names"]).format(p=_topic(rng, prompt))


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
        if not any(k in field.lower() for k in _NAME_FIELDS):
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
    f = field.lower()
    if any(k in f for k in _REASON_FIELDS):
        text = fake_reason(rng, prompt)
    elif f in _ID_FIELDS or f.endswith("_id"):
        text = re.sub(r"\W+", "_", fake_phrase(rng, prompt).lower()).strip("_")
    elif any(k in f for k in _NAME_FIELDS):
        text = fake_phrase(rng, prompt)
    elif any(k in f for k in _DESC_FIELDS):
        text = rng.choice(_BANKS["descriptions"]).format(p=_topic(rng, prompt))
    elif f in _EDIT_FIELDS and _last_post(prompt):
        text = fake_edit(rng, _last_post(prompt))
    else:
        text = fake_sentence(rng, prompt)
    lo, hi = int(schema.get("minLength", 0)), schema.get("maxLength")
    if hi is not None and len(text) > int(hi):  # cut at a sentence end, else a word end, if long enough
        cut = text[: int(hi)]
        ends = [cut[: i + 1] for i in range(len(cut) - 1, max(lo, 1) - 2, -1) if cut[i] in ".?!"]
        words = cut.rsplit(" ", 1)[0].rstrip(",;:")
        text = ends[0] if ends else words if len(words) >= lo else cut
    while len(text) < lo:
        text = f"{text} {rng.choice(_FOLLOW_UPS)}"
    if hi is not None:
        text = text[: int(hi)]
    return text


_EDIT_FIELDS = ("rewrite", "edit", "revision", "rewritten")
_EDITS = (
    lambda t: f"Years ago {t[0].lower()}{t[1:]} These days I'm fine.",
    lambda t: f"My friend told me: {t}",
    lambda t: re.sub(r"\bI\b", "my brother", t, count=1),
    lambda t: f"If things got worse, {t[0].lower()}{t[1:]}",
    lambda t: t,  # an unchanged copy, as small models give: the minimal-edit check must catch it
)


def _last_post(prompt: str) -> str:
    """The text after the last `Post:` of a prompt (what a rewrite prompt asks to edit), or ''."""
    found = re.findall(r"^Post:\s*(.+)$", prompt, flags=re.MULTILINE)
    return found[-1].strip().strip('"') if found else ""


def fake_edit(rng: random.Random, text: str) -> str:
    """A small edit of `text`, as a model asked to rewrite it minimally might make (or fail to)."""
    return str(rng.choice(_EDITS)(text))


def _distinct(value: str, i: int, items: dict[str, Any]) -> str:
    suffix = f" ({i + 1})"
    hi = items.get("maxLength")
    if hi is not None:
        value = value[: max(0, int(hi) - len(suffix))]
    return value + suffix
