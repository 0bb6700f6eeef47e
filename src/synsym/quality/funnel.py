"""The funnel of a run: what each stage made, which requests failed, what was dropped (and why) and kept,
and what the model refused.

Counted from the run's rows (`dataset.parquet` and `dropped.parquet`) over the stage list in its
`manifest.json`, by the same `synsym.core.funnel.funnel_counts` the CLI and the dataset card use, so a
user sees where their budget went and whether the model declined some symptoms (refusals concentrate on
suicidal ideation with many hosted models, which silently unbalances the set).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from synsym.core.columns import Post
from synsym.core.dataset import read_export
from synsym.core.funnel import funnel_counts

REFUSAL_CLASSES = ("refusal", "content_filter")


def run_rows(run_dir: Path) -> list[Post]:
    """Every row of a run: kept, then dropped."""
    rows: list[Post] = []
    for name in ("dataset.parquet", "dropped.parquet"):
        if (run_dir / name).is_file():
            rows += read_export(run_dir / name).rows
    return rows


def funnel(run_dir: Path, manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """Per-stage counts, the funnel's steps, drops and failures by class, and a refusal summary; None
    without a manifest."""
    if not manifest:
        return None
    rows = run_rows(run_dir)
    counts = funnel_counts(rows, manifest.get("stages") or [])
    usage = manifest.get("usage") or {}
    refusals: dict[str, Any] = {"by_engine": {}, "by_symptom": {}, "examples": []}
    for engine, meter in usage.items():
        fails = (meter or {}).get("failures") or {}
        n = sum(int(fails.get(c, 0)) for c in REFUSAL_CLASSES)
        calls = int((meter or {}).get("calls", 0))
        refusals["by_engine"][engine] = {
            "refused": n,
            "calls": calls,
            "share": round(n / calls, 4) if calls else 0.0,
        }
    by_symptom: Counter[str] = Counter()
    for r in rows:
        if r["drop_class"] in REFUSAL_CLASSES:
            by_symptom.update(r["symptoms"] or ["(none)"])
            if len(refusals["examples"]) < 5:
                refusals["examples"].append(f"{r['drop_class']}: {(r['drop_detail'] or '')[:200]}")
    refusals["by_symptom"] = dict(by_symptom.most_common())
    refusals["total"] = sum(v["refused"] for v in refusals["by_engine"].values())
    written = counts["steps"][0]["n"] if counts["steps"] else 0
    copies = counts["dropped_by_class"].get("example_copy", 0)
    return {
        **counts,
        # posts that repeated a prompt's few-shot example or a seed text, of all posts written
        "copy_rate": round(copies / written, 4) if written else None,
        "usage": {
            e: {
                k: m.get(k)
                for k in ("calls", "cache_hits", "prompt_tokens", "completion_tokens", "cost", "failures")
            }
            for e, m in usage.items()
            if isinstance(m, dict)
        },
        "refusals": refusals,
        "wall_seconds": manifest.get("wall_seconds"),
    }


def judge_scores(run_dir: Path) -> dict[str, list[float]]:
    """Every judged (post, symptom) score of a run, kept and dropped, for the report's histograms."""
    out: dict[str, list[float]] = {"kept": [], "dropped": []}
    for key, name in (("kept", "dataset.parquet"), ("dropped", "dropped.parquet")):
        if (run_dir / name).is_file():
            for row in read_export(run_dir / name).rows:
                out[key].extend(float(v) for v in row["judge_scores"].values() if v is not None)
    return out
