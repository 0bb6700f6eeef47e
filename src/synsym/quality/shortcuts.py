"""Shortcuts: can a symptom be recognised from its own name and definition words alone?

If most posts of a symptom say "sleep" and almost no others do, a classifier can score well on the
synthetic set by spotting one word and then fail on real posts, where people say "up at 4am again". The
check is a keyword-only rule per symptom (its name and definition words, crudely stemmed): its precision,
recall and F1 against the labels, and the share of the symptom's posts that contain a label word.
Symptoms with at least `min_posts` posts whose rule F1 reaches `flag_f1` are flagged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from synsym.quality.balance import tokens
from synsym.quality.data import QualityData

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "or",
        "of",
        "the",
        "to",
        "in",
        "on",
        "for",
        "with",
        "without",
        "by",
        "as",
        "at",
        "from",
        "into",
        "over",
        "under",
        "about",
        "than",
        "that",
        "this",
        "these",
        "those",
        "is",
        "are",
        "be",
        "been",
        "being",
        "was",
        "were",
        "it",
        "its",
        "or",
        "not",
        "no",
        "nor",
        "any",
        "some",
        "such",
        "other",
        "others",
        "more",
        "most",
        "less",
        "least",
        "very",
        "much",
        "many",
        "one",
        "ones",
        "own",
        "same",
        "so",
        "too",
        "just",
        "can",
        "will",
        "would",
        "should",
        "could",
        "may",
        "might",
        "do",
        "does",
        "did",
        "having",
        "have",
        "has",
        "i",
        "me",
        "my",
        "myself",
        "you",
        "your",
        "he",
        "she",
        "they",
        "them",
        "their",
        "we",
        "our",
        "who",
        "whom",
        "which",
        "what",
        "when",
        "where",
        "why",
        "how",
        "all",
        "each",
        "both",
        "few",
        "only",
        "out",
        "up",
        "down",
        "off",
        "again",
        "further",
        "then",
        "once",
        "here",
        "there",
        "symptom",
        "symptoms",
        "feeling",
        "feelings",
        "feel",
        "person",
        "often",
        "frequently",
        "marked",
        "markedly",
        "persistent",
        "every",
        "nearly",
        "almost",
        "day",
        "days",
        "including",
    ]
)


def stem(word: str) -> str:
    """A deliberately crude stem (the first five letters): irritable/irritability, sleep/sleeping,
    suicide/suicidal fall together; good enough to find the obvious label words, which is the point."""
    return word[:5]


def label_words(name: str, definition: str = "") -> set[str]:
    """Stems of a symptom's name and definition words, minus stopwords and words under three letters."""
    words = tokens(name.replace("_", " ").replace("-", " ")) + tokens(definition)
    return {stem(w) for w in words if len(w) >= 3 and w not in STOPWORDS}


def definitions_for(names: Sequence[str], taxonomy: str | None = "depression-14") -> dict[str, str]:
    """Definitions from the taxonomy for the names it knows; other labels get name words only."""
    if not taxonomy:
        return {}
    from synsym.core.errors import SynsymError
    from synsym.core.taxonomy import load_taxonomy

    try:
        tax = load_taxonomy(taxonomy)
    except SynsymError:
        return {}
    return {n: tax.symptom(n).definition for n in names if n in tax.names}


def shortcuts(
    data: QualityData,
    definitions: Mapping[str, str] | None = None,
    flag_f1: float = 0.6,
    min_posts: int = 10,
) -> dict[str, Any]:
    """Per label: keyword rule precision/recall/F1, share of positives and negatives containing a label
    word, the words that fire most, and a flag; plus the rule's macro-F1 over labels with positives.
    A label needs `min_posts` posts to be flagged: an F1 over two posts says nothing."""
    definitions = definitions or {}
    stems = [{stem(w) for w in tokens(t)} for t in data.texts]
    per: dict[str, Any] = {}
    f1s = []
    for j, name in enumerate(data.label_names):
        words = label_words(name, definitions.get(name, ""))
        gold = data.labels[:, j] > 0
        hits = np.array([bool(s & words) for s in stems], dtype=bool)
        tp, fp, fn = int((hits & gold).sum()), int((hits & ~gold).sum()), int((~hits & gold).sum())
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        firing: dict[str, int] = {}
        for i in np.flatnonzero(gold):  # count surface words, so the report shows "asleep", not "aslee"
            for w in {t for t in tokens(data.texts[i]) if stem(t) in words}:
                firing[w] = firing.get(w, 0) + 1
        if gold.any():
            f1s.append(f1)
        per[name] = {
            "words": sorted(words),
            "positives": int(gold.sum()),
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "share_with_label_word": round(recall, 4),
            "negatives_with_label_word": round(fp / max(int((~gold).sum()), 1), 4),
            "top_words": sorted(firing, key=lambda w: -firing[w])[:5],
            "flagged": bool(gold.sum() >= min_posts and f1 >= flag_f1),
        }
    return {
        "flag_f1": flag_f1,
        "min_posts": min_posts,
        "macro_f1": round(float(np.mean(f1s)), 4) if f1s else 0.0,
        "flagged": [n for n, v in per.items() if v["flagged"]],
        "per_label": per,
    }


def flag_summary(result: Mapping[str, Any]) -> str:
    """What `shortcuts` flagged, said with its whole rule: a label whose F1 reaches the bar on fewer than
    `min_posts` posts is named apart, so "flagged: none" never sits above rows of F1 0.6 and more."""
    bar, least = result["flag_f1"], result["min_posts"]
    flagged = ", ".join(result["flagged"]) or "none"
    few = [
        f"{name} ({v['positives']} posts)"
        for name, v in result["per_label"].items()
        if v["f1"] >= bar and not v["flagged"]
    ]
    text = f"flagged (F1 >= {bar} over at least {least} posts): {flagged}"
    return text + (f"; F1 >= {bar} on fewer posts, too few to say: {', '.join(few)}" if few else "")
