"""`synsym review calibrate`: a thin wrapper over synsym.review.calibrate, and the tables it prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from synsym.cli.app import console
from synsym.cli.quality_cmd import out, review_app


def _ci(f: dict[str, Any], name: str, signed: bool = False) -> str:
    value = f.get(name)
    lo, hi = f.get(f"{name}_ci") or (None, None)
    if value is None:
        return "-"
    text = f"{value:+.3f}" if signed else f"{value:.3f}"
    return text if lo is None or hi is None else f"{text} [{lo:.2f}, {hi:.2f}]"


def agreement_table(figures: dict[str, Any], title: str) -> Table:
    """One row per kind of post and figure: before, after and the paired gain, with intervals."""
    table = Table(title=title, title_justify="left")
    for col in ("posts", "n", "figure", "before", "after", "gain"):
        table.add_column(col, justify="left" if col in ("posts", "figure") else "right")
    for kind, f in figures.items():
        for k, name in enumerate(("kappa", "precision", "recall")):
            table.add_row(
                kind if k == 0 else "",
                str(f["n"]) if k == 0 else "",
                name,
                _ci(f["before"], name),
                _ci(f["after"], name),
                _ci(f["gain"], name, signed=True),
            )
    return table


def curve_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="one threshold for every symptom (positive posts)", title_justify="left")
    for col in ("threshold", "kappa", "precision", "recall", "kept"):
        table.add_column(col, justify="right")
    for r in rows:
        if float(r["threshold"]) % 0.5 == 0:  # the 0.25 steps between add rows, not information
            cells = ["-" if r[k] is None else f"{r[k]:.3f}" for k in ("kappa", "precision", "recall", "kept")]
            table.add_row(f"{r['threshold']:g}", *cells)
    return table


def _thresholds(result: dict[str, Any]) -> None:
    cal = result["calibration"]
    for kind, fit in cal.kinds.items():
        own = ", ".join(f"{s} {t:g}" for s, t in fit.symptoms.items()) or "none"
        pooled = len(fit.pooled_symptoms)
        out.print(
            f"{kind}: pooled {fit.pooled:g} (was {fit.default:g}; {pooled} symptoms use it); own: {own}",
            highlight=False,
        )


@review_app.command("calibrate")
def review_calibrate(
    review_dir: Annotated[Path, typer.Argument(help="The review folder, with ratings imported.")],
    out_file: Annotated[Path, typer.Option("--out", help="The calibration file to write (YAML).")],
    rule: Annotated[
        str, typer.Option("--rule", help="Whose decisions to reproduce: consensus, or one rater's name.")
    ] = "consensus",
    accept: Annotated[int, typer.Option("--accept", help="A rating at or above this accepts a post.")] = 4,
    min_items: Annotated[
        int, typer.Option("--min-items", help="Rated posts a symptom needs for its own threshold.")
    ] = 12,
    reps: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples for the intervals.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON instead.")] = False,
) -> None:
    """Fit the judge's thresholds (per symptom and kind) to the raters' decisions; print agreement before
    and after with 95% bootstrap intervals, and the threshold curve. Use the file as judge.calibration."""
    from synsym.review.calibrate import calibrate

    result = calibrate(review_dir, out_file, rule, accept, min_items, reps)
    report = {k: v for k, v in result.items() if k != "calibration"}
    if as_json:
        typer.echo(json.dumps(report, indent=1))
        return
    cal = result["calibration"]
    console.print(
        f"{cal.n_posts} rated posts, {cal.judge} judge, rule {cal.rule} (accept >= {cal.accept_score}), "
        f"raters {', '.join(cal.raters)}"
    )
    _thresholds(result)
    out.print(agreement_table(result["figures"], "judge vs raters, in-sample (95% bootstrap intervals)"))
    for pair, f in result["raters"].items():
        out.print(f"raters {pair}: kappa {_ci(f, 'kappa')} on {f['n']} posts", highlight=False)
    out.print(curve_table(result["curve"]))
    console.print(
        f"wrote {out_file} and {review_dir / 'calibration.json'}; use it: judge.calibration: {out_file}"
    )
