"""`synsym experiment`: protocols x models x seeds x test sets, summarised like the paper's Table 4.

Rows are (protocol, model), columns are test sets, cells are mean ± std macro-F1 over seeds (and folds).
Synthetic data trains one model per (model, seed); real test sets are split into train/test by a seeded
multilabel-stratified holdout, k folds, or a split file; validation data for early stopping and thresholds
is always carved from the training side, never the test side.
"""

from __future__ import annotations

import copy
import csv
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from synsym.classify import splits
from synsym.classify.api import score_on
from synsym.classify.data import FORMATS, LabelledTexts, load_dataset
from synsym.classify.labels import label_space
from synsym.classify.metrics import mean_std
from synsym.classify.models import MODELS, Classifier, create_model
from synsym.core.config import StrictModel
from synsym.core.errors import InputError

log = logging.getLogger(__name__)
Protocol = Literal["synthetic-only", "real-only", "synthetic-then-real"]
PROTOCOLS: tuple[Protocol, ...] = ("synthetic-only", "real-only", "synthetic-then-real")


def _all_protocols() -> list[Protocol]:
    return list(PROTOCOLS)


class DataSource(StrictModel):
    path: str
    format: str = "auto"
    text_column: str | None = None
    label_column: str | None = None
    limit: int | None = Field(None, gt=0, description="a seeded random subsample of this many rows")

    def load(self, base: Path, seed: int = 0) -> LabelledTexts:
        if self.format not in FORMATS:
            raise InputError(f"format {self.format!r} is unknown; use one of: {', '.join(FORMATS)}")
        path = Path(self.path) if Path(self.path).is_absolute() else base / self.path
        ds = load_dataset(path, self.format, self.text_column, self.label_column)
        if self.limit and self.limit < len(ds):
            ds = ds.subset(np.sort(np.random.default_rng(seed).permutation(len(ds))[: self.limit]))
        return ds


class SplitSpec(StrictModel):
    kind: Literal["holdout", "kfold", "file"] = "holdout"
    test_fraction: float = Field(0.2, gt=0, lt=1)
    k: int = Field(5, ge=2)
    file: str | None = None


class TestSet(StrictModel):
    name: str
    data: DataSource
    split: SplitSpec = Field(default_factory=SplitSpec)


class ModelSpec(StrictModel):
    kind: Literal["tfidf", "embed", "finetune"]
    name: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name or self.kind


class ExperimentConfig(StrictModel):
    synthetic: DataSource | None = None
    test_sets: list[TestSet]
    models: list[ModelSpec] = Field(default_factory=lambda: [ModelSpec(kind="tfidf")])
    protocols: list[Protocol] = Field(default_factory=_all_protocols)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    label_space: str | None = None
    map_labels: Literal["gold", "predictions"] = "predictions"
    metric: Literal["macro_f1", "micro_f1", "macro_roc_auc"] = "macro_f1"  # what the table's cells show
    out_dir: str = "runs/experiment"


def _folds(ts: TestSet, ds: LabelledTexts, seed: int, base: Path) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    s = ts.split
    if s.kind == "holdout":
        yield splits.holdout(ds, s.test_fraction, seed)
    elif s.kind == "kfold":
        yield from splits.kfold(ds, s.k, seed)
    else:
        if not s.file:
            raise InputError(f"test_sets.{ts.name}.split.file -> required when split.kind is 'file'")
        parts = splits.read_split_file(base / s.file, len(ds))
        test = parts.get("test")
        if test is None:
            raise InputError(f"{s.file} -> needs test rows")
        train = np.concatenate([parts.get("train", np.zeros(0, int)), parts.get("val", np.zeros(0, int))])
        yield np.sort(train), test


def run_experiment(
    cfg: ExperimentConfig, base: Path = Path("."), progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run everything the config asks for; write runs.csv, table.md, table.csv and results.json to out_dir."""
    say = progress or (lambda msg: log.info(msg))
    needs_syn = {"synthetic-only", "synthetic-then-real"} & set(cfg.protocols)
    if needs_syn and cfg.synthetic is None:
        raise InputError("protocols synthetic-only / synthetic-then-real need a `synthetic:` data source")
    space = None
    if cfg.label_space:
        space = label_space(cfg.label_space)
    for spec in cfg.models:
        MODELS[spec.kind](spec.params)  # fail on bad parameters before any training
    tests = {ts.name: ts.data.load(base) for ts in cfg.test_sets}
    runs: list[dict[str, Any]] = []
    for seed in cfg.seeds:
        syn = cfg.synthetic.load(base, seed) if cfg.synthetic and needs_syn else None
        if syn is not None and space is not None and cfg.map_labels == "gold":
            syn = syn.mapped(space[1] or {}, space[0])
        for spec in cfg.models:
            syn_model: Classifier | None = None
            if syn is not None:
                say(f"seed {seed} · {spec.label}: training on {len(syn)} synthetic rows")
                syn_model = create_model(spec.kind, spec.params).fit(syn, seed=seed)
            for ts in cfg.test_sets:
                real = tests[ts.name]
                if space is not None and cfg.map_labels == "gold":
                    real = real.mapped(space[1] or {}, space[0])
                for fold, (train_idx, test_idx) in enumerate(_folds(ts, real, seed, base)):
                    test, real_train = real.subset(test_idx), real.subset(train_idx)
                    for protocol in cfg.protocols:
                        if protocol == "synthetic-only":
                            model = syn_model
                        elif protocol == "real-only":
                            say(f"seed {seed} · {spec.label} · {ts.name} fold {fold}: real-only")
                            model = create_model(spec.kind, spec.params).fit(real_train, seed=seed)
                        else:
                            say(f"seed {seed} · {spec.label} · {ts.name} fold {fold}: synthetic-then-real")
                            model = copy.deepcopy(syn_model)
                            assert model is not None
                            model.continue_fit(real_train, seed=seed)
                        assert model is not None
                        eval_space = cfg.label_space if cfg.map_labels == "predictions" else None
                        m = score_on(model, test, eval_space)
                        runs.append(
                            {
                                "protocol": protocol,
                                "model": spec.label,
                                "test_set": ts.name,
                                "seed": seed,
                                "fold": fold,
                                "n_test": len(test),
                                "macro_f1": m["macro_f1"],
                                "micro_f1": m.get("micro_f1"),
                                "macro_roc_auc": m["macro_roc_auc"],
                            }
                        )
    return write_results(cfg, runs)


def write_results(cfg: ExperimentConfig, runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    columns = [ts.name for ts in cfg.test_sets]
    table: list[dict[str, str]] = []
    for protocol in cfg.protocols:
        for spec in cfg.models:
            row = {"protocol": protocol, "model": spec.label}
            for col in columns:
                vals = [
                    r[cfg.metric]
                    for r in runs
                    if (r["protocol"], r["model"], r["test_set"]) == (protocol, spec.label, col)
                ]
                mean, std = mean_std(vals)
                row[col] = "—" if not vals else f"{mean:.3f} ± {std:.3f}"
            table.append(row)
    with (out / "runs.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(runs[0]) if runs else ["protocol"])
        writer.writeheader()
        writer.writerows(runs)
    header = ["protocol", "model", *columns]
    with (out / "table.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(table)
    markdown = render_markdown(table, header, cfg.metric)
    (out / "table.md").write_text(markdown, encoding="utf-8")
    result = {
        "config": cfg.model_dump(),
        "runs": runs,
        "table": table,
        "markdown": markdown,
        "out_dir": str(out),
    }
    (out / "results.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def render_markdown(table: list[dict[str, str]], header: list[str], metric: str = "macro_f1") -> str:
    lines = [
        f"{metric}, mean ± std over seeds (and folds).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(str(row[h]) for h in header) + " |" for row in table]
    return "\n".join(lines) + "\n"
