"""Planted garbage against the judge: the share of garbage kept (goal < 5%) and of good posts kept (goal
>= 90%), for the embedding judge alone (as before) and behind the garbage filter (as shipped).

Good posts: a seeded sample of the paper's single-symptom posts, judged on their own symptom. Garbage, as
many of each kind, made from other posts of the paper:
- loop: a post's first sentence, or its first 4-7 words, said 3-5 times (a small model's repetition loop);
- cut_off: a post cut after 40-85% of its words (an answer stopped at max_tokens);
- other_symptom: a post of another symptom, judged on a symptom it does not express;
- salad: 8-16 words drawn from the taxonomy's definitions of the target symptom, a few function words
  between (word salad with symptom words);
- shuffled: a post's words in random order.
A post is kept, as by the judge stage, when it is in the first person (the stage's check before scoring,
`judge.first_person`), the garbage filter lets it through, and every target scores >= the threshold (4).
"embedding judge alone" is the stage before the garbage filter: the first-person check and the scores.
Prints JSON lines; does not assert. Needs the paper's data (../shared/data/synsym-kdd2026).

    python benchmarks/judge_garbage.py [--n 200] [--data PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

from synsym.core.taxonomy import load_taxonomy
from synsym.pipeline.config import run_config
from synsym.recipe.common.embedding_judge import DEFAULT_THRESHOLD, EmbeddingJudge
from synsym.recipe.common.garbage import garbage
from synsym.recipe.common.scoring import first_person

DATA = Path(__file__).resolve().parents[1].parent / "shared/data/synsym-kdd2026/synth_all_dsm5.csv"
KINDS = ("loop", "cut_off", "other_symptom", "salad", "shuffled")
FILLER = ("and", "the", "my", "i", "so", "of", "to", "with")


def plant(kind: str, post: str, symptom: str, other: tuple[str, str], vocab: list[str], rng: random.Random):
    """(text, target symptom) of one garbage post of `kind`."""
    words = post.split()
    if kind == "loop":
        first = re.split(r"(?<=[.!?])\s+", post)[0]
        unit = first if rng.random() < 0.5 else " ".join(words[: rng.randint(4, 7)])
        return " ".join([unit] * rng.randint(3, 5)), symptom
    if kind == "cut_off":
        cut = max(3, int(len(words) * rng.uniform(0.4, 0.85)))
        return " ".join(words[:cut]).rstrip(".,;!?"), symptom
    if kind == "other_symptom":
        return other[0], symptom  # another symptom's post, judged on this one
    if kind == "salad":
        out = []
        for _ in range(rng.randint(8, 16)):
            out.append(rng.choice(FILLER) if rng.random() < 0.15 else rng.choice(vocab))
        text = " ".join(out)
        return (text[:1].upper() + text[1:] + ".") if rng.random() < 0.5 else text, symptom
    shuffled = words[:]
    rng.shuffle(shuffled)
    return " ".join(shuffled), symptom


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="good posts, and garbage posts of each kind / 5")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.data.is_file():
        print(json.dumps({"skipped": "judge_garbage", "reason": f"{args.data} not found; pass --data"}))
        return
    import csv

    tax = load_taxonomy("depression-14")
    with args.data.open(newline="", encoding="utf-8") as f:
        rows = [(r["post"], tax.decode(json.loads(r["label"]))) for r in csv.DictReader(f)]
    single = [(t, s[0]) for t, s in rows if len(s) == 1]
    rng = random.Random(args.seed)
    picked = rng.sample(single, 2 * args.n)
    good, sources = picked[: args.n], picked[args.n :]
    vocab_of = {
        s.name: [
            w for w in re.findall(r"[a-z]+", (s.definition + " " + " ".join(s.seeds)).lower()) if len(w) > 3
        ]
        for s in tax.symptoms
    }
    garbage_posts: list[tuple[str, str, str]] = []
    for i, (post, symptom) in enumerate(sources):
        kind = KINDS[i % len(KINDS)]
        other = rng.choice([p for p in sources[:50] if p[1] != symptom])
        text, target = plant(kind, post, symptom, other, vocab_of[symptom], rng)
        garbage_posts.append((kind, text, target))
    judge = EmbeddingJudge(tax)
    texts = [t for t, _ in good] + [t for _, t, _ in garbage_posts]
    targets = [[s] for _, s in good] + [[s] for _, _, s in garbage_posts]
    t0 = time.perf_counter()
    scores = judge.score(texts, targets)
    passed = [
        first_person(t) and all(v >= DEFAULT_THRESHOLD for v in row.values())
        for t, row in zip(texts, scores, strict=True)
    ]
    judge_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    clean = [garbage(t) is None for t in texts]
    filter_s = time.perf_counter() - t0
    n = len(good)
    for name, kept in (("embedding judge alone", passed), ("garbage filter + embedding judge", [
        p and c for p, c in zip(passed, clean, strict=True)
    ])):  # fmt: skip
        bad_kept = kept[n:]
        by_kind = {
            k: round(sum(b for b, (kk, _, _) in zip(bad_kept, garbage_posts, strict=True) if kk == k)
                     / sum(kk == k for kk, _, _ in garbage_posts), 3)
            for k in KINDS
        }  # fmt: skip
        print(json.dumps({
            "bench": "judge_garbage", "judge": name, "good_posts": n, "garbage_posts": len(garbage_posts),
            "good_kept": round(sum(kept[:n]) / n, 3), "good_goal": ">= 0.90",
            "garbage_kept": round(sum(bad_kept) / len(bad_kept), 3), "garbage_goal": "< 0.05",
            "garbage_kept_by_kind": by_kind,
        }), flush=True)  # fmt: skip
    caught_by_filter = [t for t, c in zip(texts[:n], clean[:n], strict=True) if not c]
    # the paper's posts all close their sentences; the prompts' few-shot examples show the casual style too
    examples = [e for s in tax.symptoms for v in s.examples.values() for e in v]
    examples += [e for kind in run_config({}).negatives.kinds for e in kind.examples]
    casual = {"example_posts": len(examples), "passing_the_filter": sum(garbage(e) is None for e in examples)}
    print(json.dumps({
        "bench": "judge_garbage_cost", "filter_posts_per_s": round(len(texts) / filter_s),
        "embedding_judge_s": round(judge_s, 1), "good_posts_the_filter_dropped": caught_by_filter[:5],
        "few_shot_examples": casual,
    }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
