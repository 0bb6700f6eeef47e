"""The funnel of a run, counted from its rows: what each stage made, which of its requests failed, what
it dropped and why, and what was kept. The CLI's summary, the dataset card and `synsym inspect` all show
this one computation, over the stage list the run recorded and the rows' own `stage`, `dropped_by` and
`drop_class` fields, so they cannot disagree with each other or with the files.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from synsym.core.columns import ENGINE_FAILURES, DropClass, Post

__all__ = ["NOT_MADE", "funnel_counts", "kind"]

# a row of one of these classes, dropped by the stage that made it, is a request that gave no post
NOT_MADE = frozenset(c.value for c in (*ENGINE_FAILURES, DropClass.UNUSABLE_OUTPUT))


def kind(row: Post) -> str:
    """What kind of post a row is: a negative's kind (`third_person`, `negated`, `long`, ...), a rewrite's
    kind (`other_person`, `past`, ...), else `positive` when it states a symptom and `negative` if not."""
    return row["negative_kind"] or row["contrast_kind"] or ("positive" if row["symptoms"] else "negative")


def funnel_counts(rows: Iterable[Post], stages: Sequence[str]) -> dict[str, Any]:
    """Per stage (in `stages` order, then any other stage a row names): rows `made`, requests `failed`
    by class, rows `dropped` by class; the funnel's `steps`; then what was kept, in total and by kind."""
    made: Counter[str] = Counter()
    failed: defaultdict[str, Counter[str]] = defaultdict(Counter)
    dropped: defaultdict[str, Counter[str]] = defaultdict(Counter)
    kept: list[Post] = []
    for row in rows:
        cls, by = row["drop_class"], row["dropped_by"] or row["stage"]
        if cls is None:
            kept.append(row)
        elif cls in NOT_MADE and by == row["stage"]:
            failed[by][cls] += 1
            continue
        else:
            dropped[by][cls] += 1
        made[row["stage"]] += 1
    order = list(stages) + sorted((set(made) | set(failed) | set(dropped)) - set(stages))
    per_stage: list[dict[str, Any]] = [
        {
            "stage": name,
            "made": made[name],
            "failed": dict(sorted(failed[name].items())),
            "dropped": dict(sorted(dropped[name].items())),
        }
        for name in order
        if made[name] or failed[name] or dropped[name]
    ]
    steps: list[dict[str, Any]] = []
    remaining, writing = 0, True
    for stage in per_stage:
        if writing and not stage["dropped"]:
            remaining += stage["made"]
            continue
        if writing:
            steps.append({"step": "written", "n": remaining})
            writing = False
        remaining += stage["made"] - sum(stage["dropped"].values())
        steps.append({"step": f"after {stage['stage']}", "n": remaining})
    if writing:
        steps.append({"step": "written", "n": remaining})
    total_failed: Counter[str] = sum(failed.values(), Counter())
    total_dropped: Counter[str] = sum(dropped.values(), Counter())
    return {
        "stages": per_stage,
        "steps": steps,  # a funnel: rows written by the first stages, then what is left after each other
        "failed_by_class": dict(sorted(total_failed.items())),
        "dropped_by_class": dict(sorted(total_dropped.items())),
        "kept": len(kept),
        "kept_single": sum(len(r["symptoms"]) == 1 for r in kept),
        "kept_multi": sum(len(r["symptoms"]) > 1 for r in kept),
        "kept_negative": sum(not r["symptoms"] for r in kept),
        "kept_by_stage": dict(Counter(r["stage"] for r in kept)),
        "kept_by_kind": dict(sorted(Counter(kind(r) for r in kept).items())),
        "kept_transformed": sum(bool(r["transforms"]) for r in kept),
    }
