"""The row every stage passes on and every export writes, declared once.

`COLUMNS` is the one table of dataset columns: name, type, nullable, default and meaning. The row type's
defaults (`new_post`), the Parquet schema, read-back of older exports and the dataset card's column table
all derive from it. Rows are plain dicts (cheap to build by the thousand, direct to Parquet); `Post` is
their static type and must name exactly the columns of the table (checked at import).

A dropped row carries a `drop_class` (one of `DropClass`), a `drop_detail` (free text for people) and
`dropped_by` (the stage that dropped it); nothing parses the detail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, TypedDict, cast

__all__ = [
    "COLUMNS",
    "ENGINE_FAILURES",
    "GIVEN_STAGE",
    "Column",
    "DropClass",
    "Post",
    "column",
    "dropped",
    "is_kept",
    "new_post",
    "post_id",
    "with_fields",
]


class DropClass(str, Enum):
    """Why a row is not in the dataset: the engine's failure classes, then the pipeline's own."""

    # the request behind the row ended without a usable answer (the engine's failure classes)
    REFUSAL = "refusal"
    CONTENT_FILTER = "content_filter"
    INVALID_OUTPUT = "invalid_output"
    TRUNCATED = "truncated"
    RATE_LIMIT = "rate_limit"
    OVERLOADED = "overloaded"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    BAD_RESPONSE = "bad_response"
    CLIENT_ERROR = "client_error"
    BUDGET = "budget"
    # the answer arrived, but the pipeline does not keep it
    UNUSABLE_OUTPUT = "unusable_output"
    TOO_LONG = "too_long"
    EXACT_DUPLICATE = "exact_duplicate"
    NEAR_DUPLICATE = "near_duplicate"
    EXAMPLE_COPY = "example_copy"
    NO_FIRST_PERSON = "no_first_person"
    INCOHERENT = "incoherent"  # no statement at all: a repetition loop, cut off, word salad, chat
    BELOW_THRESHOLD = "below_threshold"
    EXPRESSED_IN_NEGATIVE = "expressed_in_negative"
    UNUSED_CONTEXT = "unused_context"
    USED_IN_LONG_POST = "used_in_long_post"
    NOT_MINIMAL = "not_minimal"
    KIND_NOT_MET = "kind_not_met"  # a rewrite that does not make the change its kind names

    def __str__(self) -> str:
        return self.value


# The stage of rows from a dataset the user gave (synsym augment, synsym contrast): their labelled data,
# which later stages compare against but never drop.
GIVEN_STAGE = "input"

ENGINE_FAILURES = frozenset(list(DropClass)[: list(DropClass).index(DropClass.BUDGET) + 1])

Kind = Literal["string", "strings", "scores"]  # string | list<string> | map<string, double>


@dataclass(frozen=True)
class Column:
    """One dataset column. `default` is what a new row and an older export without the column get
    (`...`: required, no default); `dropped_only` columns are written to `dropped.parquet` only."""

    name: str
    kind: Kind
    meaning: str
    nullable: bool = False
    default: Any = ...
    dropped_only: bool = False

    @property
    def required(self) -> bool:
        return self.default is ...

    def fresh_default(self) -> Any:
        """The default, copied when mutable, so rows never share a list or mapping."""
        return type(self.default)(self.default) if isinstance(self.default, list | dict) else self.default


COLUMNS: tuple[Column, ...] = (
    Column("text", "string", "the post"),
    Column("style", "string", "the style it was written in"),
    Column("symptoms", "strings", "the symptoms it expresses, in taxonomy order (none: a negative)"),
    Column("id", "string", "stable row id"),
    Column("stage", "string", "the stage that made the row (generate, compose, negatives, realism, ...)"),
    Column("subconcept", "string", "the sub-concept a single-symptom post was written for", True, None),
    Column("severity", "string", "the severity of a multi-symptom post", True, None),
    Column("negative_kind", "string", "a hard negative's kind, `negated`, or `long`", True, None),
    Column("near_symptom", "string", "the symptom a negative stays close to (negated: denies)", True, None),
    Column("persona", "string", "the declared persona the prompt named", True, None),
    Column("parts", "strings", "a long post's passages and statements (ids; see stages/)", False, []),
    Column("transforms", "strings", "surface transformations applied (labels unchanged)", False, []),
    Column("contrast_of", "string", "a contrastive rewrite's source row (its id)", True, None),
    Column(
        "contrast_kind", "string", "the one dimension a rewrite changed (other_person, past, ...)", True, None
    ),
    Column("removed", "strings", "the symptoms a rewrite took away (the source's minus its own)", False, []),
    Column("backend", "string", "the backend that generated the post"),
    Column("model", "string", "the model that generated the post"),
    Column("template", "string", "prompt template hash"),
    Column("request_key", "string", "cache key of the request that produced it"),
    Column("judge_method", "string", "llm, embedding, both or none", False, "none"),
    Column("judge_scores", "scores", "symptom -> 0-5 (`embedding:` prefix: the pre-filter's)", False, {}),
    Column("drop_class", "string", "why the row was dropped (a DropClass)", True, None, True),
    Column("drop_detail", "string", "the drop's particulars, for people", True, None, True),
    Column("dropped_by", "string", "the stage that dropped the row", True, None, True),
    Column(
        "drop_thresholds",
        "scores",
        "judge drops: symptom -> the threshold it missed (a negative's: reached)",
        False,
        {},
        True,
    ),
)
_BY_NAME = {c.name: c for c in COLUMNS}


class Post(TypedDict):
    id: str
    text: str
    style: str
    symptoms: list[str]
    stage: str
    subconcept: str | None
    severity: str | None
    negative_kind: str | None
    near_symptom: str | None
    persona: str | None
    parts: list[str]
    transforms: list[str]
    contrast_of: str | None
    contrast_kind: str | None
    removed: list[str]
    backend: str
    model: str
    template: str
    request_key: str
    judge_scores: dict[str, float]
    judge_method: str
    drop_class: str | None
    drop_detail: str | None
    dropped_by: str | None
    drop_thresholds: dict[str, float]


if set(Post.__annotations__) != set(_BY_NAME):  # pragma: no cover - a developer's mistake, caught at import
    raise RuntimeError(f"Post and COLUMNS disagree: {set(Post.__annotations__) ^ set(_BY_NAME)}")


def column(name: str) -> Column:
    return _BY_NAME[name]


def post_id(request_key: str, position: int, text: str) -> str:
    """16 hex chars, identical on every rerun that produces the same statement from the same request."""
    return hashlib.sha256(f"{request_key}:{position}:{text}".encode()).hexdigest()[:16]


_DEFAULTS = {c.name: c.default for c in COLUMNS}  # in column order; `...` marks a required column
_MUTABLE = tuple(c for c in COLUMNS if isinstance(c.default, list | dict))


def new_post(**fields: Any) -> Post:
    """A row from `fields` plus every column's default; a required column left out is a bug. (Built by
    the ten thousand in a run's event loop, so it copies one template instead of asking every column.)"""
    row = dict(_DEFAULTS)
    row.update(fields)
    if len(row) != len(_DEFAULTS):
        raise ValueError(f"post has unknown fields {sorted(set(row) - set(_DEFAULTS))}")
    for c in _MUTABLE:
        if c.name not in fields:
            row[c.name] = c.fresh_default()
    if ... in row.values():
        raise ValueError(f"post is missing {[name for name, value in row.items() if value is ...]}")
    return cast(Post, row)


def with_fields(row: Post, **changes: Any) -> Post:
    """A copy of `row` with some fields changed (rows are never mutated in place)."""
    return cast(Post, {**row, **changes})


def dropped(row: Post, stage: str, drop_class: DropClass, detail: str = "") -> Post:
    """A copy of `row` dropped by `stage` for `drop_class`, with `detail` for people."""
    return with_fields(row, drop_class=drop_class.value, drop_detail=detail or None, dropped_by=stage)


def is_kept(row: Post) -> bool:
    return row["drop_class"] is None
