"""Export a stratified sample for clinicians to rate on the paper's 5-point Likert rubric.

Components are rated apart because they answer different questions: is a *sub-concept* a faithful facet
of its symptom, does a *single-symptom* post express its symptom (and only it), does a *multi-symptom*
post express every listed symptom, is a *negative* (a row with no label) free of every symptom. Posts
are drawn round-robin over (symptom, style, single/multi) strata (negatives: style only), so a 300-item
sample covers every symptom and style instead of mirroring the set's skew.

Written to DIR: `items.csv` (for spreadsheets: fill `score` 1-5 and an optional `comment`),
`labelstudio_tasks.json` and `labelstudio_config.xml` (a Label Studio project whose instructions are the
rubric), `rubric.md`, and `sample.json` (the key the import checks ratings against).
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Any

from synsym.quality.data import QualityData, load_quality_data

COMPONENTS = ("subconcept", "single", "multi", "negative")
RUBRIC = {
    "subconcept": "Is this sub-concept a clinically faithful, specific facet of the symptom?",
    "single": "Does the post clearly express the listed symptom, and no other symptom?",
    "multi": "Does the post clearly express every listed symptom, as one natural post?",
    "negative": "Is the post free of every symptom, as the writer's own current experience?",
}
SCALE = {
    1: "not at all: wrong or absent",
    2: "barely: vague, or mostly about something else",
    3: "partly: recognisable but weak or mixed",
    4: "mostly: clear, with minor issues",
    5: "fully: clear, specific and natural",
}
CSV_COLUMNS = ("item_id", "component", "symptoms", "style", "text", "score", "comment")


def rubric_text() -> str:
    lines = ["# Rating rubric (5-point Likert)", ""]
    lines += [f"- **{c}**: {q}" for c, q in RUBRIC.items()]
    lines += ["", "Scores:", ""] + [f"- {k}: {v}" for k, v in SCALE.items()]
    return "\n".join(lines) + "\n"


def _component(symptoms: list[str]) -> str:
    return "negative" if not symptoms else "single" if len(symptoms) == 1 else "multi"


def _round_robin(strata: dict[Any, list[int]], n: int, rng: random.Random) -> list[int]:
    """Up to n indices, one stratum at a time in turn, so small strata are not crowded out."""
    pools = {k: rng.sample(v, len(v)) for k, v in sorted(strata.items(), key=lambda kv: str(kv[0]))}
    out: list[int] = []
    while len(out) < n and any(pools.values()):
        for key in list(pools):
            if pools[key] and len(out) < n:
                out.append(pools[key].pop())
    return out


def sample_items(
    data: QualityData, n: int = 300, n_subconcepts: int | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """`n` posts stratified by (symptom, style, single/multi) plus `n_subconcepts` (symptom, sub-concept)
    pairs (default n // 5), each with a stable item id."""
    rng = random.Random(seed)
    strata: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i in range(len(data)):
        syms = data.symptoms_of(i)
        kind = _component(syms)
        # a multi-symptom post is filed under one of its symptoms, chosen by id, so it is counted once
        anchor = syms[sum(map(ord, data.ids[i])) % len(syms)] if syms else ""
        strata[(anchor, data.styles[i] or "", kind)].append(i)
    items: list[dict[str, Any]] = []
    for i in sorted(_round_robin(strata, n, rng)):
        syms = data.symptoms_of(i)
        items.append(
            {
                "item_id": f"p-{data.ids[i]}",
                "component": _component(syms),
                "symptoms": "; ".join(syms),
                "style": data.styles[i] or "",
                "text": data.texts[i],
            }
        )
    pairs = list(
        dict.fromkeys(
            (data.symptoms_of(i)[0], str(data.subconcepts[i]))
            for i in range(len(data))
            if data.subconcepts[i] and data.labels[i].sum() == 1
        )
    )
    by_symptom: dict[str, list[int]] = defaultdict(list)
    for j, (sym, _) in enumerate(pairs):
        by_symptom[sym].append(j)
    k = n // 5 if n_subconcepts is None else n_subconcepts
    for pos, j in enumerate(sorted(_round_robin(by_symptom, k, rng))):
        items.append(
            {
                "item_id": f"s-{pos:04d}",
                "component": "subconcept",
                "symptoms": pairs[j][0],
                "style": "",
                "text": pairs[j][1],
            }
        )
    return items


def _labelstudio_config() -> str:
    header = " ".join(f"{c}: {q}" for c, q in RUBRIC.items())
    choices = "\n".join(f'    <Choice value="{k}" hint="{escape(v)}"/>' for k, v in SCALE.items())
    return f"""<View>
  <Header value="{escape(header)}"/>
  <Text name="meta" value="$component | $symptoms | $style"/>
  <Text name="text" value="$text"/>
  <Choices name="score" toName="text" choice="single" required="true" showInline="true">
{choices}
  </Choices>
  <TextArea name="comment" toName="text" placeholder="optional comment"/>
</View>
"""


def export_review(
    path: str | Path,
    out: Path,
    n: int = 300,
    n_subconcepts: int | None = None,
    seed: int = 0,
    **load_args: Any,
) -> dict[str, Any]:
    """Write the sample (CSV, Label Studio tasks and config, rubric, key) to `out`; return a summary.
    `load_args` (fmt, text_column, label_column) go to `load_quality_data`."""
    data = load_quality_data(path, **load_args)
    items = sample_items(data, n, n_subconcepts, seed)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "items.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows({**it, "score": "", "comment": ""} for it in items)
    tasks = [{"data": dict(it)} for it in items]
    (out / "labelstudio_tasks.json").write_text(
        json.dumps(tasks, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    (out / "labelstudio_config.xml").write_text(_labelstudio_config(), encoding="utf-8")
    (out / "rubric.md").write_text(rubric_text(), encoding="utf-8")
    key = {"source": str(path), "seed": seed, "items": items}
    (out / "sample.json").write_text(json.dumps(key, indent=1, ensure_ascii=False), encoding="utf-8")
    counts: dict[str, int] = defaultdict(int)
    for it in items:
        counts[it["component"]] += 1
    return {"n_items": len(items), "by_component": dict(counts), "out": str(out)}
