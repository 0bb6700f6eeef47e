"""Pure helpers of the batch backends: idempotency tokens, token estimates, splitting lines within a
provider's limits, reading timestamps in either form the APIs use, and keeping keys out of messages."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import orjson

from synsym.backends.base import TransientError

T = TypeVar("T")
_UNREADABLE = (KeyError, ValueError, TypeError, AttributeError)


def redact(raw: bytes, env: str | None) -> bytes:
    key = os.environ.get(env or "")
    return raw.replace(key.encode(), b"***") if key else raw


def redact_text(text: str, env: str | None) -> str:
    key = os.environ.get(env or "")
    return text.replace(key, "***") if key else text


def epoch(value: Any) -> float:
    """Epoch seconds from a number or an ISO 8601 string (Azure's preview API and some compatible
    servers send `created_at` as "2024-07-19T17:13:57.2491382+00:00"); 0 when absent."""
    if value is None or value == "":
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        return float(text)
    except ValueError:
        pass
    head, dot, rest = text.partition(".")
    if dot:  # Python before 3.11 reads at most 6 fractional digits; Azure sends 7
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    when = dt.datetime.fromisoformat(text)
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).timestamp()


def client_token(custom_ids: Iterable[str], round_: int) -> str:
    """The batch's idempotency token: a digest of its lines' custom_ids (cache keys) and its round, so
    a rerun that submits the same lines in the same round computes the same token."""
    digest = hashlib.sha256("\n".join(sorted(custom_ids)).encode())
    digest.update(f"\n#{round_}".encode())
    return "synsym-" + digest.hexdigest()[:32]


def estimate_tokens(line: bytes) -> int:
    """Prompt tokens a line may enqueue, for `max_enqueued_tokens`: ~4 bytes a token of its JSON."""
    return len(line) // 4 + 1


def split(
    items: list[Any],
    size: Callable[[Any], int],
    tokens: Callable[[Any], int],
    max_requests: int,
    max_bytes: int,
    max_tokens: int | None,
) -> list[list[Any]]:
    """Consecutive groups within the per-batch limits (a line too big alone still gets its own group,
    for the provider to refuse with its own message)."""
    groups: list[list[Any]] = []
    current: list[Any] = []
    used_bytes = used_tokens = 0
    reserve = 1024  # the request envelope around the lines
    for item in items:
        b, t = size(item) + 1, tokens(item)
        full = len(current) >= max_requests or used_bytes + b + reserve > max_bytes
        if current and (full or (max_tokens is not None and used_tokens + t > max_tokens)):
            groups.append(current)
            current, used_bytes, used_tokens = [], 0, 0
        current.append(item)
        used_bytes += b
        used_tokens += t
    if current:
        groups.append(current)
    return groups


def readable(parse: Callable[[Any], T], b: Any, call: str) -> T:
    """`parse(b)`, or, for an answer that does not read as a batch, a TransientError: the call may have
    made the batch, so the engine looks for it by its token instead of giving up on it."""
    try:
        return parse(b)
    except _UNREADABLE as exc:
        raw = orjson.dumps(b)[:300].decode("utf-8", "replace")
        raise TransientError(
            "bad_response", f"{call} answered a batch synsym cannot read ({exc}): {raw}"
        ) from None


def listed(parse: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
    """The items of a listing that read as batches (another client's odd ones are left out)."""
    out = []
    for item in items:
        try:
            out.append(parse(item))
        except _UNREADABLE:
            continue
    return out
