"""Deterministic, plausible fake answers for the fake backend and the local test server.

Both must answer every request the pipeline makes with content a person would not mistake for
placeholder text ("string", 0), so that downstream stages (dedup, judging, export, reports) see
varied, on-topic data. The prose lives in synsym.backends.fake_text and the JSON in
synsym.backends.fake_schema; this module keeps the names they had here.
"""

from __future__ import annotations

from synsym.backends.fake_schema import instance_for_schema
from synsym.backends.fake_text import (
    extract_phrases,
    fake_edit,
    fake_phrase,
    fake_reason,
    fake_sentence,
)

__all__ = [
    "extract_phrases",
    "fake_edit",
    "fake_phrase",
    "fake_reason",
    "fake_sentence",
    "instance_for_schema",
]
