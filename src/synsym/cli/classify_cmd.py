"""`synsym train | predict | evaluate | experiment`: thin wrappers over synsym.classify."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from synsym.cli.app import SetOption, app, console, renamed, required

FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        help="auto, table, synsym, synsym-paper, psysym, primate, d2s, cssrs or control "
        "(see docs/classifiers.md).",
    ),
]
TextColumn = Annotated[str | None, typer.Option("--text-column", help="Column holding the text.")]
LabelColumn = Annotated[
    str | None,
    typer.Option("--label-column", help="Column holding a multi-hot list or a list of label names."),
]


@app.command()
def train(
    train_file: Annotated[
        Path, typer.Option("--train", help="Labelled training file (with --format control: a taxonomy).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    model: Annotated[str, typer.Option("--model", help="tfidf, embed or finetune.")] = "tfidf",
    val: Annotated[
        Path | None, typer.Option("--val", help="Validation file (default: 10% split off --train).")
    ] = None,
    init: Annotated[
        Path | None, typer.Option("--init", help="Continue training this saved model (synthetic-then-real).")
    ] = None,
    dev: Annotated[
        Path | None,
        typer.Option(
            "--dev",
            help="A small labelled set of real posts (any layout `auto` reads): selects the model "
            "(c grid, early stopping) and sets thresholds; never trained on.",
        ),
    ] = None,
    fmt: FormatOption = "auto",
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    label_space: Annotated[
        str | None, typer.Option("--label-space", help="Map gold labels into this space first, e.g. phq9.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Train on a seeded subsample of N rows.")
    ] = None,
    overrides: SetOption = None,
) -> None:
    """Train a symptom classifier and save it; `--set epochs=2` etc. set model parameters."""
    from synsym.classify.api import train_model
    from synsym.classify.cli_support import load_for_training, small_data_warning

    check = None if init is not None else model  # a saved model's own kind is checked when it loads
    train_ds, val_ds, dev_ds, params = load_for_training(
        train_file, val, fmt, text_column, label_column, label_space, seed, limit, overrides or [], dev, check
    )
    warning = small_data_warning(train_ds)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    on_dev = f"; selecting on {len(dev_ds)} dev rows" if dev_ds is not None else ""
    console.print(f"training {model} on {len(train_ds)} rows, {len(train_ds.label_names)} labels{on_dev}")
    trained = train_model(train_ds, model, out, val_ds, params, seed, init, dev_ds)
    chosen = trained.history.get("c_selection")
    if chosen:
        console.print(f"chose c={chosen['c']:g} on {chosen['on']}", highlight=False)
    console.print(f"saved {trained.kind} model to {out}")


ModelDir = Annotated[
    Path | None, typer.Argument(help="Model directory from `synsym train`.", show_default=False)
]
ModelDirOption = Annotated[
    Path | None, typer.Option("--model-dir", help="Model directory from `synsym train`.")
]
OldModelDir = Annotated[Path | None, typer.Option("--model", hidden=True, help="Deprecated: --model-dir.")]


def _model_dir(positional: Path | None, option: Path | None, old: Path | None) -> Path:
    given = renamed(option or positional, old, "--model (a model directory)", "--model-dir")
    return required(given, "MODEL_DIR (or --model-dir)")


@app.command()
def predict(
    model_dir: ModelDir = None,
    input_file: Annotated[
        Path, typer.Option("--input", help="CSV, JSONL, JSON or Parquet file of texts.")
    ] = Path("-"),
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="CSV to write: input rows, one probability column per label, predicted_labels."
        ),
    ] = None,
    text_column: TextColumn = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold", help="Label a post at this probability (default: the model's tuned thresholds)."
        ),
    ] = None,
    model_dir_option: ModelDirOption = None,
    old_model: OldModelDir = None,
    old_output: Annotated[
        Path | None, typer.Option("--output", hidden=True, help="Deprecated: --out.")
    ] = None,
) -> None:
    """Write one probability column per label and the predicted labels next to the input rows."""
    from synsym.classify.api import predict_file
    from synsym.classify.models import load_model

    target = required(renamed(out, old_output, "--output", "--out"), "--out")
    model = load_model(_model_dir(model_dir, model_dir_option, old_model))
    n = predict_file(model, input_file, target, text_column, threshold)
    console.print(f"wrote {n} rows to {target}")
    if model.trained_without_negatives():
        console.print(
            "note: every post this model was trained on expressed a symptom, so it has never seen one that "
            "expresses none and puts symptoms on everyday posts; train on a run with hard negatives "
            "(negatives.n in the run config) to teach it what a symptom is not",
            highlight=False,
        )


@app.command()
def evaluate(
    test: Annotated[Path, typer.Option("--test", help="Labelled test file.")],
    model_dir: ModelDir = None,
    out: Annotated[Path, typer.Option("--out", help="Where to write metrics.json.")] = Path("metrics.json"),
    label_space: Annotated[
        str | None, typer.Option("--label-space", help="Score in this label space, e.g. phq9.")
    ] = None,
    fmt: FormatOption = "auto",
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    model_dir_option: ModelDirOption = None,
    old_model: OldModelDir = None,
) -> None:
    """Score a saved model on a labelled file; macro-F1 is the headline."""
    from synsym.classify.api import evaluate_file

    directory = _model_dir(model_dir, model_dir_option, old_model)
    m = evaluate_file(directory, test, out, label_space, fmt, text_column, label_column)
    typer.echo(
        json.dumps(
            {k: m.get(k) for k in ("macro_f1", "micro_f1", "weighted_f1", "samples_f1", "macro_roc_auc", "n")}
        )
    )
    console.print(f"wrote {out}")
    seen = m.get("seen_in_training")
    if seen is not None and seen >= 0.5:
        console.print(
            f"note: about {seen:.0%} of these test posts were in the model's training data, so these figures "
            "measure what it memorised; evaluate on posts it has not seen (a held-out split, or real posts)",
            highlight=False,
        )


@app.command()
def experiment(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Experiment YAML (see configs/experiment-*.yaml).")
    ] = None,
    old_config: Annotated[
        Path | None, typer.Argument(hidden=True, help="Deprecated: --config.", show_default=False)
    ] = None,
    overrides: SetOption = None,
) -> None:
    """Run protocols x models x seeds x test sets; print and write a Table-4-style macro-F1 table."""
    from synsym.classify.experiment import ExperimentConfig, run_experiment
    from synsym.core.config import load_config

    path = required(renamed(config, old_config, "the positional CONFIG", "--config"), "--config")
    cfg = load_config(ExperimentConfig, path, overrides or [])
    result = run_experiment(cfg, progress=lambda msg: console.print(msg, highlight=False))
    typer.echo(result["markdown"])
    console.print(f"wrote {result['out_dir']}/table.md, table.csv, runs.csv and results.json")
