"""Prompt templates: package data files of `[system]`, `[user]` and `[assistant]` turns with `$name`
fields (assistant turns hold few-shot examples).

A template's hash (of its file text) is part of every cache key made with it, so editing a prompt
makes new requests instead of silently reusing answers to the old one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

_SECTION = re.compile(r"^\[(system|user|assistant)\]\s*$", re.MULTILINE)


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    turns: tuple[tuple[str, str], ...]  # (role, text with $fields)
    hash: str  # `name@sha256[:12]` of the file text

    def render(self, **fields: object) -> tuple[tuple[str, str], ...]:
        """Fill `$name` fields; a missing field is a bug in the stage, so it raises."""
        values = {k: str(v) for k, v in fields.items()}
        return tuple((role, Template(text).substitute(values).strip()) for role, text in self.turns)


@cache
def load_template(name: str) -> PromptTemplate:
    text = resources.files("synsym").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    turns = tuple(zip(parts[1::2], parts[2::2], strict=True))
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return PromptTemplate(name, turns, f"{name}@{digest}")


def bullet_list(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)
