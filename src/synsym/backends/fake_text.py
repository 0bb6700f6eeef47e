"""Fake prose for the fake backend and the local test server: word banks, the salient phrases of a
prompt, and the sentences, reasons, names and edits built on them.

Answers must read as on-topic text, never as placeholders ("string"), so that dedup, judging, export and
reports downstream see varied data. Every function is a pure function of its `random.Random`, so one
seed gives one answer.
"""

from __future__ import annotations

import functools
import random
import re

__all__ = [
    "extract_phrases",
    "fake_edit",
    "fake_phrase",
    "fake_reason",
    "fake_sentence",
    "fit_length",
    "is_name_field",
    "text_for_field",
]


def _banks(text: str) -> dict[str, tuple[str, ...]]:
    """Word banks written compactly: `[name]` sections, entries separated by " | " or new lines."""
    return {
        name: tuple(e.strip() for line in body.splitlines() for e in line.split(" | ") if e.strip())
        for name, body in re.findall(r"^\[(\w+)\]$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    }


_BANKS = _banks(
    """
[topics]
trouble sleeping | feeling on edge | losing interest in things I used to love | being tired all the time
not wanting to see anyone | a heavy feeling in my chest | racing thoughts at night | no appetite
[templates]
Lately I can't shake {p}, and it's wearing me down.
Honestly, {p} has taken over my whole week.
I've been dealing with {p} for a while now and I don't know who to tell.
Every morning it's the same thing: {p}.
I keep telling myself it's nothing, but {p} won't go away.
Is it normal to have {p} this often? Because I do.
My friends don't get it, but {p} is real for me right now.
Some days {p} is so bad I just stay in bed.
I noticed {p} again today and it scared me a little.
It's been weeks of {p} and I'm running out of energy to fight it.
Not sure why, but {p} hits me hardest in the evenings.
I used to be fine, and now {p} is just part of my life.
Whenever I'm alone, {p} creeps back in.
I hate admitting it, but {p} is getting worse.
Work is harder than ever because of {p}.
I can't remember the last time I didn't have {p}.
Tried to explain {p} to my mom today and ended up crying.
At this point {p} feels like my default setting.
Anyone else get {p} out of nowhere? It happened again last night.
I'm exhausted from pretending {p} isn't happening.
The worst part of my day is {p}, no question.
I wish I could switch off {p} for just one day.
Even small things set off {p} lately.
I'm so tired of {p} ruining my plans.
My therapist asked about {p} and I didn't know where to start.
Since the move, {p} has been constant.
I thought I'd grown out of {p}, but here we are.
It's 3am and {p} is keeping me company again.
Nobody would guess it from my photos, but {p} is my everyday reality.
I feel like {p} is slowly taking pieces of me.
I experience {p} most days, and it affects how I function.
Over the past two weeks I've had {p} nearly every day.
[follow_ups]
I don't know what to do anymore. | Does anyone else feel like this? | It's been like this for weeks.
I just want to feel normal again. | Not sure how much longer I can keep this up.
I haven't told anyone yet. | Some days are better, but most aren't. | It's honestly exhausting.
I'm trying, I really am. | I keep hoping it will pass.
[reasons]
The text directly describes {p}, so it is clearly expressed.
The writer reports {p} in the first person, which makes the symptom explicit.
There is a clear mention of {p} with an impact on daily life.
The statement refers to {p}, though somewhat indirectly.
Mentions {p} explicitly and describes how often it happens.
The post centres on {p}; no other symptom is as prominent.
[names]
persistent {p} | {p} at night | {p} in social situations | sudden {p} | {p} about the future
{p} during the day | chronic {p} | {p} at work | early-morning {p} | {p} with physical tension
recurrent {p} | {p} after conflict
[descriptions]
A pattern of {p} that persists across most days and interferes with daily routines.
Recurrent episodes of {p}, often reported together with low energy.
The person describes {p} and finds it hard to control.
Noticeable {p} that others may not see but the person experiences strongly.
Ongoing {p}, sometimes triggered by stress, sometimes without a clear cause.
[gerunds]
is being | has having | gets getting | cries crying | worries worrying | feels feeling | loses losing
sleeps sleeping | avoids avoiding | thinks thinking | eats eating | struggles struggling | lacks lacking
experiences experiencing | finds finding | wakes waking | moves moving | withdraws withdrawing
"""
)
_TEMPLATES, _FOLLOW_UPS = _BANKS["templates"], _BANKS["follow_ups"]


_REASON_FIELDS = ("reason", "rationale", "explanation", "justification", "why", "comment", "feedback")
_NAME_FIELDS = ("name", "title", "label", "concept", "subconcept", "sub_concept", "topic", "heading")
_DESC_FIELDS = ("description", "definition", "summary")
_ID_FIELDS = ("id", "key", "slug", "identifier")
_SKIP_KEYS = re.compile(  # `Key:` lines and list headers that say how to write, not what about
    r"^(styles?|format|severity|language|output|return|instructions?|notes?|json|schema|rules?|role|"
    r"answer|scores?|threshold|n|count|number|temperature|examples?|task|system|user|assistant)$"
    r"|\b(other|not|avoid|exclud\w*|every|each|must|rules?|styles?|format|examples?)\b",
    re.I,
)
_KEY_RANKS = (  # which `Key:` lines name the content a statement should be about, best first
    re.compile(r"sub[- _]?concept|aspect|facet", re.I),
    re.compile(r"concept|symptom", re.I),
    re.compile(r"description|topic|theme|statement|text|post", re.I),
)
_PLURAL_KEY = re.compile(r"symptoms|concepts|items", re.I)
_KEY_VALUE = re.compile(r"^[ \t]*([A-Za-z][\w \-/(),']{0,80}?)[ \t]*:[ \t]*(.*?)[ \t]*$")
_BULLET = re.compile(r"^[ \t]*(?:[-*•]|\d{1,2}[.)])[ \t]+(.+?)[ \t]*$")
_QUOTED = re.compile(r"\"([^\"\n]{3,80})\"(?![ \t]*:)|“([^”\n]{3,80})”|(?<!\w)'([^'\n]{3,80})'(?!\w)")


def extract_phrases(prompt: str) -> tuple[str, ...]:
    """The salient phrases of a prompt, best first: values of `Key: value` lines and bullet lists whose
    key or header names a sub-concept, a symptom, a description; then quoted phrases; then the rest."""
    return tuple(", ".join(items) for items, _ in _phrase_table(prompt))


@functools.lru_cache(maxsize=1024)
def _phrase_table(prompt: str) -> tuple[tuple[tuple[str, ...], bool], ...]:
    """(items, whether all of them are meant, as under `Symptoms:`), best first. A bullet item
    `- Name: definition` counts as its name. Cached: prompts repeat a lot."""
    ranked: list[tuple[int, int, tuple[str, ...], bool]] = []

    def add(key: str, items: list[str]) -> None:
        items = [p for p in (_clean(i) for i in items) if p and len(p) <= 160 and not p.isdigit()]
        if items and not _SKIP_KEYS.search(key):
            default = len(_KEY_RANKS) + (key != "quoted")
            rank = next((r for r, rx in enumerate(_KEY_RANKS) if rx.search(key)), default)
            ranked.append((rank, len(ranked), tuple(items), bool(_PLURAL_KEY.search(key))))

    header, group = "", []
    for line in [*prompt.splitlines(), ""]:
        bullet = _BULLET.match(line)
        if bullet:
            named = _KEY_VALUE.match(bullet.group(1))
            group.append(named.group(1) if named and len(named.group(1)) <= 40 else bullet.group(1))
            continue
        if group:
            add(header, group)
            header, group = "", []
        if "{" in line:  # an answer shape: its keys and "..." are not content
            continue
        pair = _KEY_VALUE.match(line)
        if pair and pair.group(2):
            add(pair.group(1), _split_list(pair.group(2)))
        elif line.rstrip().endswith(":"):
            header = line.rstrip()[:-1]
        for groups in _QUOTED.findall(line):
            add("quoted", [next(g for g in groups if g)])
    seen: set[tuple[str, ...]] = set()
    out = []
    for _rank, _, items, plural in sorted(ranked):
        key = tuple(i.lower() for i in items)
        if key not in seen:
            seen.add(key)
            out.append((items, plural))
    return tuple(out)


# "Feels sad" reads badly inside "I can't shake {p}"; "feeling sad" does not.
_GERUNDS = dict(pair.split() for pair in _BANKS["gerunds"])


def _clean(value: str) -> str:
    """Tidy a phrase so it reads inside a sentence: "Feels sad." -> "feeling sad", "Depressed_Mood" ->
    "depressed mood"; keeps "PTSD" and "I"."""
    value = value.strip().strip("\"'“”`").strip().rstrip(".;:!?,").strip()
    if "_" in value and " " not in value:
        value = value.replace("_", " ")
    words = value.split()
    if 1 < len(words) <= 5 and all(w[:1].isupper() and w[1:].islower() for w in words):
        value = value.lower()  # a Title Case name
    elif value[:1].isupper() and not value[1:2].isupper() and not re.match(r"I\b", value):
        value = value[0].lower() + value[1:]
    head, _, rest = value.partition(" ")
    if rest and head in _GERUNDS:
        value = f"{_GERUNDS[head]} {rest}"
    return value


def _topics(rng: random.Random, prompt: str) -> list[str]:
    """A salient phrase of the prompt (one of the best two); under a plural key or header
    (`Symptoms: a, b, c`) all its items; from any other list, one item."""
    table = _phrase_table(prompt) if prompt else ()
    if not table:
        return [rng.choice(_BANKS["topics"])]
    items, plural = rng.choice(table[:2])
    return list(items) if plural else [rng.choice(items)]


def _topic(rng: random.Random, prompt: str) -> str:
    return rng.choice(_topics(rng, prompt))


def _split_list(phrase: str) -> list[str]:
    """Split "a, b and c" or "a; b" into items; a phrase with one comma or an "and" stays whole."""
    parts = [re.sub(r"^(and|or)\s+", "", p) for p in re.split(r"\s*[;,]\s*", phrase) if p.strip()]
    if len(parts) >= 3 or (";" in phrase and len(parts) >= 2):
        last = re.split(r"\s+(?:and|or)\s+", parts[-1])
        return [*parts[:-1], *last] if len(parts) <= 8 else [phrase]
    return [phrase]


def fake_sentence(rng: random.Random, prompt: str = "") -> str:
    """A first-person, 1-2 sentence social-media-style statement about a salient phrase of `prompt`.

    When that phrase is a list meant whole (`Symptoms: a, b, c`, as for a multi-symptom post), it
    writes a post of up to three sentences that together mention every item."""
    items = _topics(rng, prompt)
    if len(items) > 1:
        items = rng.sample(items, len(items))
        groups = [" and ".join(items[i::3]) for i in range(min(3, len(items)))]
        templates = rng.sample(_TEMPLATES, len(groups))
        return " ".join(_capital(t.format(p=g)) for t, g in zip(templates, groups, strict=True))
    text = rng.choice(_TEMPLATES).format(p=items[0])
    if rng.random() < 0.4:
        text = f"{text} {rng.choice(_FOLLOW_UPS)}"
    return _capital(text)


def _capital(text: str) -> str:
    return text[0].upper() + text[1:]


def fake_reason(rng: random.Random, prompt: str = "") -> str:
    """A short justification, as a judge would give."""
    return rng.choice(_BANKS["reasons"]).format(p=_topic(rng, prompt))


def fake_phrase(rng: random.Random, prompt: str = "") -> str:
    """A short noun phrase built on the prompt's topic: a name or title."""
    return rng.choice(_BANKS["names"]).format(p=_topic(rng, prompt))


_EDIT_FIELDS = ("rewrite", "edit", "revision", "rewritten")
_EDITS = (
    lambda t: f"Years ago {t[0].lower()}{t[1:]} These days I'm fine.",
    lambda t: f"My friend told me: {t}",
    lambda t: re.sub(r"\bI\b", "my brother", t, count=1),
    lambda t: f"If things got worse, {t[0].lower()}{t[1:]}",
    lambda t: t,  # an unchanged copy, as small models give: the minimal-edit check must catch it
)


def _last_post(prompt: str) -> str:
    """The text after the last `Post:` of a prompt (what a rewrite prompt asks to edit), or ''."""
    found = re.findall(r"^Post:\s*(.+)$", prompt, flags=re.MULTILINE)
    return found[-1].strip().strip('"') if found else ""


def fake_edit(rng: random.Random, text: str) -> str:
    """A small edit of `text`, as a model asked to rewrite it minimally might make (or fail to)."""
    return str(rng.choice(_EDITS)(text))


def is_name_field(field: str) -> bool:
    """Whether a field holds a name or title: such values are kept distinct within one answer."""
    return any(k in field.lower() for k in _NAME_FIELDS)


def text_for_field(rng: random.Random, prompt: str, field: str) -> str:
    """Text that fits what a field's name says it holds (a reason, an id, a name, a description, a
    rewrite of the prompt's post), else a statement about the prompt's topic."""
    f = field.lower()
    if any(k in f for k in _REASON_FIELDS):
        return fake_reason(rng, prompt)
    if f in _ID_FIELDS or f.endswith("_id"):
        return re.sub(r"\W+", "_", fake_phrase(rng, prompt).lower()).strip("_")
    if any(k in f for k in _NAME_FIELDS):
        return fake_phrase(rng, prompt)
    if any(k in f for k in _DESC_FIELDS):
        return rng.choice(_BANKS["descriptions"]).format(p=_topic(rng, prompt))
    if f in _EDIT_FIELDS and _last_post(prompt):
        return fake_edit(rng, _last_post(prompt))
    return fake_sentence(rng, prompt)


def fit_length(text: str, rng: random.Random, lo: int, hi: int | None) -> str:
    """`text` within [lo, hi] characters: cut at a sentence end, else a word end, when long enough (so
    a schema's maxLength does not leave half a word); padded with follow-up sentences when short."""
    if hi is not None and len(text) > hi:
        cut = text[:hi]
        ends = [cut[: i + 1] for i in range(len(cut) - 1, max(lo, 1) - 2, -1) if cut[i] in ".?!"]
        words = cut.rsplit(" ", 1)[0].rstrip(",;:")
        text = ends[0] if ends else words if len(words) >= lo else cut
    while len(text) < lo:
        text = f"{text} {rng.choice(_FOLLOW_UPS)}"
    if hi is not None:
        text = text[:hi]
    return text
