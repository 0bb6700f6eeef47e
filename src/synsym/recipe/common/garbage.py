"""Text that is no statement at all, caught before the embedding judge scores it.

Why: the embedding judge scores what a post is about, not whether it is a coherent sentence, so a small
model's repetition loop, an answer cut off mid-sentence, a list of symptom words or a line of chat
("Sure! Here are some statements:") scored 4-5 and was kept. Each check here is cheap, needs no model,
and says what it found; `garbage` returns the first that fires. `benchmarks/judge_garbage.py` plants each
kind among the paper's posts and prints the share of garbage and of good posts kept.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter

import lemminflect

_WORD = re.compile(r"[a-z]+(?:['-][a-z]+)*")


def _set(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


# words every English sentence is made of; a "post" with almost none of them is a list of content words
FUNCTION_WORDS = _set(
    "a an the my your his her its our their this that these those some any no every each all i me we us "
    "you he him she they them it myself i'm i've i'd i'll im ive dont can't cant don't won't isn't is am "
    "are was were be been being have has had do does did will would can could should might must may of "
    "to in on at for with from by about into over after before since until than as like so and or but if "
    "because when while though not just even still too very really how what why who where there here "
    "anymore more much"
)
_DETERMINERS = _set("the a an my your his her their our every each")
_SUBJECTS = _set("i he she we they")
_JOINERS = _set("and or but is am are was were")
_PREPOSITIONS = _set("of to in on at for with from by about into")
_META = re.compile(
    r"^\s*(?:(?:sure|certainly|of course)\W+(?:here|below|i can|i'll)|here (?:is|are) (?:some|a|an|\d|the)"
    r"|statement\s*\d*:|(?:post|output|answer)\s*:)|[{}<>\[\]]|\b(?:json|symptom_\w+|as an ai|language "
    r"model)\b"
    r"|\b(?:sorry to hear|thank(?:s| you) for sharing|i hope this helps|you(?:'re| are) not alone)\b",
    re.IGNORECASE,
)
# advice or a reply to someone, not a statement of the writer's own state: a small model's favourite
# slide ("it's normal, you just have to..."); none of the paper's 18,254 posts says any of these
_ADVICE = re.compile(
    r"\b(?:you (?:just |really )?(?:have to|should|must)|i can tell you|your situation|"
    r"you(?:'d| would) be right|you're right|it(?:'s| is) (?:normal|okay|ok) to|it(?:'s| is) normal\b|"
    r"you can try)",
    re.IGNORECASE,
)
_ENDS = re.compile(r"""[.!?…)"'”’*~:;]\s*$|[\U0001F300-\U0001FAFF\u2600-\u27BF]\s*$""")
# words no utterance ends on, casual ones included ("that's where my energy is at", "what I'm afraid of")
_DANGLING = _set("a an the my your his her their our and or but because i")
_LOWER_AFTER_END = re.compile(r"[a-z]{2}[.!?]\s+[a-z]+")  # not "a.m. every"
_CAPITAL_AFTER_SEMICOLON = re.compile(r"; [A-Z][a-z]+")
_CAPITAL_INSIDE = re.compile(r"[a-z,] ([A-Z][a-z]+)\b")
_MID_END = re.compile(r"[a-z]{2}[.!?]\s+\S+\s+\S+")
_INNER_PUNCT = re.compile(r"[,.!?;:]\s")
MIN_FUNCTION_SHARE = 0.06  # of a post's words, from 8 up; clinical-style posts go down to 0.08
# a capitalised post this long that never closes was cut off: 1 of the paper's 18,254 posts and 1 of the
# 96 few-shot example posts ("I'm dead tired after leg day lol, can't even walk up the stairs") do not close
MIN_UNCLOSED_WORDS = 5
MAX_RARE_PAIRS = 1
LOOP_RUN = 5  # a run this long said twice is a loop (no post of the paper's does it)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def repetition(ws: list[str]) -> str | None:
    """A loop: one word 4 times in a row, a run of LOOP_RUN words or more said twice, a run of 3-5 words
    said 3 times (2 words: 4 times), or few distinct words in a long text."""
    for i in range(len(ws) - 3):
        if ws[i] == ws[i + 1] == ws[i + 2] == ws[i + 3]:
            return f"repetition: {ws[i]!r} 4 times in a row"
    for n in range(min(12, len(ws) // 2), LOOP_RUN - 1, -1):  # a long run said twice
        seen: dict[tuple[str, ...], int] = {}
        for i in range(len(ws) - n + 1):
            run = tuple(ws[i : i + n])
            if run in seen and i - seen[run] >= n:
                return f"repetition: {' '.join(run)!r} twice"
            seen.setdefault(run, i)
    for n in (5, 4, 3, 2):
        runs = Counter(tuple(ws[i : i + n]) for i in range(len(ws) - n + 1))
        run, times = runs.most_common(1)[0] if runs else ((), 0)
        if times >= (4 if n == 2 else 3) and not (n == 2 and set(run) <= FUNCTION_WORDS):
            return f"repetition: {' '.join(run)!r} {times} times"
    if len(ws) >= 24 and len(set(ws)) < 0.35 * len(ws):
        return f"repetition: {len(set(ws))} distinct words of {len(ws)}"
    return None


def cut_off(text: str, ws: list[str]) -> str | None:
    """An answer that stops mid-sentence: no closing punctuation and a last word no utterance ends on (an
    article, a conjunction), or a long one that starts with a capital and never closes; or an unclosed
    quote or bracket. A post in lowercase may end open: the taxonomy's casual examples do (42 of 96)."""
    if text.count("(") > text.count(")") or text.count('"') % 2:
        return "cut off: an unclosed quote or bracket"
    if not ws or _ENDS.search(text):
        return None
    last = text.split()[-1]
    if last.lower().replace("’", "'") in _DANGLING or text.rstrip().endswith((",", "-", "—")):
        return f"cut off: ends with {last!r}"
    if text.lstrip()[:1].isupper() and len(ws) >= MIN_UNCLOSED_WORDS:
        return f"cut off: {len(ws)} words from a capital and no closing punctuation"
    return None


def _can_follow_i(word: str) -> bool:
    """What may come after "I": a verb, an adverb, or a joint ("I just", "I and my sister")."""
    if word in FUNCTION_WORDS or "'" in word:
        return True
    lemmas = lemminflect.getAllLemmas(word)
    return bool({"VERB", "AUX", "ADV"} & set(lemmas)) or not lemmas


def salad(text: str, ws: list[str]) -> str | None:
    """Words without a sentence: too few function words, word pairs no English sentence has, a last
    word no sentence ends on, or content words said again and again with no punctuation between."""
    if len(ws) >= 8:
        share = sum(w in FUNCTION_WORDS for w in ws) / len(ws)
        if share < MIN_FUNCTION_SHARE:
            return f"word salad: {share:.0%} function words"
    pairs = list(itertools.pairwise(ws))
    never = [  # "the my", "a i", "my and", "i the": one is enough
        f"{a} {b}"
        for a, b in pairs
        if (a in _DETERMINERS and (b in _DETERMINERS - {"every", "each"} or b in _SUBJECTS or b in _JOINERS))
        or (a in _SUBJECTS and (b in _DETERMINERS or b in _SUBJECTS))
    ]
    rare = [  # "in on", "the of", "i food": two are too many
        f"{a} {b}"
        for a, b in pairs
        if (a in _PREPOSITIONS and b in _PREPOSITIONS - {"to", "in", "into"} and a != b)
        or (a in _DETERMINERS and b in _PREPOSITIONS)
        or (a in _SUBJECTS and b in _PREPOSITIONS)
        or (a == "i" and not _can_follow_i(b))
    ]
    if never or len(rare) > MAX_RARE_PAIRS:
        return f"word salad: {', '.join(repr(b) for b in (never + rare)[:3])}"
    if ws[-1] in _DETERMINERS or ws[-1] in ("and", "or", "but"):
        return f"word salad: ends with {ws[-1]!r}"
    again = [w for w, c in Counter(w for w in ws if w not in FUNCTION_WORDS and len(w) > 3).items() if c > 1]
    if len(ws) <= 20 and len(again) >= 2 and not _INNER_PUNCT.search(text.strip()):
        return f"word salad: {', '.join(repr(w) for w in again[:3])} again and again in {len(ws)} words"
    return None


def _starts_sentences(word: str) -> bool:
    """A capitalised word that is no name: a function word, an -ly adverb or an -ing form ("My",
    "Lately", "Waking"), as a shuffled post's first word is; "Netflix" and "Monday" are names."""
    low = word.lower()
    return low in FUNCTION_WORDS or low.endswith(("ly", "ing"))


def disorder(text: str) -> str | None:
    """Case and punctuation out of their place, as in shuffled words: a sentence that ends and goes on in
    lowercase, or a sentence end inside a post that never closes, in a post that starts with a capital;
    a sentence's first word ("My", "Lately") capitalised inside a post that starts in lowercase; a capital
    after a semicolon; a bracket closed before it opens. (A lowercase post may name Reddit, and may end
    without a full stop.)"""
    cased = text.lstrip()[:1].isupper()
    if cased and (m := _LOWER_AFTER_END.search(text)):
        return f"word salad: {m.group(0).strip()!r} mid-text"
    starters = [m.group(1) for m in _CAPITAL_INSIDE.finditer(text) if _starts_sentences(m.group(1))]
    if not cased and starters:
        return f"word salad: {starters[0]!r} capitalised inside a post that starts in lowercase"
    if cased and _MID_END.search(text.rstrip()) and not _ENDS.search(text):
        return "word salad: a sentence ends mid-text, and the text does not"
    if m := _CAPITAL_AFTER_SEMICOLON.search(text):
        return f"word salad: {m.group(0)!r}"
    if text.find(")") < text.find("(") or (")" in text and "(" not in text):
        return "word salad: a bracket closed before it opened"
    return None


def garbage(text: str) -> str | None:
    """None for a text that reads as a statement; else what is wrong with it, for `drop_detail`."""
    if _META.search(text):
        return f"not a post: {_META.search(text).group(0).strip()!r}"  # type: ignore[union-attr]
    if m := _ADVICE.search(text.replace("’", "'")):
        return f"not a post: advice or a reply ({m.group(0)!r}), not the writer's own state"
    ws = words(text)
    if len(ws) < 3:
        return f"too short: {len(ws)} word(s)"
    return repetition(ws) or cut_off(text, ws) or salad(text, ws) or disorder(text)
