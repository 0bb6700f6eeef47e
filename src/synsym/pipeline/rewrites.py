"""Contrastive rewrites made by rule, with no model: so the embedded default, and users without an LLM
budget, get the two kinds that measured best on real text (someone else's words about themselves, and
quoted speech). And the word-level similarity every rewrite's minimal-edit check uses.

- `person_swap`: "I haven't slept all week." -> "My sister says she hasn't slept all week." First-person
  pronouns become the third person of a relation drawn per row, with the verb right after the subject
  agreed ("I feel" -> "she feels", "I don't" -> "she doesn't"); crude ("... and come home" stays as it is),
  which is still what measured best.
- `reported_speech`: the post quoted as someone else's words: 'My friend keeps telling me: "..."'.

Both are seeded by the source row's id, so a rerun writes the same rewrite, and both are minimal by
construction (a frame around the words, or pronouns changed), so the similarity check that catches a
model's unchanged copies and unrelated sentences is not applied to them: it would reject a short post in
a frame that changes none of its words.
"""

from __future__ import annotations

import difflib
import random
import re
from collections.abc import Callable

_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?|[^A-Za-z]+")
RELATIONS = (
    ("sister", "she"), ("brother", "he"), ("roommate", "she"), ("coworker", "he"),
    ("best friend", "she"), ("dad", "he"), ("mom", "she"), ("cousin", "he"),
)  # fmt: skip
_FORMS = {
    "she": {"i": "she", "me": "her", "my": "her", "mine": "hers", "myself": "herself"},
    "he": {"i": "he", "me": "him", "my": "his", "mine": "his", "myself": "himself"},
}
_CONTRACTIONS = {
    "i'm": "{p}'s",
    "im": "{p}'s",
    "i've": "{p}'s",
    "ive": "{p}'s",
    "i'd": "{p}'d",
    "i'll": "{p}'ll",
}
_AGREE = {
    "am": "is", "have": "has", "do": "does", "don't": "doesn't", "dont": "doesnt", "haven't": "hasn't",
    "havent": "hasnt", "was": "was", "wasn't": "wasn't", "are": "is", "aren't": "isn't",
}  # fmt: skip
_ADVERBS = frozenset(
    {"just", "really", "always", "never", "still", "even", "also", "honestly", "literally", "barely", "only",
     "sometimes", "often", "usually", "totally", "actually", "genuinely", "probably"}
)  # fmt: skip
# words after the subject that take no third-person -s: modals, past forms, and adverbs (the verb follows)
_NO_S = _ADVERBS | {
    "can", "can't", "cant", "could", "couldn't", "will", "won't", "would", "wouldn't", "should", "shouldn't",
    "might", "must", "may", "did", "didn't", "had", "kind", "sort",
}  # fmt: skip
FRAMES = (
    'My {relation} keeps telling me: "{text}"',
    'My {relation} texted me this last night: "{text}"',
    'Something my {relation} said at dinner: "{text}"',
    'A line from the novel I\'m reading: "{text}"',
    'Overheard on the bus today: "{text}"',
)


def similarity(a: str, b: str) -> float:
    """How much of two posts is the same text, 0..1 (difflib's ratio over lowercase characters). A minimal
    rewrite of a post scores about 0.65-0.95, an unrelated post about 0.35-0.45, an unchanged copy 1.
    Characters rather than words, so that "feel" -> "feels" is a small change, as it is."""
    return difflib.SequenceMatcher(None, a.lower(), b.lower(), autojunk=False).ratio()


def _third_person(verb: str) -> str:
    low = verb.lower()
    if low in _AGREE:
        return _case(_AGREE[low], verb)
    if low in _NO_S or low.endswith("ed") or not low.isalpha():
        return verb
    if re.search(r"(s|sh|ch|x|z|o)$", low):
        return verb + "es"
    if re.search(r"[^aeiou]y$", low):
        return verb[:-1] + "ies"
    return verb + "s"


def _case(word: str, like: str) -> str:
    return word.capitalize() if (like[:1].isupper() and like[1:2].islower()) or like == "I" else word


def swap_person(text: str, pronoun: str) -> str:
    """The post with its writer's first person made the third person `pronoun` (she or he)."""
    tokens = _WORD.findall(text)
    out: list[str] = []
    agree = False  # the next verb follows the new subject
    for token in tokens:
        low = token.lower().replace("’", "'")
        if not token[0].isalpha():
            out.append(token)
            continue
        if low in _CONTRACTIONS:
            out.append(_case(_CONTRACTIONS[low].format(p=pronoun), token))
            agree = False
        elif low in _FORMS[pronoun]:
            out.append(_case(_FORMS[pronoun][low], token) if low != "i" else pronoun)
            agree = low == "i"
        elif agree:
            out.append(_third_person(token))
            agree = low in _ADVERBS  # "I just feel": the verb is one further
        else:
            out.append(token)
    joined = "".join(out)
    return joined if text == text.lower() else _sentence_case(joined)


def _sentence_case(text: str) -> str:
    """`she`/`he` capitalised where a sentence starts (the `I` they replace always was)."""
    return re.sub(r"(^|[.!?]\s+)(she|he)\b", lambda m: m.group(1) + m.group(2).capitalize(), text)


def person_swap(text: str, rng: random.Random) -> str:
    relation, pronoun = rng.choice(RELATIONS)
    swapped = swap_person(text, pronoun)
    out = f"my {relation} says {swapped[:1].lower()}{swapped[1:]}"
    return out if text == text.lower() else out[:1].upper() + out[1:]


def reported_speech(text: str, rng: random.Random) -> str:
    relation, _ = rng.choice(RELATIONS)
    out = rng.choice(FRAMES).format(relation=relation, text=text.strip().strip('"'))
    return out.lower() if text == text.lower() else out


RULES: dict[str, Callable[[str, random.Random], str]] = {
    "person_swap": person_swap,
    "reported_speech": reported_speech,
}
