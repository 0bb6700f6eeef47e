"""Whether a model's contrastive rewrite made the one change its kind claims, checked in the words.

The embedding judge cannot hear whose state a post describes, when, or whether it is denied, and an LLM
judge is only as good as the model behind it; a weak model's "rewrites" are mostly the post unchanged,
the post with a reason appended, or the kind's few-shot example copied, and each would enter the dataset
as a negative that is really a positive. So every model-written rewrite passes these checks, whatever the
judge, before it is kept (a failure is re-asked with the reason, then dropped with it):

- the rewrite is neither the post unchanged nor a different post (`contrast.min_similarity` to
  `max_similarity` of its source, in characters);
- the post is not kept whole inside the rewrite (a reason or a frame appended around the same words),
  unless a frame is the change: a quote, or someone else's words about a post that names no one;
- the rewrite is not one of the kind's few-shot examples;
- the dimension the kind changes is audibly changed: `whose` moves the state off the first person onto
  someone else; `time` adds a time frame that puts it in the past; `hypothetical` and `feared` add a
  condition or a fear; `denied` changes the post's negation or states the contrary; `reported` adds a
  speaker; `figurative` changes several words; `partial` removes words.

These are floors, not proof: they catch the failures above (benchmarks/contrast_checks.py plants them),
and a rewrite that passes may still be wrong in ways only a reader or a capable judge can tell.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from synsym.recipe.contrast.rewrites import similarity

__all__ = ["EXAMPLE_SIMILARITY", "rewrite_problem", "words"]

EXAMPLE_SIMILARITY = 0.8  # this close to a few-shot example's rewrite (of another post) is a copy of it
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_FIRST_SUBJECT = frozenset({"i", "i'm", "im", "i've", "ive", "i'd", "i'll"})
# "I think my sister ...", "I'm worried about my son": the writer as an observer, not the one in the state
_OBSERVING = frozenset(
    {"think", "thought", "noticed", "notice", "worry", "worried", "know", "knew", "guess", "see", "saw",
     "hear", "heard", "wonder", "suspect", "scared", "afraid", "concerned"}
)  # fmt: skip
_RELATIONS = frozenset(
    {"sister", "brother", "mom", "mother", "mum", "dad", "father", "friend", "roommate", "flatmate",
     "coworker", "colleague", "partner", "wife", "husband", "girlfriend", "boyfriend", "son", "daughter",
     "kid", "kids", "child", "grandma", "grandpa", "grandmother", "grandfather", "aunt", "uncle", "cousin",
     "boss", "classmate", "neighbor", "neighbour", "parents", "family", "best", "niece", "nephew", "teacher"}
)  # fmt: skip
_THIRD = frozenset(
    {"he", "she", "they", "him", "her", "them", "his", "hers", "their", "he's", "she's", "they're", "he'd",
     "she'd", "he'll", "she'll", "himself", "herself", "themselves", "it", "it's"}
)  # fmt: skip
_NEGATORS = frozenset(
    {"not", "no", "never", "nothing", "none", "nobody", "nowhere", "neither", "nor", "without", "cannot"}
)
_MARKERS = {
    "time": re.compile(
        r"\b(used to|years? ago|months ago|ago\b|back (?:in|when|then)|when i was|as a (?:kid|teen|teenager|"
        r"child|student)|in (?:college|high school|school|grad school|my (?:teens|twenties|thirties))|"
        r"in (?:19|20)\d\d|last (?:year|summer|winter|spring|fall|decade)|at the time|those days|"
        r"that (?:year|time|winter|summer|period)|long gone|behind me|anymore|no longer|recovered|"
        r"got better|these days|nowadays|was|were|had|did|felt|couldn't|wasn't|weren't)\b"
    ),
    "hypothetical": re.compile(r"\b(if|would|wouldn't|i'd|you'd|could|imagine|suppose|supposing|unless)\b"),
    "feared": re.compile(
        r"\b(afraid|scared|worried|worry|worries|fear|fears|feared|terrified|nervous|dread|dreading|"
        r"anxious|panicking)\b"
    ),
    "reported": re.compile(r"\b(says|said|told|tells|telling|texted|wrote|posted|asked|quote|quoted)\b"),
}
_CONTRARY = re.compile(
    r"\b(fine|okay|ok|good|great|well|normal|glad|happy|solid|plenty|enough|no (?:trouble|problems?|issues?)|"
    r"at all|just fine)\b"
)


def words(text: str) -> list[str]:
    """Lowercase word tokens, with curly apostrophes made straight ("I’m" and "I'm" are one word)."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def _contains(whole: Sequence[str], part: Sequence[str]) -> bool:
    n = len(part)
    return n > 0 and any(list(whole[i : i + n]) == list(part) for i in range(len(whole) - n + 1))


def _relation(tokens: Sequence[str], i: int) -> bool:
    """Whether `my` at `i` names someone else ("my sister", "my best friend's")."""
    after = tokens[i + 1] if i + 1 < len(tokens) else ""
    return tokens[i] == "my" and after.removesuffix("'s") in _RELATIONS


def _someone_else(tokens: Sequence[str]) -> bool:
    return any(t in _THIRD or _relation(tokens, i) for i, t in enumerate(tokens))


def _first_person(tokens: Sequence[str]) -> int:
    """Words that put a state on the writer: first-person subjects whose verb is not one of observing
    ("I think my sister ..."), and me, my (not "my sister"), myself, mine."""
    count = 0
    for i, token in enumerate(tokens):
        if token in _FIRST_SUBJECT:
            after = tokens[i + 1] if i + 1 < len(tokens) else ""
            observed = _someone_else(tokens[i + 2 : i + 7])
            count += not (token in ("i", "im", "i'm") and after in _OBSERVING and observed)
        elif token in ("me", "myself", "mine") or (token == "my" and not _relation(tokens, i)):
            count += 1
    return count


def _new(pattern: re.Pattern[str], source: str, rewrite: str) -> bool:
    """Whether the rewrite has a match of `pattern` that the source has not."""
    before = Counter(m.group(0) for m in pattern.finditer(source))
    after = Counter(m.group(0) for m in pattern.finditer(rewrite))
    return bool(after - before)


def _dimension_problem(dimension: str, source: str, rewrite: str) -> str | None:
    src, new = words(source), words(rewrite)
    if dimension == "whose":
        if _first_person(new) >= max(_first_person(src), 1) or not _someone_else(new):
            return "it is still the writer's own state: move it onto someone else (he, she, my friend ...)"
    elif dimension in _MARKERS:
        if not _new(_MARKERS[dimension], " ".join(src), " ".join(new)):
            wanted = {
                "time": "put it in the past",
                "hypothetical": "make it a hypothetical (if, would)",
                "feared": "make it a fear (afraid, worried)",
                "reported": "make it someone's words",
            }
            return f"nothing in it changes the {dimension}: {wanted[dimension]}"
    elif dimension == "denied":
        negation = Counter(t for t in src if t in _NEGATORS or t.endswith("n't"))
        changed = negation != Counter(t for t in new if t in _NEGATORS or t.endswith("n't"))
        if not changed and not _new(_CONTRARY, " ".join(src), " ".join(new)):
            return "it does not deny the state: say plainly that the writer does not have it"
    elif dimension == "figurative":
        diff = (Counter(src) - Counter(new)) + (Counter(new) - Counter(src))
        if sum(diff.values()) < 3:
            return "it barely changes the words: use them in an everyday, non-clinical sense"
    elif dimension == "partial" and len(new) >= len(src):
        return "nothing was removed: leave out what says the symptom"
    return None


def rewrite_problem(
    dimension: str,
    source: str,
    rewrite: str,
    examples: Sequence[tuple[str, str]] = (),
    bounds: tuple[float, float] = (0.3, 0.97),
) -> tuple[str, str] | None:
    """None when the rewrite makes its kind's change, else (drop class, what to fix): `not_minimal` for
    the post unchanged or a different post (character similarity outside `bounds`), `example_copy` for a
    few-shot example (post, rewrite) of another post, `kind_not_met` for a change its kind does not make."""
    low, high = bounds
    ratio = similarity(source, rewrite)
    if ratio > high:
        return "not_minimal", f"the rewrite is the post unchanged (similarity {ratio:.2f})"
    for post, example in examples:
        if similarity(source, post) < EXAMPLE_SIMILARITY <= similarity(rewrite, example):
            return "example_copy", "the rewrite copies the instruction's example; rewrite the given post"
    if ratio < low:
        return "not_minimal", (
            f"the rewrite is a different post (similarity {ratio:.2f} to the original); keep its words and "
            "change only what the instruction says"
        )
    src, new = words(source), words(rewrite)
    # a frame is the whole change of a quote, and of someone else's words when the post names no one
    framed = dimension == "reported" or (dimension == "whose" and _first_person(src) == 0)
    if not framed and len(new) > len(src) and _contains(new, src):
        return "kind_not_met", "the post is kept whole and only added to; change the post itself"
    problem = _dimension_problem(dimension, source, rewrite)
    return None if problem is None else ("kind_not_met", problem)
