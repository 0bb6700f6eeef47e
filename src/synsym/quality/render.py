"""Terminal tables for an `inspect` result: the figures a person reads first, the rest in quality.json."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from synsym.quality.diversity import FIGURES
from synsym.quality.shortcuts import flag_summary


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def render_quality(result: dict[str, Any], console: Console) -> None:
    """Print balance, diversity (beside the reference when given), shortcuts, funnel, prior, leakage."""
    _print_balance(result["source"], result["balance"], console)
    console.print(_symptom_table(result))
    ref = (result.get("reference") or {}).get("diversity") or {}
    if ref:
        console.print(_reference_table(result, ref))
    if result["shortcuts"]["flagged"] or "fewer posts" in flag_summary(result["shortcuts"]):
        console.print(f"[yellow]keyword shortcuts[/]: {flag_summary(result['shortcuts'])}", highlight=False)
    if result.get("funnel"):
        console.print(_funnel_line(result["funnel"]), highlight=False)
    contrast = result.get("contrast")
    if contrast:
        kinds = ", ".join(f"{k} {v}" for k, v in contrast["by_kind"].items())
        console.print(f"contrastive rewrites: {contrast['rewrites']} ({kinds})", highlight=False)
    prior = result.get("prior")
    if prior and prior.get("tvd") is not None:
        over = ", ".join(" + ".join(p["pair"]) for p in prior["over"][:3])
        console.print(
            f"co-occurrence vs prior {prior['prior']}: total variation {prior['tvd']:.3f}; "
            f"most over-represented: "
            f"{over or '-'}; pairs outside the prior: {len(prior['outside_prior'])}",
            highlight=False,
        )
    if result.get("leakage"):
        _print_leakage(result["leakage"], console)


def _print_balance(source: str, bal: dict[str, Any], console: Console) -> None:
    """The headline: how many posts, how many symptoms each, how lopsided the labels, how long the posts,
    and the styles used."""
    console.print(
        f"[bold]{source}[/]: {bal['n_posts']} posts, {bal['single']} single-symptom, "
        f"{bal['multi']} multi-symptom"
        + (f", {bal['no_label']} without a label" if bal["no_label"] else "")
        + f", {bal['labels_per_post']} labels/post, "
        f"imbalance (max/min) {bal['imbalance_ratio']}; words/post mean {bal['length_words']['mean']} "
        f"(p5 {bal['length_words']['p5']}, p95 {bal['length_words']['p95']})",
        highlight=False,
    )
    if bal["per_style"]:
        console.print(
            "styles: " + ", ".join(f"{k} {v}" for k, v in bal["per_style"].items()), highlight=False
        )


def _symptom_table(result: dict[str, Any]) -> Table:
    """One row per symptom (and `overall`): posts, diversity and the keyword-shortcut F1, so a symptom
    that is scarce, repetitive or guessable from one word stands out."""
    bal, div, short = result["balance"], result["diversity"], result["shortcuts"]["per_label"]
    table = Table(title="per symptom", title_justify="left")
    table.add_column("symptom", no_wrap=True)
    for col in ("posts", "single", "dist-2", "sBLEU", "nn-sim", "kw-F1", "flag"):
        table.add_column(col, justify="right", no_wrap=True)
    for name in ["overall", *result["label_names"]]:
        d = div.get(name, {})
        s = short.get(name, {})
        table.add_row(
            name,
            str(bal["n_posts"] if name == "overall" else bal["per_symptom"][name]),
            str(bal["single"] if name == "overall" else bal["per_symptom_single"][name]),
            _fmt(d.get("distinct_2")),
            _fmt(d.get("self_bleu")),
            _fmt(d.get("mean_nn_similarity")),
            _fmt(s.get("f1") if name != "overall" else result["shortcuts"]["macro_f1"]),
            "keyword" if s.get("flagged") else "",
        )
    return table


def _reference_table(result: dict[str, Any], ref: dict[str, Any]) -> Table:
    """This set's overall diversity figures beside the reference set's, figure by figure."""
    cmp = Table(title=f"diversity vs reference {result['reference']['source']}", title_justify="left")
    for col in ("figure", "this set", "reference"):
        cmp.add_column(col, justify="left" if col == "figure" else "right")
    for key in FIGURES:
        cmp.add_row(key, _fmt(result["diversity"]["overall"].get(key)), _fmt(ref.get("overall", {}).get(key)))
    return cmp


def _funnel_line(fun: dict[str, Any]) -> str:
    """Where the posts went, step by step, and why the others were dropped or failed."""
    return (
        "funnel: "
        + " -> ".join(f"{s['step']} {s['n']}" for s in fun["steps"])
        + f" -> kept {fun['kept']}; dropped: "
        + (", ".join(f"{k} {v}" for k, v in fun["dropped_by_class"].items()) or "none")
        + "; failed: "
        + (", ".join(f"{k} {v}" for k, v in fun["failed_by_class"].items()) or "none")
        + f"; refusals: {fun['refusals']['total']}"
        + (f"; copies of examples: {fun['copy_rate']:.1%} of posts written" if fun.get("copy_rate") else "")
    )


def _print_leakage(leak: dict[str, Any], console: Console) -> None:
    """How much of the real set the synthetic posts echo: shared n-grams, then (with embeddings) the
    nearest pairs, so a copied post can be read, not just counted."""
    grams = "; ".join(
        f"{g['n']}-grams: {g['synthetic_posts_sharing']:.1%} of synthetic posts share one"
        for g in leak["ngram"]
    )
    console.print(f"leakage vs {leak['source']} ({leak['n_real']} texts): {grams}", highlight=False)
    emb = leak.get("embedding")
    if emb:
        console.print(
            f"  nearest synthetic post: mean similarity {emb['mean_nearest_similarity']:.3f}, "
            f"max {emb['max_nearest_similarity']:.3f}, "
            f"{emb['real_share_at_or_above']:.1%} >= {emb['threshold']}",
            highlight=False,
        )
        for pair in emb["closest_pairs"][:3]:
            console.print(f"  {pair['similarity']:.3f}  real: {pair['real'][:90]!r}", highlight=False)
            console.print(f"         synthetic: {pair['synthetic'][:90]!r}", highlight=False)
