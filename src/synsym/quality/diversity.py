"""Diversity: are the posts many ways of saying a symptom, or one sentence with the words shuffled?

Lexical figures (distinct-n, self-BLEU, vocabulary) catch templated wording; embedding figures (mean
pairwise distance, mean nearest-neighbour similarity, offline MiniLM) catch paraphrases of one idea that
lexical figures miss. Each is given overall and per symptom, since a set can be diverse overall while
one symptom is a single sentence repeated. Self-BLEU and embeddings use a seeded sample so the cost is
bounded and two runs give the same figures.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from synsym.quality.balance import tokens
from synsym.quality.data import QualityData

Embedder = Callable[[list[str]], np.ndarray]


# The overall figures, in the order tables show them.
FIGURES = (
    "distinct_1",
    "distinct_2",
    "distinct_3",
    "self_bleu",
    "vocabulary",
    "mean_pairwise_distance",
    "mean_nn_similarity",
)


def distinct_n(token_lists: Sequence[list[str]], n: int) -> float:
    """Distinct n-grams over all n-grams in the set (Li et al. 2016): 1.0 = no n-gram repeats."""
    grams: Counter[tuple[str, ...]] = Counter()
    for toks in token_lists:
        grams.update(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))
    total = sum(grams.values())
    return round(len(grams) / total, 4) if total else 0.0


def _ngrams(toks: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(toks[i : i + n]) for i in range(len(toks) - n + 1))


def self_bleu(token_lists: Sequence[list[str]], max_n: int = 4) -> float:
    """Mean sentence BLEU-4 of each text against all the others as references (Zhu et al. 2018).

    Clipped counts use, per n-gram, the largest count in any *other* text: we keep each n-gram's top two
    counts, so the whole computation is linear in the sample instead of quadratic. Orders with no match
    are smoothed by adding one to numerator and denominator (Lin and Och's smoothing, orders > 1), and the
    brevity penalty uses the closest other length. Higher = more repetitive; below ~0.3 is varied text.
    """
    docs = [t for t in token_lists if t]
    if len(docs) < 2:
        return 0.0
    grams = [[_ngrams(t, n) for n in range(1, max_n + 1)] for t in docs]
    top: list[dict[tuple[str, ...], tuple[int, int, int]]] = [{} for _ in range(max_n)]
    for d, per_n in enumerate(grams):
        for k, counter in enumerate(per_n):
            table = top[k]
            for g, c in counter.items():
                best, owner, second = table.get(g, (0, -1, 0))
                if c > best:
                    table[g] = (c, d, best)
                elif c > second:
                    table[g] = (best, owner, c)
    lengths = sorted(len(t) for t in docs)
    scores = []
    for d, per_n in enumerate(grams):
        log_p = 0.0
        for k, counter in enumerate(per_n):
            total = sum(counter.values())
            match = 0
            for g, c in counter.items():
                best, owner, second = top[k][g]
                match += min(c, second if owner == d else best)
            if k == 0 and match == 0:
                log_p = -math.inf
                break
            if k > 0:
                match, total = match + 1, total + 1
            log_p += math.log(match / total) / max_n if total else 0.0
        length = len(docs[d])
        others = list(lengths)
        others.pop(bisect_left(others, length))
        pos = bisect_left(others, length)
        near = [others[i] for i in (pos - 1, pos) if 0 <= i < len(others)]
        ref = min(near, key=lambda r: (abs(r - length), r))
        bp = 1.0 if length > ref else math.exp(1 - ref / max(length, 1))
        scores.append(0.0 if log_p == -math.inf else bp * math.exp(log_p))
    return round(float(np.mean(scores)), 4)


def embedding_spread(vectors: np.ndarray) -> dict[str, float | None]:
    """Mean pairwise cosine distance and mean nearest-neighbour cosine similarity of normalised vectors.

    The first says how spread out a set is; the second how close each post's closest sibling is (near 1
    means paraphrase pairs even when the set as a whole looks spread).
    """
    n = len(vectors)
    if n < 2:
        return {"mean_pairwise_distance": None, "mean_nn_similarity": None}
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, np.nan)
    return {
        "mean_pairwise_distance": round(float(1 - np.nanmean(sims)), 4),
        "mean_nn_similarity": round(float(np.nanmax(sims, axis=1).mean()), 4),
    }


def _lexical(texts: list[str], bleu_sample: int, rng: random.Random) -> dict[str, Any]:
    toks = [tokens(t) for t in texts]
    sample = toks if len(toks) <= bleu_sample else rng.sample(toks, bleu_sample)
    return {
        "n": len(texts),
        "distinct_1": distinct_n(toks, 1),
        "distinct_2": distinct_n(toks, 2),
        "distinct_3": distinct_n(toks, 3),
        "self_bleu": self_bleu(sample),
        "vocabulary": len({w for t in toks for w in t}),
    }


def default_embedder(encoder: str = "minilm") -> Embedder:
    """Normalised MiniLM (or any local sentence encoder) vectors via the classifiers' cached loader."""
    from synsym.core.encoders import embed

    return lambda texts: embed(encoder, texts, max_length=128)


def diversity(
    data: QualityData,
    embedder: Embedder | None = None,
    bleu_sample: int = 500,
    embed_sample: int = 3000,
    seed: int = 0,
) -> dict[str, Any]:
    """Lexical and (with an embedder) embedding diversity, overall and per symptom.

    Lexical distinct-n and vocabulary use every post; self-BLEU uses a seeded sample of `bleu_sample` per
    group; embedding figures use one seeded sample of `embed_sample` posts, split by symptom, so each
    post is encoded once.
    """
    rng = random.Random(seed)
    groups = {"overall": list(range(len(data)))}
    for j, name in enumerate(data.label_names):
        groups[name] = [int(i) for i in np.flatnonzero(data.labels[:, j] > 0)]
    out: dict[str, Any] = {
        name: _lexical([data.texts[i] for i in idx], bleu_sample, rng) for name, idx in groups.items()
    }
    if embedder is not None and len(data):
        chosen = sorted(random.Random(seed).sample(range(len(data)), min(embed_sample, len(data))))
        vectors = embedder([data.texts[i] for i in chosen])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms == 0, 1, norms)
        where = {i: k for k, i in enumerate(chosen)}
        for name, idx in groups.items():
            rows = [where[i] for i in idx if i in where]
            out[name].update(embedding_spread(vectors[rows]))
            out[name]["embedded"] = len(rows)
    return out
