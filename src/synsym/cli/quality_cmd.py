"""`synsym inspect`, `synsym review export|import|report`, `synsym report`: thin wrappers over
synsym.quality, synsym.review and synsym.report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from synsym.cli.app import app, console

out = Console(soft_wrap=True)
if not out.is_terminal:  # piped or captured: wide enough for full symptom names and every column
    out.width = max(out.width, 120)
review_app = typer.Typer(
    help="Expert review: export a sample, import ratings, report agreement, calibrate the judge.",
    no_args_is_help=True,
)
app.add_typer(review_app, name="review")

Source = Annotated[Path, typer.Argument(help="A run directory or a dataset file (CSV, JSONL, Parquet).")]
NoEmbed = Annotated[bool, typer.Option("--no-embed", help="Skip MiniLM embedding figures (much faster).")]
Reference = Annotated[Path | None, typer.Option("--reference", help="A dataset to compare diversity with.")]
AgainstReal = Annotated[
    Path | None, typer.Option("--against-real", help="A real evaluation set to check for leakage against.")
]


FormatOption = Annotated[
    str, typer.Option("--format", help="Dataset layout, as for `synsym train` (default: auto).")
]
TextColumn = Annotated[str | None, typer.Option("--text-column", help="Column holding the text.")]
LabelColumn = Annotated[str | None, typer.Option("--label-column", help="Column holding the labels.")]


@app.command()
def inspect(
    source: Source,
    reference: Reference = None,
    against_real: AgainstReal = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="quality.json path (default RUN_DIR/quality.json or ./quality.json)."),
    ] = None,
    no_embed: NoEmbed = False,
    embed_sample: Annotated[
        int, typer.Option("--embed-sample", help="Posts encoded for embedding figures.")
    ] = 3000,
    taxonomy: Annotated[
        str | None,
        typer.Option(
            "--taxonomy", help="Taxonomy for definition words (default: the run's, or depression-14)."
        ),
    ] = None,
    fmt: FormatOption = "auto",
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
) -> None:
    """Balance, diversity, shortcuts, leakage and (run directory) the funnel; writes quality.json."""
    from synsym.quality.inspect import write_inspection
    from synsym.quality.render import render_quality

    load = {"fmt": fmt, "text_column": text_column, "label_column": label_column}
    result, path = write_inspection(source, out_file, reference, against_real, load, embed=not no_embed,
                                    taxonomy=taxonomy, embed_sample=embed_sample)  # fmt: skip
    render_quality(result, out)
    console.print(f"wrote {path} ({result['seconds']} s)")


@review_app.command("export")
def review_export(
    source: Source,
    out_dir: Annotated[Path, typer.Option("--out", help="Review folder to write.")],
    n: Annotated[int, typer.Option("--n", help="Posts to sample (stratified).")] = 300,
    n_subconcepts: Annotated[
        int | None, typer.Option("--n-subconcepts", help="Sub-concepts to sample (default n/5).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    near_threshold: Annotated[
        bool,
        typer.Option(
            "--near-threshold",
            help="Sample posts nearest the judge's threshold, dropped ones too (for `review calibrate`).",
        ),
    ] = False,
    fmt: FormatOption = "auto",
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
) -> None:
    """Write a stratified sample (or one near the judge's threshold) as items.csv and a Label Studio
    project, with the rubric."""
    from synsym.review.sample import export_review

    load = {"fmt": fmt, "text_column": text_column, "label_column": label_column}
    summary = export_review(source, out_dir, n, n_subconcepts, seed, near_threshold, **load)
    parts = ", ".join(f"{k} {v}" for k, v in summary["by_component"].items())
    console.print(
        f"wrote {summary['n_items']} items ({parts}) to {out_dir}: items.csv, labelstudio_tasks.json, "
        "labelstudio_config.xml, rubric.md, sample.json"
    )


@review_app.command("import")
def review_import(
    review_dir: Annotated[Path, typer.Argument(help="The folder `review export` wrote.")],
    files: Annotated[
        list[Path], typer.Argument(help="One file per rater: filled items.csv or Label Studio JSON.")
    ],
    names: Annotated[
        list[str] | None, typer.Option("--name", help="Rater name per file, in order (default: file stem).")
    ] = None,
) -> None:
    """Validate each rater's scores against the sample and store them under DIR/ratings/."""
    from synsym.review.agreement import import_ratings

    counts = import_ratings(review_dir, files, names)
    console.print("imported " + ", ".join(f"{k}: {v} scores" for k, v in counts.items()))


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


@review_app.command("report")
def review_report(
    review_dir: Annotated[Path, typer.Argument(help="The review folder, with ratings imported.")],
    low: Annotated[int, typer.Option("--low", help="List items any rater scored at or below this.")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead.")] = False,
) -> None:
    """Per component: mean score per rater, percent agreement, Cohen's kappa, weighted kappa, low items."""
    from synsym.review.agreement import write_agreement_report

    rep = write_agreement_report(review_dir, low)
    if as_json:
        typer.echo(json.dumps(rep, indent=1, ensure_ascii=False))
        return
    table = Table(title="expert review", title_justify="left")
    for col in (
        "component",
        "items",
        *[f"mean {r}" for r in rep["raters"]],
        "agreement",
        "kappa",
        "weighted kappa",
        "low",
    ):
        table.add_column(col, justify="left" if col == "component" else "right")
    for comp, c in rep["components"].items():
        table.add_row(
            comp,
            str(c["items"]),
            *[_f(c["mean_by_rater"][r]) for r in rep["raters"]],
            _f(c["percent_agreement"]),
            _f(c["kappa"]),
            _f(c["quadratic_kappa"]),
            str(len(c["low_items"])),
        )
    out.print(table)
    for comp, c in rep["components"].items():
        for item in c["low_items"][:10]:
            out.print(f"low {comp} {item['item_id']} {item['scores']}: {item['text'][:100]}", highlight=False)
    console.print(f"wrote {review_dir / 'agreement.json'}")


@app.command()
def report(
    source: Source,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="HTML file (default RUN_DIR/report.html or ./report.html).")
    ] = None,
    reference: Reference = None,
    against_real: AgainstReal = None,
    results: Annotated[
        Path | None,
        typer.Option("--results", help="Classifier table.csv (default: found in the run directory)."),
    ] = None,
    no_embed: NoEmbed = False,
    per_cell: Annotated[int, typer.Option("--per-cell", help="Sample posts per symptom and style.")] = 15,
    fmt: FormatOption = "auto",
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
) -> None:
    """Write one self-contained HTML report (plots inline, opens from disk) and quality.json beside it."""
    from synsym.report.html import build_report

    load = {"fmt": fmt, "text_column": text_column, "label_column": label_column}
    path, _ = build_report(
        source, out_file, reference, results, against_real, not no_embed, per_cell, load_args=load
    )
    console.print(f"wrote {path} and {path.with_name('quality.json')}")
