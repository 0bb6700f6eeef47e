"""Fingerprints of the shipped configs, pinned on 2026-12-06 before stages took their own config: a
refactor that moves a fingerprint makes every existing run directory ask for --restart. Change a value
here only with a STAGE_FORMAT bump and a line in the changelog."""

from __future__ import annotations

import pytest

from synsym.pipeline.config import load_run_config
from synsym.pipeline.graph import fingerprints
from synsym.recipe.given import given_stages
from synsym.recipe.stages import STAGES

SETS = [
    "judge.backend.name=fake",
    "judge.method=both",
    "contrast.n=5",
    "negatives.n=3",
    "realism.long_posts.n=2",
]

PINNED = {
    "demo": {
        "expand": "e5df32b353f94a9e",
        "generate": "6d2b268e8cf8fed3",
        "compose": "07a485a9b0d66d62",
        "negatives": "d66f703486158694",
        "contexts": "55e377b2f67a1fd7",
        "dedup": "f57a084e9fb70d94",
        "judge": "a0c51a58973a275a",
        "contrast": "e8e9607bfd201d31",
        "realism": "c0e4c75d69806fea",
        "export": "b540ec4ff8649bf0",
    },
    "depression-14": {
        "expand": "5fb9bd0de7025b8a",
        "generate": "efae37d2369fb709",
        "compose": "cebc6541332bce6f",
        "negatives": "60f910fddcd87adf",
        "contexts": "a165b1601ce846c8",
        "dedup": "2b809af2eee081ba",
        "judge": "22e1b4843731e8ef",
        "contrast": "24b85550e9614f00",
        "realism": "4da37eafb49db40d",
        "export": "85282786312ca828",
    },
    "realistic": {
        "expand": "5fb9bd0de7025b8a",
        "generate": "654cfe5c594dddd3",
        "compose": "4654aea378b4a91f",
        "negatives": "4b4c714cb53fca0d",
        "contexts": "d8de78339cea2983",
        "dedup": "2f9d13975f6e2c40",
        "judge": "353dd98e555efdf0",
        "contrast": "8dbece1ec2b3e94f",
        "realism": "aff62d8dd5bd0dfe",
        "export": "836ed1a9a051c225",
    },
    "demo+sets": {
        "expand": "850cade5678de4c8",
        "generate": "41d53003699087bf",
        "compose": "07a485a9b0d66d62",
        "negatives": "7d93e79eef9a7602",
        "contexts": "6c9852b14ffe0e44",
        "dedup": "50509c288e6078fc",
        "judge": "b345e2ed46848790",
        "contrast": "ea39b2a16d49e82e",
        "realism": "3ca04b91b017b5a3",
        "export": "06dbe4d47f9278b5",
    },
    "augment": {
        "expand": "e5df32b353f94a9e",
        "input": "a2add955416b6018",
        "negatives": "d66f703486158694",
        "contexts": "55e377b2f67a1fd7",
        "dedup": "9abb7344cb020f83",
        "judge": "41a2008c2f061277",
        "contrast": "50a7b309dde80e1d",
        "realism": "34d64f89be2515b1",
        "export": "950824dc1dc04430",
    },
}


@pytest.mark.parametrize("name", ["demo", "depression-14", "realistic"])
def test_shipped_configs_keep_their_fingerprints(name: str) -> None:
    assert fingerprints(STAGES, load_run_config(name), {"subconcepts_file": None}) == PINNED[name]


def test_a_judge_backend_and_a_subconcepts_file_keep_their_fingerprints() -> None:
    config = load_run_config("demo", SETS)
    assert fingerprints(STAGES, config, {"subconcepts_file": "abc"}) == PINNED["demo+sets"]


def test_a_given_dataset_run_keeps_its_fingerprints() -> None:
    prints = fingerprints(
        given_stages([]), load_run_config("demo"), {"subconcepts_file": None, "input": "d1"}
    )
    assert prints == PINNED["augment"]
