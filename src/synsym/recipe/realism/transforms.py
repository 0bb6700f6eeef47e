"""Surface transforms that make generated posts look like real social-media text.

LLMs write tidy prose: capitalised, punctuated, spelled right and free of chat slang, which real posts are
not, and a classifier trained on tidy text learns the tidiness. These transforms run after generation and
change only the surface, so the labels stay as they were; the row records which transforms were applied
(and changed its text) so the effect can be measured or filtered later.

Each transform is applied with its own probability, in `TRANSFORM_NAMES` order, drawing only from the rng
it is given (the `typo` package is seeded from it), so the same text, rates and rng state give the same
output.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping

import typo

TRANSFORM_NAMES: tuple[str, ...] = ("slang", "typos", "lowercase", "no_punctuation")

SLANG_PROBABILITY = 0.7  # chance each slangable occurrence is replaced, so a post keeps some words as written
WORDS_PER_TYPO = 12  # about one typo per this many words, at least one
MIN_WORDS_FOR_TYPOS = 3  # shorter texts are left alone: a typo would destroy them
TYPO_KINDS: tuple[str, ...] = (
    "char_swap",
    "missing_char",
    "extra_char",
    "nearby_char",
    "skipped_space",
    "repeated_char",
)

# Longer phrases first where they overlap ("i don't know" before "don't know"); an apostrophe matches ' or ’.
SLANG: dict[str, tuple[str, ...]] = {
    "i don't know": ("idk",),
    "to be honest": ("tbh",),
    "in my opinion": ("imo",),
    "oh my god": ("omg",),
    "by the way": ("btw",),
    "don't know": ("dunno",),
    "going to": ("gonna",),
    "want to": ("wanna",),
    "got to": ("gotta",),
    "kind of": ("kinda",),
    "right now": ("rn",),
    "i am": ("i'm",),
    "cannot": ("can't",),
    "you": ("u",),
    "your": ("ur",),
    "you're": ("ur",),
    "are": ("r",),
    "because": ("cuz", "bc"),
    "really": ("rly",),
    "though": ("tho",),
    "people": ("ppl",),
    "please": ("pls",),
    "something": ("smth",),
    "probably": ("prob",),
    "tonight": ("tonite",),
    "okay": ("ok",),
    "with": ("w/",),
    "without": ("w/o",),
    "thanks": ("thx",),
    "before": ("b4",),
    "see you": ("cya",),
}
_SLANG_KEYS = sorted(SLANG, key=len, reverse=True)
_SLANG_RE = re.compile(
    r"(?<![\w'’])(?:"
    + "|".join(re.escape(k).replace("'", "['’]").replace(r"\ ", r"\s+") for k in _SLANG_KEYS)
    + r")(?![\w'’])",
    re.IGNORECASE,
)
_SLANG_LOOKUP = {re.sub(r"\s+", " ", k.replace("’", "'")): v for k, v in SLANG.items()}

# Sentence punctuation and quotes; '.', ',' and ':' stay between digits (3.5, 1,000, 10:30).
_PUNCT_RE = re.compile(r"[!?;\"“”«»]|(?<!\d)[.,:]|[.,:](?!\d)|(?<!\w)['‘’]|['‘’](?!\w)")
_SPACES_RE = re.compile(r"[ \t]{2,}")


def _slang(text: str, rng: random.Random) -> str:
    def swap(match: re.Match[str]) -> str:
        source = match.group(0)
        if rng.random() >= SLANG_PROBABILITY:
            return source
        key = re.sub(r"\s+", " ", source.lower().replace("’", "'"))
        out = rng.choice(_SLANG_LOOKUP[key])
        # Keep a capital at the start of a sentence, but not from "I" ("I don't know" -> "idk").
        if source[0].isupper() and not re.match(r"I(?!\w)", source):
            out = out[0].upper() + out[1:]
        return out.replace("i'm", "I'm")

    return _SLANG_RE.sub(swap, text)


def _typos(text: str, rng: random.Random) -> str:
    words = len(text.split())
    if words < MIN_WORDS_FOR_TYPOS:
        return text
    # typo seeds and draws from the global `random` module: restore it so callers' streams are untouched.
    saved = random.getstate()
    try:
        for _ in range(max(1, round(words / WORDS_PER_TYPO))):
            kind = rng.choice(TYPO_KINDS)
            errer = typo.StrErrer(text, seed=rng.randrange(2**31))
            text = getattr(errer, kind)().result
    finally:
        random.setstate(saved)
    return text


def _lowercase(text: str, rng: random.Random) -> str:
    return text.lower()


def _no_punctuation(text: str, rng: random.Random) -> str:
    return _SPACES_RE.sub(" ", _PUNCT_RE.sub("", text)).strip()


_TRANSFORMS: dict[str, Callable[[str, random.Random], str]] = {
    "slang": _slang,
    "typos": _typos,
    "lowercase": _lowercase,
    "no_punctuation": _no_punctuation,
}


def apply_transforms(text: str, rates: Mapping[str, float], rng: random.Random) -> tuple[str, list[str]]:
    """Apply each transform named in `rates` with that probability (0..1), in `TRANSFORM_NAMES` order.

    Returns the new text and the names of the transforms that were applied and changed the text (slang on
    a text with no slangable word is not recorded). One rng draw decides each named transform.
    """
    unknown = sorted(set(rates) - set(TRANSFORM_NAMES))
    if unknown:
        raise ValueError(f"unknown transform(s) {unknown}; use some of {list(TRANSFORM_NAMES)}")
    applied: list[str] = []
    for name in TRANSFORM_NAMES:
        if name not in rates or rng.random() >= rates[name]:
            continue
        new = _TRANSFORMS[name](text, rng)
        if new != text:
            applied.append(name)
            text = new
    return text, applied
