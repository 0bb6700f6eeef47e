"""Contrastive rewrites made by rule, with no model: so the embedded default, and users without an LLM
budget, get the two kinds that measured best on real text (someone else's words about themselves, and
quoted speech). And the word-level similarity every rewrite's minimal-edit check uses.

- `person_swap`: "I haven't slept all week." -> "My sister says she hasn't slept all week." First-person
  pronouns become the third person of a relation drawn per row, with the verb right after the subject
  agreed ("I feel" -> "she feels", "I don't" -> "she doesn't", "I got" -> "she got") by lemminflect's
  lexicon (`synsym.recipe.contrast.english`), and a bare verb joined to it ("and cry") agreed where it
  is surely a verb.
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

from synsym.recipe.contrast import english

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
# after one of these joints a bare verb shares the clause's subject: "I lie awake and cry"
_JOINTS = frozenset({"and", "or", "but", "then", "yet"})
# words after a verb that only a verb takes there: "and want to sleep", "and hate my life"
_VERB_CUES = frozenset(
    {"to", "like", "my", "me", "myself", "the", "a", "an", "up", "out", "about", "no", "nothing", "it",
     "that", "so", "all", "at", "in", "on", "for", "of", "through", "everything", "everyone", "how", "what",
     "around", "awake", "over", "off", "away", "back", "down"}
)  # fmt: skip
_SENTENCE_END = re.compile(r"[.!?;:\n]")
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


def _case(word: str, like: str) -> str:
    return word.capitalize() if (like[:1].isupper() and like[1:2].islower()) or like == "I" else word


def swap_person(text: str, pronoun: str) -> str:
    """The post with its writer's first person made the third person `pronoun` (she or he): pronouns
    swapped, the verb after the subject agreed through `english` (a lexicon, not a suffix rule), also
    where the subject comes after its verb ("am I" -> "is she") and for a bare verb joined to an agreed
    one ("I lie awake and cry" -> "she lies awake and cries")."""
    tokens = _WORD.findall(text)
    out: list[str] = []
    agree = False  # the next verb follows the new subject
    present = False  # the clause's verb was agreed in the present: a joined bare verb agrees too
    for n, token in enumerate(tokens):
        low = token.lower().replace("’", "'")
        if not token[0].isalpha():
            out.append(token)
            if _SENTENCE_END.search(token):
                agree = present = False
            continue
        if low in _CONTRACTIONS:
            out.append(_case(_CONTRACTIONS[low].format(p=pronoun), token))
            agree, present = False, low not in ("i'd", "i'll")
        elif low in _FORMS[pronoun]:
            inverted = low == "i" and _invert(out)
            out.append(_case(_FORMS[pronoun][low], token) if low != "i" else pronoun)
            agree, present = low == "i" and not inverted, present and low != "i"
        elif agree:
            agree, present = _agree_next(token, out, present)
        elif present and _joined_verb(tokens, n, out):
            pass
        else:
            out.append(token)
            if english.is_modal(low) or (low == "to" and _infinitive(tokens, n)):
                present = False
    joined = "".join(out)
    return joined if text == text.lower() else _sentence_case(joined)


def _agree_next(token: str, out: list[str], present: bool) -> tuple[bool, bool]:
    """Append the word after the new subject, agreed; (agree, present) for the words after it."""
    if english.is_skipped(token):
        out.append(token)
        return True, present  # "I just feel": the verb is one further
    prev = [t for t in out if t[:1].isalpha()][-1:]
    agreed = english.third_person(token, habitual=bool(prev) and english.is_habitual(prev[0]))
    out.append(token if agreed is None else agreed)
    changed = agreed is not None and agreed != token
    keeps_present = token.lower() in ("am", "have", "do", "don't", "dont", "are")
    return False, (changed or keeps_present) and not english.is_modal(token)


def _joined_verb(tokens: list[str], n: int, out: list[str]) -> bool:
    """After "and" (or "but", "then", a comma; adverbs between) in a clause agreed in the present, a bare
    verb agrees too, when it is surely a verb: no noun reading, or after "and" a verb's cue ("and want
    to", "and hate my")."""
    k = n - 1
    while k >= 0 and (tokens[k].isspace() or english.is_adverb(tokens[k])):  # "and often feel"
        k -= 1
    comma = k >= 0 and tokens[k].strip() == ","  # "I can't sleep, feel sick, and have no energy"
    if k < 0 or not (comma or tokens[k].lower() in _JOINTS):
        return False
    agreed = english.third_person(tokens[n])
    if agreed is None or agreed == tokens[n]:
        return False
    after = [t.lower() for t in tokens[n + 1 : n + 4] if t[0].isalpha()]
    cue = bool(after) and after[0] in _VERB_CUES and not comma
    if english.noun_too(tokens[n]) and not cue:
        return False
    out.append(agreed)
    return True


def _infinitive(tokens: list[str], n: int) -> bool:
    """Whether the `to` at `n` starts an infinitive a joined verb may belong to ("want to sleep and
    forget"), rather than a place ("go to bed at 3 and wake up"): a verb follows that is no noun, or one
    that "and" or "or" follows at once."""
    after = [t for t in tokens[n + 1 : n + 6] if not t.isspace()]
    if not after or not after[0][0].isalpha() or english.third_person(after[0]) is None:
        return False
    return not english.noun_too(after[0]) or (len(after) > 1 and after[1].lower() in ("and", "or"))


def _invert(out: list[str]) -> bool:
    """The auxiliary before the subject ("am I", "do I") agrees with it; True when one did."""
    k = len(out) - 1
    while k >= 0 and out[k].isspace():
        k -= 1
    if k >= 0 and out[k][:1].isalpha() and out[k].lower() in ("am", "do", "have", "are", "don't", "haven't"):
        out[k] = english.third_person(out[k]) or out[k]
        return True
    return False


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
