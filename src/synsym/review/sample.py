"""Export a stratified sample for clinicians to rate on the paper's 5-point Likert rubric.

Components are rated apart because they answer different questions: is a *sub-concept* a faithful facet
of its symptom, does a *single-symptom* post express its symptom (and only it), does a *multi-symptom*
post express every listed symptom, is a *negative* (a row with no label) free of every symptom. Posts
are drawn round-robin over (symptom, style, single/multi) strata (negatives: style only), so a 300-item
sample covers every symptom and style instead of mirroring the set's skew.

Written to DIR: `items.csv` (for spreadsheets: fill `score` 1-5 and an optional `comment`),
`labelstudio_tasks.json` and `labelstudio_config.xml` (a Label Studio project whose instructions are the
rubric), `rubric.md`, and `sample.json` (the key the import checks ratings against; for a synsym run also
each post's judge scores and the run's thresholds, which `review calibrate` refits). `near_threshold`
samples posts nearest the judge's threshold instead, dropped ones included (see `synsym.review.judged`).
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
SCALE_RANGE = (min(SCALE), max(SCALE))


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
    items = [
        post_item(data.ids[i], data.symptoms_of(i), data.styles[i], data.texts[i])
        for i in sorted(_round_robin(strata, n, rng))
    ]
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


def post_item(row_id: str, symptoms: list[str], style: str | None, text: str) -> dict[str, Any]:
    """One post to rate, as items.csv and Label Studio show it."""
    return {
        "item_id": f"p-{row_id}",
        "component": _component(symptoms),
        "symptoms": "; ".join(symptoms),
        "style": style or "",
        "text": text,
    }


def _judge_key(data: QualityData, items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The judge's side of a stratified sample of a synsym run (None for other datasets)."""
    from synsym.core.dataset import read_export
    from synsym.review.judged import judge_key

    if not data.rows or data.run_dir is None or not any(r["judge_scores"] for r in data.rows):
        return None
    wanted = {it["item_id"] for it in items}
    export = read_export(data.run_dir / "dataset.parquet")
    return judge_key(export, [r for r in data.rows if f"p-{r['id']}" in wanted])


def _near_sample(path: str | Path, n: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from synsym.review.judged import default_rule, judge_key, judge_settings, near_source, near_threshold

    export, rows = near_source(path)
    settings = judge_settings(export)
    step = 1.0 if settings["judge"] == "llm" else 0.0  # the LLM judge scores in whole points
    picked = near_threshold(rows, default_rule(settings), n, seed, step)
    items = [post_item(r["id"], list(r["symptoms"]), r["style"], r["text"]) for r in picked]
    return items, judge_key(export, picked)


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
    near_threshold: bool = False,
    **load_args: Any,
) -> dict[str, Any]:
    """Write the sample (CSV, Label Studio tasks and config, rubric, key) to `out`; return a summary.
    `load_args` (fmt, text_column, label_column) go to `load_quality_data`. `near_threshold`: posts
    nearest the judge's threshold (kept and dropped) instead of the stratified sample."""
    judge: dict[str, Any] | None
    if near_threshold:
        items, judge = _near_sample(path, n, seed)
    else:
        data = load_quality_data(path, **load_args)
        items = sample_items(data, n, n_subconcepts, seed)
        judge = _judge_key(data, items)
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
    key: dict[str, Any] = {"source": str(path), "seed": seed, "scale": list(SCALE_RANGE), "items": items}
    key["mode"] = "near_threshold" if near_threshold else "stratified"
    if judge is not None:
        key["judge"] = judge
    (out / "sample.json").write_text(json.dumps(key, indent=1, ensure_ascii=False), encoding="utf-8")
    counts: dict[str, int] = defaultdict(int)
    for it in items:
        counts[it["component"]] += 1
    return {"n_items": len(items), "by_component": dict(counts), "out": str(out)}
