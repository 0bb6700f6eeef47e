"""English verb agreement for rule-made rewrites, from lemminflect's lexicon (its tables ship inside the
package: nothing is downloaded at run time).

Why: `person_swap` turns "I" into "she", so the verb after it must agree. A hand-made rule took every word
ending in -ed for a past tense and put an -s on everything else: "he just gots", "she cannots focus", "he
need", 15% of rewrites ungrammatical. Here a word is looked up: a past form stays as it is, a present
(base) form takes its real third-person form (`get` -> `gets`, `go` -> `goes`, `have` -> `has`), a word
that is no verb is left alone. Where a form is both present and past (`put`, `read`) it stays: both
readings are English.
"""

from __future__ import annotations

from functools import lru_cache

import lemminflect

# the verb after one of these is a bare infinitive, never agreed: modals, and do-support already agreed
MODALS = frozenset(
    {"can", "can't", "cant", "cannot", "could", "couldn't", "couldnt", "will", "won't", "wont", "would",
     "wouldn't", "wouldnt", "should", "shouldn't", "shouldnt", "might", "must", "may", "shall", "did",
     "didn't", "didnt", "does", "doesn't", "doesnt", "had", "hadn't", "used", "gotta", "gonna", "wanna"}
)  # fmt: skip
# present forms whose third person is not an -s on the word (and the negations lemminflect does not hold)
IRREGULAR = {
    "am": "is", "are": "is", "aren't": "isn't", "arent": "isnt", "'m": "'s", "have": "has",
    "haven't": "hasn't", "havent": "hasnt", "do": "does", "don't": "doesn't", "dont": "doesnt",
    "was": "was", "wasn't": "wasn't", "were": "was", "weren't": "wasn't", "ain't": "ain't",
}  # fmt: skip
_SKIP = frozenset(
    {"just", "really", "always", "never", "still", "even", "also", "honestly", "literally", "barely", "only",
     "sometimes", "often", "usually", "totally", "actually", "genuinely", "probably", "kinda", "sorta",
     "no", "not", "longer", "constantly", "basically", "seriously", "rarely", "hardly", "somehow", "finally",
     "already", "all", "suddenly", "mostly", "truly", "simply", "now", "then", "lately", "pretty", "def"}
)  # fmt: skip

_HABITUAL = frozenset(
    {"often", "always", "usually", "sometimes", "frequently", "constantly", "habitually", "regularly",
     "consistently", "rarely", "typically", "generally", "occasionally", "repeatedly", "continually"}
)  # fmt: skip


@lru_cache(maxsize=8192)
def _forms(word: str) -> tuple[frozenset[str], frozenset[str], str | None]:
    """(past forms, present forms, third person) of `word` read as a verb; ({}, {}, None) for no verb."""
    lemmas = lemminflect.getAllLemmas(word)
    verbs = set(lemmas.get("VERB", ())) | set(lemmas.get("AUX", ()))
    past: set[str] = set()
    present: set[str] = set()
    third = None
    for lemma in sorted(verbs):
        table = lemminflect.getAllInflections(lemma, upos="VERB")
        past |= set(table.get("VBD", ())) | set(table.get("VBN", ()))
        now = set(table.get("VB", ())) | set(table.get("VBP", ()))
        present |= now
        if word in now and table.get("VBZ"):
            third = third or table["VBZ"][0]
    return frozenset(past), frozenset(present), third


def is_skipped(word: str) -> bool:
    """An adverb (or `no`, `not`) between a subject and its verb: "I really feel", "I no longer care"."""
    low = word.lower()
    if low in _SKIP:
        return True
    lemmas = lemminflect.getAllLemmas(low)
    return "ADV" in lemmas and "VERB" not in lemmas and "AUX" not in lemmas


def is_adverb(word: str) -> bool:
    """An adverb proper ("and often feel"): `is_skipped` less "no", "not" and "all", which start a noun
    phrase after "and" ("and no matter what")."""
    return word.lower() not in ("no", "not", "all", "now", "pretty") and is_skipped(word)


def is_habitual(word: str) -> bool:
    """After "often", "always", "habitually" the verb is a present habit, not a past event."""
    return word.lower() in _HABITUAL


def is_modal(word: str) -> bool:
    return word.lower().replace("’", "'") in MODALS


def third_person(word: str, habitual: bool = False) -> str | None:
    """The third-person singular present of `word` when it is a present (base) verb form, in its case;
    the word itself when it is a past form or agrees already; None when it is no verb at all. A form
    that is both (`put`) reads as past, unless `habitual` (after "often", "always")."""
    low = word.lower().replace("’", "'")
    if low in IRREGULAR:
        return _case(IRREGULAR[low], word)
    if low in MODALS:
        return word
    past, present, third = _forms(low)
    if not present and not past:
        return None
    if third is None or (low in past and not habitual):  # past (`got`; `put` unless habitual)
        return word
    return _case(third, word)


def noun_too(word: str) -> bool:
    """Whether the word is also a noun or adjective (`water`, `cry`): after "and" it may be no verb."""
    lemmas = lemminflect.getAllLemmas(word.lower())
    return "NOUN" in lemmas or "ADJ" in lemmas or "PROPN" in lemmas


def _case(word: str, like: str) -> str:
    return word.capitalize() if like[:1].isupper() and like[1:2].islower() else word
