"""The row every stage passes on and every export writes: one post, its symptoms, and where it came from.

Rows are plain dicts (cheap to build by the thousand, direct to Parquet); `POST_COLUMNS` is the contract.
"""

from __future__ import annotations

import hashlib
from typing import Any, TypedDict, cast


class Post(TypedDict):
    id: str  # stable: derived from the request key and the statement's position in the answer
    text: str
    style: str  # a declared style name (clinical, colloquial, ...)
    symptoms: list[str]  # in taxonomy order
    stage: str  # generate | compose | negatives | long
    subconcept: str | None  # generate: the sub-concept (or None for the symptom itself)
    severity: str | None  # compose: mild | moderate | severe
    negative_kind: str | None  # a hard negative's declared kind, "negated", or "context" (a long post's)
    near_symptom: str | None  # negatives: the symptom it stays close to (negated: the one it denies)
    persona: str | None  # the declared persona the prompt named
    parts: list[str]  # long posts: ids of the embedded statements, in order
    transforms: list[str]  # surface transformations applied after judging (labels unchanged)
    backend: str
    model: str
    template: str  # prompt template hash
    request_key: str  # cache key of the request that produced it
    judge_scores: dict[str, float]  # symptom -> 0..5
    judge_method: str  # llm | embedding | both | none
    drop_reason: str | None  # None for kept rows; always set in dropped.parquet


POST_COLUMNS = tuple(Post.__annotations__)


def post_id(request_key: str, position: int, text: str) -> str:
    """16 hex chars, identical on every rerun that produces the same statement from the same request."""
    return hashlib.sha256(f"{request_key}:{position}:{text}".encode()).hexdigest()[:16]


def with_fields(row: Post, **changes: Any) -> Post:
    """A copy of `row` with some fields changed (rows are never mutated in place)."""
    return cast(Post, {**row, **changes})


def new_post(**fields: Any) -> Post:
    row: dict[str, Any] = {
        "subconcept": None,
        "severity": None,
        "negative_kind": None,
        "near_symptom": None,
        "persona": None,
        "parts": [],
        "transforms": [],
        "judge_scores": {},
        "judge_method": "none",
        "drop_reason": None,
    }
    row.update(fields)
    missing = [c for c in POST_COLUMNS if c not in row]
    if missing:
        raise ValueError(f"post is missing {missing}")
    return cast(Post, row)
