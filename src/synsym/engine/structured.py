"""Structured answers: parse the model's text as JSON, validate it against the requested pydantic
model, and build the re-ask that shows the model its own answer and the validation error (instructor's
loop, bounded by the caller)."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class InvalidAnswer(ValueError):
    """The answer is not what was asked for; the message is what the model is told on a re-ask, and
    `failure` the class the task fails with when the re-asks run out (a check may name its own)."""

    def __init__(self, message: str, failure: str = "invalid_output") -> None:
        super().__init__(message)
        self.failure = failure


def extract_json(text: str) -> Any:
    """Parse JSON, tolerating a Markdown fence or prose around one object (small models add both)."""
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise InvalidAnswer("the answer is not valid JSON")


def parse_answer(text: str, schema: type[BaseModel]) -> BaseModel:
    data = extract_json(text)
    try:
        return schema.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in err.errors()[:8]
        )
        raise InvalidAnswer(f"the JSON does not match the schema ({problems})") from None


def reask_messages(
    messages: tuple[tuple[str, str], ...], answer: str, error: str
) -> tuple[tuple[str, str], ...]:
    return (
        *messages,
        ("assistant", answer),
        (
            "user",
            f"Your answer was not usable: {error}. Reply again with only one JSON object that matches "
            "the requested schema, and nothing else.",
        ),
    )
