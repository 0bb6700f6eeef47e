"""The report's plots: matplotlib figures rendered to base64 PNG, so the HTML carries them inline and
opens from disk with no server and no external assets."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _short(name: str, n: int = 22) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"


def funnel_plot(steps: Sequence[dict[str, Any]]) -> str:
    """Rows written, then what is left after each filtering stage, then kept: widest at the top."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(steps) + 1.0))
    names = [s["step"] for s in steps]
    ax.barh(names[::-1], [s["n"] for s in steps][::-1], color="#4c78a8")
    for y, s in enumerate(steps[::-1]):
        ax.text(s["n"], y, f" {s['n']}", va="center")
    ax.set_xlabel("rows")
    ax.set_title("Funnel")
    return _png(fig)


def label_plot(per_symptom_style: dict[str, dict[str, int]], names: Sequence[str]) -> str:
    """Posts per symptom, stacked by style."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(names) + 1.2))
    styles = sorted({s for counts in per_symptom_style.values() for s in counts})
    left = np.zeros(len(names))
    for k, style in enumerate(styles):
        vals = np.array([per_symptom_style.get(n, {}).get(style, 0) for n in names])
        ax.barh([_short(n) for n in names], vals, left=left, label=style, color=f"C{k}")
        left += vals
    ax.invert_yaxis()
    ax.set_xlabel("posts holding the symptom")
    ax.set_title("Label distribution")
    if len(styles) > 1:
        ax.legend(frameon=False, loc="lower right")
    return _png(fig)


def heatmap(matrix: Sequence[Sequence[float]], names: Sequence[str], title: str) -> str:
    """Co-occurrence counts; the diagonal (a symptom with itself) is blanked so pairs stay readable."""
    plt = _plt()
    m = np.array(matrix, dtype=float)
    np.fill_diagonal(m, np.nan)
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    im = ax.imshow(m, cmap="viridis")
    short = [_short(n, 16) for n in names]
    ax.set_xticks(range(len(names)), short, rotation=60, ha="right")
    ax.set_yticks(range(len(names)), short)
    fig.colorbar(im, ax=ax, shrink=0.8, label="posts")
    ax.set_title(title)
    return _png(fig)


def diversity_plot(div: dict[str, Any], ref: dict[str, Any] | None, names: Sequence[str]) -> str:
    """distinct-2 and mean nearest-neighbour similarity per symptom, beside the reference when given."""
    plt = _plt()
    metrics = [
        ("distinct_2", "distinct-2 (higher = more varied)"),
        ("self_bleu", "self-BLEU (lower = more varied)"),
    ]
    if any(div.get(n, {}).get("mean_nn_similarity") is not None for n in ["overall", *names]):
        metrics.append(("mean_nn_similarity", "nearest-neighbour similarity (lower = more varied)"))
    rows = ["overall", *names]
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(3.3 * len(metrics), 0.28 * len(rows) + 1.4), sharey=True
    )
    y = np.arange(len(rows))
    for ax, (key, label) in zip(np.atleast_1d(axes), metrics, strict=True):
        this = [div.get(r, {}).get(key) or 0 for r in rows]
        h = 0.4 if ref else 0.8
        ax.barh(y - (h / 2 if ref else 0), this, height=h, label="this set", color="C0")
        if ref:
            other = [ref.get(r, {}).get(key) or 0 for r in rows]
            ax.barh(y + h / 2, other, height=h, label="reference", color="C1")
        ax.set_title(label, fontsize=8)
        ax.set_yticks(y, [_short(r) for r in rows])
    np.atleast_1d(axes)[0].invert_yaxis()
    if ref:
        handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.06), ncol=2, frameon=False)
    return _png(fig)


def judge_plot(scores: dict[str, list[float]]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 2.6))
    bins = np.linspace(0, 5, 21)
    for k, (key, vals) in enumerate(scores.items()):
        if vals:
            ax.hist(vals, bins=bins, alpha=0.7, label=f"{key} ({len(vals):,} pairs)", color=f"C{k + 2}")
    ax.set_xlabel("judge score per (post, symptom) pair, 0-5")
    ax.set_ylabel("(post, symptom) pairs")
    ax.set_title("Judge scores")
    ax.legend(frameon=False)
    return _png(fig)


def calibration_plot(curve: Sequence[dict[str, Any]], default: float, fitted: float) -> str:
    """Agreement with the raters at every threshold (one for every symptom), the run's default and the
    pooled threshold `review calibrate` fitted marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ts = [r["threshold"] for r in curve]
    for k, name in enumerate(("kappa", "precision", "recall", "kept")):
        vals = [np.nan if r[name] is None else r[name] for r in curve]
        ax.plot(ts, vals, marker="o", ms=3, label=name, color=f"C{k}", ls="--" if name == "kept" else "-")
    ax.axvline(default, color="grey", lw=1, ls=":", label=f"default {default:g}")
    ax.axvline(fitted, color="black", lw=1, label=f"fitted (pooled) {fitted:g}")
    ax.set_xlabel("judge threshold for positive posts")
    ax.set_title("Judge vs raters by threshold (the calibration sample)")
    ax.legend(frameon=False, fontsize=7, ncol=3)
    return _png(fig)


def length_plot(lengths_by_style: dict[str, list[int]]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 2.6))
    top = max((max(v) for v in lengths_by_style.values() if v), default=1)
    bins = np.linspace(0, top + 1, 30)
    for k, (style, vals) in enumerate(sorted(lengths_by_style.items())):
        ax.hist(vals, bins=bins, alpha=0.6, label=style, color=f"C{k}")
    ax.set_xlabel("words per post")
    ax.set_title("Post length")
    ax.legend(frameon=False)
    return _png(fig)
