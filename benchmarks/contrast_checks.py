"""Model-written contrastive rewrites: does the check keep good rewrites and drop planted bad ones?

Bad rewrites are planted for every model-written kind of `data/contrast_kinds.yaml`, each labelled with the
kind it claims, from two pools of source posts: the hand-written ones of `benchmarks/data/rewrites.yaml`
and (when `../shared` is present) a sample of the paper's posts. Four failures, the ones a weak model made
in the filed report (issue 16):
- `unchanged`: the post as it was;
- `first_person`: the post with one word added, still the writer's own state, now, not denied;
- `appended`: the post kept whole with a reason appended;
- `example`: the kind's few-shot example rewrite, copied.
Good rewrites: the hand-written ones of `rewrites.yaml` (written before the checks), and rule-made
person_swap rewrites of the paper's posts as `other_person` rewrites.

For each, the share kept by the checks synsym runs (`rewrite_problem`, default bounds) and, as the peer in
the same run, by the check it replaced (similarity to the source within 0.5-0.97 only).
Goal: bad kept < 5%, good kept >= 90%. Prints JSON lines; does not assert.

    python benchmarks/contrast_checks.py [--n 300] [--data PATH]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from collections import defaultdict
from pathlib import Path

import yaml

from synsym.core.taxonomy import load_taxonomy
from synsym.recipe.contrast.checks import rewrite_problem, words
from synsym.recipe.contrast.config import ContrastKind, default_contrast_kinds
from synsym.recipe.contrast.rewrites import person_swap, similarity

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[0].parent / "shared/data/synsym-kdd2026/synth_all_dsm5.csv"
REASONS = ("because work has been insane lately", "since the breakup last month", "and honestly idk why")


def paper_posts(path: Path, n: int, seed: int) -> tuple[list[str], list[str]]:
    """`n` single-symptom and `n` multi-symptom posts of the paper, drawn with `seed` (none if absent)."""
    if not path.is_file():
        print(json.dumps({"skipped": "paper posts", "reason": f"{path} not found; pass --data PATH"}))
        return [], []
    tax = load_taxonomy()
    with path.open(newline="", encoding="utf-8") as f:
        rows = [(r["post"], len(tax.decode(json.loads(r["label"])))) for r in csv.DictReader(f)]
    rng = random.Random(seed)
    single = [p for p, k in rows if k == 1]
    multi = [p for p, k in rows if k > 1]
    return rng.sample(single, min(n, len(single))), rng.sample(multi, min(n, len(multi)))


def first_person(post: str) -> str:
    """One word added after the writer's first "I" (or first word): the same state, still the writer's."""
    tokens = post.split()
    at = next((i for i, t in enumerate(tokens) if words(t)[:1] in (["i"], ["i'm"], ["im"])), 0)
    return " ".join([*tokens[: at + 1], "really", *tokens[at + 1 :]])


def appended(post: str, rng: random.Random) -> str:
    return f"{post.rstrip().rstrip('.!?')}, {rng.choice(REASONS)}."


def bad_rewrites(kind: ContrastKind, post: str, rng: random.Random) -> dict[str, str]:
    out = {"unchanged": post, "first_person": first_person(post), "appended": appended(post, rng)}
    if kind.examples:
        out["example"] = rng.choice(kind.examples).rewrite
    return out


def kept_new(kind: ContrastKind, source: str, rewrite: str) -> bool:
    pairs = [(e.post, e.rewrite) for e in kind.examples]
    return rewrite_problem(kind.dimension, source, rewrite, pairs) is None


def kept_old(source: str, rewrite: str) -> bool:
    return 0.5 <= similarity(source, rewrite) <= 0.97


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="paper posts per pool (single, multi)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    own = yaml.safe_load((HERE / "data" / "rewrites.yaml").read_text(encoding="utf-8"))
    single, multi = paper_posts(args.data, args.n, args.seed)
    own_single = [t for k, t in own["sources"].items() if k.startswith("s")]
    own_multi = [t for k, t in own["sources"].items() if k.startswith("m")]
    kinds = [k for k in default_contrast_kinds() if k.method == "llm"]
    rng = random.Random(args.seed)
    tally: dict[tuple[str, str, str], list[tuple[bool, bool]]] = defaultdict(list)
    for kind in kinds:
        pools = {"own": own_multi, "paper": multi} if kind.dimension == "partial" else {
            "own": own_single, "paper": single}  # fmt: skip
        for posts in pools.values():
            for post in posts:
                for failure, text in bad_rewrites(kind, post, rng).items():
                    tally[("bad", failure, kind.name)].append(
                        (kept_new(kind, post, text), kept_old(post, text))
                    )
    by_name = {k.name: k for k in kinds}
    for kind_name, rewrites in own["good"].items():
        for sid, text in rewrites.items():
            source = own["sources"][sid]
            tally[("good", "hand-written", kind_name)].append(
                (kept_new(by_name[kind_name], source, text), kept_old(source, text))
            )
    for post in single:
        text = person_swap(post, random.Random(post))
        tally[("good", "person_swap", "other_person")].append(
            (kept_new(by_name["other_person"], post, text), kept_old(post, text))
        )
    report(tally)


def report(tally: dict[tuple[str, str, str], list[tuple[bool, bool]]]) -> None:
    totals: dict[tuple[str, str], list[tuple[bool, bool]]] = defaultdict(list)
    for (side, what, kind), marks in sorted(tally.items()):
        totals[(side, what)] += marks
        print(json.dumps({"side": side, "rewrite": what, "kind": kind, **_shares(marks)}))
    for (side, what), marks in sorted(totals.items()):
        print(json.dumps({"side": side, "rewrite": what, "kind": "all", **_shares(marks)}))
    for side, goal in (("bad", "< 0.05"), ("good", ">= 0.90")):
        marks = [m for (s, _), ms in totals.items() if s == side for m in ms]
        print(json.dumps({"side": side, "rewrite": "all", **_shares(marks), "goal": goal}))


def _shares(marks: list[tuple[bool, bool]]) -> dict[str, float]:
    """n, and the share kept by the checks and by the similarity bounds alone."""
    n = len(marks) or 1
    return {"n": len(marks), "kept": round(sum(m[0] for m in marks) / n, 4),
            "kept_by_similarity_only": round(sum(m[1] for m in marks) / n, 4)}  # fmt: skip


if __name__ == "__main__":
    main()
