"""The funnel of a run: how many posts were asked for, failed, judged, dropped (and why) and kept, and
what the model refused.

Read from `manifest.json` (counts and per-engine usage) and `dropped.parquet` (drop reasons), so a user
sees where their budget went and whether the model declined some symptoms (refusals concentrate on
suicidal ideation with many hosted models, which silently unbalances the set).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

REFUSAL_CLASSES = ("refusal", "content_filter")


def _reason_class(reason: str) -> str:
    match = re.match(r"[a-z_]*", reason)
    return match.group() if match and match.group() else "other"


def funnel(run_dir: Path, manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """Stage counts, drops by reason, failures by class, and a refusal summary; None without a manifest."""
    if not manifest:
        return None
    counts = manifest.get("counts") or {}
    dropped_rows: list[dict[str, Any]] = []
    dropped_file = run_dir / "dropped.parquet"
    if dropped_file.is_file():
        import pyarrow.parquet as pq

        cols = [c for c in ("symptoms", "style", "drop_reason") if c in pq.read_schema(dropped_file).names]
        dropped_rows = pq.read_table(dropped_file, columns=cols).to_pylist()
    failed = dict(counts.get("failed_by_class") or {})
    n_failed = sum(failed.values())
    reasons = dict(
        counts.get("dropped_by_reason")
        or Counter(_reason_class(str(r.get("drop_reason"))) for r in dropped_rows)
    )
    n_dropped = len(dropped_rows) if dropped_file.is_file() else sum(int(v) for v in reasons.values())
    stages = [
        {"stage": "generated (single)", "n": int(counts.get("generated", 0))},
        {"stage": "composed (multi)", "n": int(counts.get("composed", 0))},
        *([{"stage": "negatives", "n": int(counts["negatives"])}] if counts.get("negatives") else []),
        {"stage": "judged", "n": max(int(counts.get("kept", 0)) + n_dropped - n_failed, 0)},
        {"stage": "dropped", "n": n_dropped - n_failed},
        {"stage": "kept", "n": int(counts.get("kept", 0))},
    ]
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
    for r in dropped_rows:
        reason = str(r.get("drop_reason") or "")
        if reason.startswith("request_failed") and any(c in reason for c in REFUSAL_CLASSES):
            by_symptom.update(r.get("symptoms") or ["(unknown)"])
            if len(refusals["examples"]) < 5:
                refusals["examples"].append(reason[:200])
    refusals["by_symptom"] = dict(by_symptom.most_common())
    refusals["total"] = sum(v["refused"] for v in refusals["by_engine"].values())
    return {
        "stages": stages,
        "failed_by_class": failed,
        "dropped_by_reason": reasons,
        "kept_single": counts.get("kept_single"),
        "kept_multi": counts.get("kept_multi"),
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
    import pyarrow.parquet as pq

    out: dict[str, list[float]] = {"kept": [], "dropped": []}
    for key, name in (("kept", "dataset.parquet"), ("dropped", "dropped.parquet")):
        path = run_dir / name
        if path.is_file() and "judge_scores" in pq.read_schema(path).names:
            for cell in pq.read_table(path, columns=["judge_scores"]).column(0).to_pylist():
                out[key].extend(float(v) for _, v in (cell or []) if v is not None)
    return out
