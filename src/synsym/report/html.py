"""`synsym report`: one self-contained HTML file about a dataset: the funnel, label distribution,
co-occurrence, diversity beside a reference, judge scores, shortcut flags, a filterable sample of posts,
and the classifier results table when the run has one.

Everything is inline (base64 PNG plots, a small style block, a few lines of JS for the sample filter), so
the file can be mailed, attached to a paper's supplement or opened from disk with no server and no
network. All text from the data is HTML-escaped.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Any

from synsym.quality.balance import tokens
from synsym.quality.data import QualityData, load_quality_data
from synsym.quality.diversity import FIGURES
from synsym.quality.funnel import judge_scores
from synsym.quality.inspect import inspect_dataset, write_quality
from synsym.quality.shortcuts import flag_summary
from synsym.report import plots

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:1em 2em;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{background:#f4f6fa;border-radius:6px;padding:.6em 1em}
.card b{display:block;font-size:1.4em}table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border-bottom:1px solid #e3e3e3;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#fafafa}td.num{text-align:right}.flag{color:#b35900;font-weight:600}
img.plot{max-width:100%;margin:.4em 0}.grid img.plot{max-width:49%}
.grid{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
#filters{display:flex;gap:.6em;flex-wrap:wrap;margin:.5em 0}#filters select,#filters input{padding:.2em}
.muted{color:#777;font-size:.85em}
"""

JS = """
function filterSamples(){
  var s=document.getElementById('f-symptom').value, st=document.getElementById('f-style').value,
      k=document.getElementById('f-kind').value,
      q=document.getElementById('f-text').value.toLowerCase(), shown=0;
  document.querySelectorAll('#samples tbody tr').forEach(function(tr){
    var ok=(!s||tr.dataset.symptoms.split('|').indexOf(s)>=0)&&(!st||tr.dataset.style===st)&&
           (!k||tr.dataset.kind===k)&&(!q||tr.textContent.toLowerCase().indexOf(q)>=0);
    tr.style.display=ok?'':'none'; if(ok){shown++;}
  });
  document.getElementById('f-count').textContent=shown+' shown';
}
document.addEventListener('DOMContentLoaded',filterSamples);
"""


def _table(header: list[str], rows: list[list[Any]], attrs: str = "") -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c:.3f}</td>' if isinstance(c, float) else f"<td>{escape(str(c))}</td>"
            for c in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table {attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(src: str, alt: str) -> str:
    return f'<img class="plot" alt="{escape(alt)}" src="{src}">'


def find_results(run_dir: Path | None) -> Path | None:
    """A classifier results table (`table.csv` as `synsym experiment` writes) in the run or one level down."""
    if run_dir is None:
        return None
    for pattern in ("table.csv", "*/table.csv", "*/*/table.csv"):
        found = sorted(run_dir.glob(pattern))
        if found:
            return found[0]
    return None


def _results_section(path: Path) -> str:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return ""
    note = path.parent / "table.md"
    caption = note.read_text(encoding="utf-8").splitlines()[0] if note.is_file() else ""
    return (
        '<h2 id="classifiers">Classifier results</h2>'
        f'<p class="muted">{escape(caption)} From {escape(str(path))}.</p>'
        + _table(rows[0], rows[1:], 'id="results"')
    )


def sample_rows(data: QualityData, per_cell: int = 15, seed: int = 0) -> list[int]:
    """Up to `per_cell` posts per (symptom, style), seeded; a multi-symptom post counts for each symptom."""
    cells: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i in range(len(data)):
        for s in data.symptoms_of(i):
            cells[(s, data.styles[i] or "")].append(i)
    rng = random.Random(seed)
    chosen: set[int] = set()
    for key in sorted(cells):
        idx = cells[key]
        chosen.update(rng.sample(idx, min(per_cell, len(idx))))
    return sorted(chosen)


def _samples_section(data: QualityData, per_cell: int) -> str:
    rows = sample_rows(data, per_cell)
    styles = sorted({data.styles[i] or "" for i in rows} - {""})

    def opts(vals: list[str]) -> str:
        return '<option value="">all</option>' + "".join(
            f'<option value="{escape(v)}">{escape(v)}</option>' for v in vals
        )

    body = []
    for i in rows:
        syms = data.symptoms_of(i)
        kind = "single" if len(syms) == 1 else "multi"
        score = data.judge_scores[i]
        judge = ", ".join(f"{v:g}" for v in score.values()) if score else ""
        body.append(
            f'<tr data-symptoms="{escape("|".join(syms))}" data-style="{escape(data.styles[i] or "")}" '
            f'data-kind="{kind}"><td>{escape(", ".join(syms))}</td><td>{escape(data.styles[i] or "")}</td>'
            f"<td>{kind}</td><td>{escape(data.subconcepts[i] or '')}</td><td>{escape(judge)}</td>"
            f"<td>{escape(data.texts[i])}</td></tr>"
        )
    return f"""<h2 id="samples-h">Sample posts</h2>
<p class="muted">Up to {per_cell} posts per symptom and style ({len(rows)} of {len(data)}); filter below.</p>
<div id="filters">
<label>symptom <select id="f-symptom" onchange="filterSamples()">{opts(data.label_names)}</select></label>
<label>style <select id="f-style" onchange="filterSamples()">{opts(styles)}</select></label>
<label>kind <select id="f-kind" onchange="filterSamples()">{opts(["single", "multi"])}</select></label>
<label>text <input id="f-text" oninput="filterSamples()" placeholder="search"></label>
<span id="f-count"></span></div>
<table id="samples"><thead><tr><th>symptoms</th><th>style</th><th>kind</th><th>sub-concept</th><th>judge</th>
<th>text</th></tr></thead><tbody>{"".join(body)}</tbody></table>"""


def _calibration_section(manifest: dict[str, Any]) -> str:
    """A calibrated run: the fitted thresholds, agreement before and after, and the curve."""
    cal = manifest.get("calibration")
    if not cal:
        return ""
    agreement = cal.get("agreement") or {}
    rows = [
        [
            kind,
            f["n"],
            *(f[side][k] for side in ("before", "after") for k in ("kappa", "precision", "recall")),
        ]
        for kind, f in agreement.items()
        if isinstance(f, dict) and "before" in f
    ]
    head = ["posts", "n", "kappa before", "precision before", "recall before"]
    head += ["kappa after", "precision after", "recall after"]
    fits = [[k, f["pooled"], f["default"], ", ".join(f"{s} {t:g}" for s, t in f["symptoms"].items())]
            for k, f in cal["kinds"].items()]  # fmt: skip
    html = f'<h2 id="calibration">Judge calibration</h2><p>{escape(str(cal["n_posts"]))} posts rated by '
    html += f"{escape(', '.join(cal['raters']))} ({escape(cal['rule'])}); figures in-sample.</p>"
    html += _table(["kind", "pooled", "default", "per symptom"], fits) + _table(head, rows)
    positive, curve = cal["kinds"].get("positive"), agreement.get("curve")
    if positive and curve:
        html += _img(plots.calibration_plot(curve, positive["default"], positive["pooled"]), "calibration")
    return html


def render_report(
    data: QualityData, quality: dict[str, Any], results: Path | None = None, per_cell: int = 15
) -> str:
    """The HTML text of the report for `data` and its `inspect` result."""
    bal, names = quality["balance"], data.label_names
    parts = [f"<h1>synsym report: {escape(data.source)}</h1>"]
    parts.append(
        '<div class="cards">'
        + "".join(
            f'<div class="card"><b>{escape(str(v))}</b>{escape(k)}</div>'
            for k, v in [
                ("posts", bal["n_posts"]),
                ("single-symptom", bal["single"]),
                ("multi-symptom", bal["multi"]),
                ("labels per post", bal["labels_per_post"]),
                ("symptoms", len(names)),
                ("distinct-2", quality["diversity"]["overall"]["distinct_2"]),
                ("keyword shortcuts", len(quality["shortcuts"]["flagged"])),
            ]
        )
        + "</div>"
    )
    fun = quality.get("funnel")
    if fun:
        rows = [[f"{s['stage']}: dropped {k}", v] for s in fun["stages"] for k, v in s["dropped"].items()]
        rows += [
            [f"{s['stage']}: request failed ({k})", v] for s in fun["stages"] for k, v in s["failed"].items()
        ]
        ref = fun["refusals"]
        parts.append(
            '<h2 id="funnel">Funnel</h2><div class="grid">'
            + _img(plots.funnel_plot([*fun["steps"], {"step": "kept", "n": fun["kept"]}]), "funnel")
            + _table(["dropped / failed", "posts"], rows or [["none", 0]])
            + "</div>"
        )
        parts.append(
            f"<p>Refusals: {ref['total']}"
            + (
                " (by symptom: " + ", ".join(f"{k} {v}" for k, v in ref["by_symptom"].items()) + ")"
                if ref["by_symptom"]
                else ""
            )
            + (
                f"; copies of the prompts' examples: {fun['copy_rate']:.1%} of posts written (dropped)"
                if fun.get("copy_rate") is not None
                else ""
            )
            + "</p>"
        )
    per_style: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    lengths: dict[str, list[int]] = defaultdict(list)
    for i in range(len(data)):
        style = data.styles[i] or "(none)"
        lengths[style].append(len(tokens(data.texts[i])))
        for s in data.symptoms_of(i):
            per_style[s][style] += 1
    parts.append(
        '<h2 id="balance">Balance</h2><div class="grid">'
        + _img(plots.label_plot(per_style, names), "label distribution")
        + _img(
            plots.heatmap(bal["cooccurrence"], names, "Co-occurrence (posts with both)"),
            "co-occurrence heatmap",
        )
        + _img(plots.length_plot(lengths), "length distribution")
        + "</div>"
    )
    prior = quality.get("prior")
    if prior and prior.get("tvd") is not None:
        over = ", ".join(" + ".join(p["pair"]) + f" (+{p['diff']:.3f})" for p in prior["over"][:5])
        parts.append(
            f"<p>Pair co-occurrence vs the prior <b>{escape(prior['prior'])}</b>: total variation distance "
            f"{prior['tvd']:.3f} over {prior['observed_multi']} multi-symptom posts. Most over-represented: "
            f"{escape(over or '-')}. Pairs outside the prior: {len(prior['outside_prior'])}.</p>"
        )
    div = quality["diversity"]
    refdiv = (quality.get("reference") or {}).get("diversity")
    parts.append(
        '<h2 id="diversity">Diversity</h2>' + _img(plots.diversity_plot(div, refdiv, names), "diversity")
    )
    keys = list(FIGURES)
    drows = [
        [g, div[g].get("n", "")] + [div[g].get(k, "-") if div[g].get(k) is not None else "-" for k in keys]
        for g in ["overall", *names]
        if g in div
    ]
    if refdiv:
        drows.insert(
            1,
            ["reference overall", refdiv["overall"].get("n", "")]
            + [refdiv["overall"].get(k, "-") for k in keys],
        )
    heads = [
        "distinct-1",
        "distinct-2",
        "distinct-3",
        "self-BLEU",
        "vocabulary",
        "pairwise distance",
        "nn similarity",
    ]
    parts.append(_table(["group", "posts", *heads], drows, 'id="diversity-table"'))
    sc = quality["shortcuts"]
    parts.append(
        '<h2 id="shortcuts">Keyword shortcuts</h2>'
        "<p>A rule that fires on a symptom's own name and definition "
        f"words reaches macro-F1 {sc['macro_f1']:.3f}; "
        f'<span class="flag">{escape(flag_summary(sc))}</span>.</p>'
    )
    parts.append(
        _table(
            ["symptom", "posts", "precision", "recall", "F1", "top words", "flag"],
            [
                [
                    n,
                    v["positives"],
                    v["precision"],
                    v["recall"],
                    v["f1"],
                    " ".join(v["top_words"]),
                    "keyword" if v["flagged"] else "",
                ]
                for n, v in sc["per_label"].items()
            ],
        )
    )
    contrast = quality.get("contrast")
    if contrast:
        kinds = ", ".join(f"{k} {v}" for k, v in contrast["by_kind"].items())
        parts.append(
            '<h2 id="contrast">Contrastive rewrites</h2>'
            f"<p>{contrast['rewrites']:,} rewrites ({kinds}), each a post with one dimension of what its "
            "labels mean changed; a sample beside their sources:</p>"
        )
        parts.append(
            _table(
                ["kind", "removed", "kept", "source", "rewrite"],
                [
                    [
                        p["kind"],
                        ", ".join(p["removed"]),
                        ", ".join(p["kept"]) or "-",
                        p["source"] or "",
                        p["rewrite"],
                    ]
                    for p in contrast["pairs"]
                ],
                'id="contrast-pairs"',
            )
        )
    if data.run_dir is not None:
        scores = judge_scores(data.run_dir)
        if any(scores.values()):
            parts.append('<h2 id="judge">Judge scores</h2>' + _img(plots.judge_plot(scores), "judge scores"))
        parts.append(_calibration_section(data.manifest or {}))
    leak = quality.get("leakage")
    if leak:
        parts.append(
            f'<h2 id="leakage">Leakage vs {escape(leak["source"])}</h2>'
            + _table(
                ["n-gram", "synthetic posts sharing", "real texts sharing", "synthetic n-grams in real"],
                [
                    [
                        g["n"],
                        g["synthetic_posts_sharing"],
                        g["real_texts_sharing"],
                        g["synthetic_ngrams_in_real"],
                    ]
                    for g in leak["ngram"]
                ],
            )
        )
        if leak.get("embedding"):
            parts.append(
                _table(
                    ["similarity", "real", "synthetic"],
                    [
                        [p["similarity"], p["real"], p["synthetic"]]
                        for p in leak["embedding"]["closest_pairs"]
                    ],
                )
            )
    if results is not None and results.is_file():
        parts.append(_results_section(results))
    parts.append(_samples_section(data, per_cell))
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(f'<p class="muted">Made by synsym report on {stamp}; figures also in quality.json.</p>')
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>synsym report</title>'
        f"<style>{CSS}</style><script>{JS}</script></head><body>{''.join(parts)}</body></html>"
    )


def build_report(
    path: str | Path,
    out: Path | None = None,
    reference: str | Path | None = None,
    results: Path | None = None,
    against_real: str | Path | None = None,
    embed: bool = True,
    per_cell: int = 15,
    load_args: dict[str, Any] | None = None,
    **inspect_args: Any,
) -> tuple[Path, dict[str, Any]]:
    """Inspect `path`, render the report and write it (default RUN_DIR/report.html or ./report.html),
    with quality.json beside it. `load_args` (fmt, text_column, label_column) go to `load_quality_data`."""
    data = load_quality_data(path, **(load_args or {}))
    quality = inspect_dataset(data, reference, against_real, embed=embed, **inspect_args)
    out = out or (Path(path) / "report.html" if Path(path).is_dir() else Path("report.html"))
    html = render_report(data, quality, results or find_results(data.run_dir), per_cell)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    write_quality(quality, out.with_name("quality.json"))
    return out, quality
