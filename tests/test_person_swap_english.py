"""`person_swap` writes correct English (issue 18, finding 5): the verb after the new subject is agreed
through lemminflect's lexicon, not a suffix rule ("he just gots", "she cannots", "he need" before).

Two checks. Sentences written for this test, with the rewrite a person expects. And 200 sentences drawn
(seeded) from the paper's posts, read from ../shared at test time: their rewrites were read by a person,
who marked 2 of 200 ungrammatical (31 of 200 before the change); `data/person_swap_reviewed.txt` holds a
short hash of each rewrite read as correct English, so no post is copied into this repository. A rewrite
whose hash is not there is new text nobody has read, or one marked bad: fewer than 2% may be either.
"""

from __future__ import annotations

import csv
import hashlib
import random
import re
from pathlib import Path

import pytest

from synsym.recipe.contrast.rewrites import swap_person

PAPER = Path(__file__).resolve().parents[2] / "shared/data/synsym-kdd2026/synth_all_dsm5.csv"
REVIEWED = Path(__file__).parent / "data" / "person_swap_reviewed.txt"

HAND_WRITTEN = [
    ("I just got home and I feel nothing.", "he", "He just got home and he feels nothing."),
    ("I found myself crying again.", "she", "She found herself crying again."),
    ("I cannot focus on anything.", "she", "She cannot focus on anything."),
    ("I need help.", "he", "He needs help."),
    ("I wake up tired and have no energy.", "she", "She wakes up tired and has no energy."),
    ("Why am I so tired all the time?", "he", "Why is he so tired all the time?"),
    ("Do I even care anymore?", "she", "Does she even care anymore?"),
    ("I'm exhausted and want to sleep forever.", "she", "She's exhausted and wants to sleep forever."),
    ("I want to sleep and forget everything.", "he", "He wants to sleep and forget everything."),
    ("I no longer enjoy music.", "she", "She no longer enjoys music."),
    ("I go to bed at 3 and wake up at 5.", "he", "He goes to bed at 3 and wakes up at 5."),
    ("I constantly lose track of time.", "she", "She constantly loses track of time."),
    ("I often forget why I walked into a room.", "he", "He often forgets why he walked into a room."),
    ("I watch TV and often feel numb.", "she", "She watches TV and often feels numb."),
    ("I try so hard but nothing works.", "he", "He tries so hard but nothing works."),
    ("I've been eating too much and hate myself.", "she", "She's been eating too much and hates herself."),
    ("i dont eat anymore and i cry a lot", "she", "she doesnt eat anymore and she cries a lot"),
    ("I really don’t care anymore.", "he", "He really doesn't care anymore."),
    ("I need food and water.", "he", "He needs food and water."),
    ("I do not want to get up.", "she", "She does not want to get up."),
    ("Sometimes I wonder if I matter.", "he", "Sometimes he wonders if he matters."),
    ("I feel guilt and shame.", "she", "She feels guilt and shame."),
]

# the slips the old suffix rule made, found by reading its rewrites: none may come back
KNOWN_BAD = re.compile(
    r"\b(?:(?:constant|frequent|brief|consistent|habitual|usual|real|actual)lies|gots|founds|cannots"
    r"|felts|losts|onces|firsts|wents|dids|coulds)\b"
    r"|\b(?:she|he) (?:still |just |really )?(?:need|have|feel|want|don't|do|experience|exhibit)\b"
    r"|\b(?:do|am|are) (?:she|he)\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize(("text", "pronoun", "expected"), HAND_WRITTEN)
def test_hand_written_sentences(text: str, pronoun: str, expected: str) -> None:
    assert swap_person(text, pronoun) == expected


def paper_sentences(n: int = 200, seed: int = 18) -> list[str]:
    """First-person sentences of 4-40 words from the paper's posts, a seeded sample."""
    with PAPER.open(newline="", encoding="utf-8") as f:
        posts = [r["post"] for r in csv.DictReader(f)]
    found = {
        s.strip()
        for p in posts
        for s in re.split(r"(?<=[.!?])\s+", p)
        if re.search(r"\bI\b", s) and 4 <= len(s.split()) <= 40
    }
    return random.Random(seed).sample(sorted(found), n)


@pytest.mark.skipif(not PAPER.is_file(), reason=f"the paper's posts are not at {PAPER}")
def test_200_sentences_of_the_papers_posts_read_by_a_person() -> None:
    rewrites = [swap_person(s, "she" if i % 2 else "he") for i, s in enumerate(paper_sentences())]
    assert [r for r in rewrites if KNOWN_BAD.search(r)] == []
    reviewed = set(REVIEWED.read_text().split())
    unread_or_bad = [r for r in rewrites if hashlib.sha256(r.encode()).hexdigest()[:12] not in reviewed]
    assert len(unread_or_bad) / len(rewrites) < 0.02, unread_or_bad
