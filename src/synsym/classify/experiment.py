"""`synsym experiment`: protocols x models x seeds x test sets, summarised like the paper's Table 4.

Rows are (protocol, model), columns are test sets, cells are mean ± std macro-F1 over seeds (and folds).
Synthetic data trains one model per (model, seed); real test sets are split into train/test by a seeded
multilabel-stratified holdout, k folds, or a split file; validation data for early stopping and thresholds
is always carved from the training side, never the test side. A post and its contrastive rewrites (a
synsym export's groups) always land on one side of every split. An optional `dev:` set of real text
selects models and sets thresholds in every run (never trained on; it must not be a test set).
"""

from __future__ import annotations

import copy
import csv
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, TypeAdapter, field_validator

from synsym.classify import splits
from synsym.classify.api import score_on
from synsym.classify.labels import label_space
from synsym.classify.metrics import mean_std
from synsym.classify.models import Classifier, classifier_class, create_model
from synsym.classify.sources import FORMATS, load_dataset
from synsym.classify.texts import LabelledTexts
from synsym.core.config import StrictModel
from synsym.core.errors import InputError
from synsym.core.executor import ExecutorConfig, create_executor

log = logging.getLogger(__name__)
Protocol = Literal["synthetic-only", "real-only", "synthetic-then-real"]
PROTOCOLS: tuple[Protocol, ...] = ("synthetic-only", "real-only", "synthetic-then-real")


def _all_protocols() -> list[Protocol]:
    return list(PROTOCOLS)


class DataSource(StrictModel):
    path: str = Field(description="a data file; with format control, a taxonomy (built-in name or YAML)")
    format: str = "auto"
    text_column: str | None = None
    label_column: str | None = None
    limit: int | None = Field(None, gt=0, description="a seeded random subsample of this many rows")
    subconcepts: str | None = Field(None, description="format control only: a subconcepts.yaml to add")

    def load(self, base: Path, seed: int = 0) -> LabelledTexts:
        if self.format not in FORMATS:
            raise InputError(f"format {self.format!r} is unknown; use one of: {', '.join(FORMATS)}")
        subconcepts = _under(base, self.subconcepts) if self.subconcepts is not None else None
        path: str | Path = self.path
        if self.format != "control" or _is_file_path(base, self.path):
            path = _under(base, self.path)  # a built-in taxonomy name stays a name
        ds = load_dataset(path, self.format, self.text_column, self.label_column, subconcepts=subconcepts)
        if self.limit and self.limit < len(ds):
            ds = ds.subset(np.sort(np.random.default_rng(seed).permutation(len(ds))[: self.limit]))
        return ds


def _under(base: Path, path: str) -> Path:
    return Path(path) if Path(path).is_absolute() else base / path


def _is_file_path(base: Path, path: str) -> bool:
    return _under(base, path).exists() or Path(path).suffix.lower() in (".yaml", ".yml")


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
    kind: str = Field(
        description="a registered classifier: tfidf, embed, finetune, or a plugin (synsym.classifiers)"
    )
    name: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="the classifier's own options")

    @field_validator("kind")
    @classmethod
    def _registered(cls, kind: str) -> str:
        """Refuse an unknown classifier when the config is read, not after the data is loaded."""
        try:
            classifier_class(kind)
        except InputError as err:
            raise ValueError(str(err)) from None
        return kind

    @property
    def label(self) -> str:
        return self.name or self.kind


REAL_ONLY_SET = "-"  # the train_set of real-only runs: no synthetic set is involved
_NAMED_SOURCES = TypeAdapter(dict[str, DataSource])


class ExperimentConfig(StrictModel):
    synthetic: DataSource | dict[str, DataSource] | None = Field(
        None, description="one training set (named 'synthetic') or several, name -> data source"
    )
    test_sets: list[TestSet]
    models: list[ModelSpec] = Field(default_factory=lambda: [ModelSpec(kind="tfidf")])
    protocols: list[Protocol] = Field(default_factory=_all_protocols)
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])
    dev: DataSource | None = Field(
        None, description="real labelled text for model selection and thresholds only (never trained on)"
    )
    label_space: str | None = None
    map_labels: Literal["gold", "predictions"] = "predictions"
    metric: Literal["macro_f1", "micro_f1", "macro_roc_auc"] = "macro_f1"  # what the table's cells show
    out_dir: str = "runs/experiment"
    executor: ExecutorConfig = Field(
        default_factory=ExecutorConfig, description="where cells run: local, or ray (cells as Ray tasks)"
    )

    @field_validator("synthetic", mode="before")
    @classmethod
    def _one_or_named(cls, v: Any) -> Any:
        """Validate as one source or as named ones, whichever the shape says, so an error names one path."""
        if v is None or isinstance(v, DataSource):
            return v
        if not isinstance(v, dict):
            raise ValueError("expected one data source {path: ...} or named ones {name: {path: ...}, ...}")
        if any(not isinstance(x, dict | DataSource) for x in v.values()):
            return DataSource.model_validate(v)
        if not v:
            raise ValueError("name at least one training set, e.g. {control: {path: depression-14, ...}}")
        if REAL_ONLY_SET in v:
            raise ValueError(f"{REAL_ONLY_SET!r} is reserved for real-only runs; choose another name")
        return _NAMED_SOURCES.validate_python(v)

    def training_sets(self) -> dict[str, DataSource]:
        """The synthetic training sets by name; a single source is called 'synthetic'."""
        if self.synthetic is None:
            return {}
        if isinstance(self.synthetic, DataSource):
            return {"synthetic": self.synthetic}
        return dict(self.synthetic)


def _folds(ts: TestSet, ds: LabelledTexts, seed: int, base: Path) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    s = ts.split
    if s.kind == "holdout":
        yield splits.holdout(ds, s.test_fraction, seed)
    elif s.kind == "kfold":
        yield from splits.kfold(ds, s.k, seed)
    else:
        if not s.file:
            raise InputError(f"test_sets.{ts.name}.split.file -> required when split.kind is 'file'")
        parts = splits.read_split_file(base / s.file, len(ds), ds.groups)
        test = parts.get("test")
        if test is None:
            raise InputError(f"{s.file} -> needs test rows")
        train = np.concatenate([parts.get("train", np.zeros(0, int)), parts.get("val", np.zeros(0, int))])
        yield np.sort(train), test


Say = Callable[[str], None]


def run_experiment(
    cfg: ExperimentConfig, base: Path = Path("."), progress: Say | None = None
) -> dict[str, Any]:
    """Run everything the config asks for; write runs.csv, table.md, table.csv and results.json to out_dir.

    Each named synthetic set trains its own model per (model, seed) for synthetic-only and
    synthetic-then-real; real-only runs once per (model, seed, test set, fold), whatever the sets.
    """
    say: Say = progress or (lambda msg: log.info(msg))
    needs_syn = bool({"synthetic-only", "synthetic-then-real"} & set(cfg.protocols))
    sets = cfg.training_sets() if needs_syn else {}
    if needs_syn and not sets:
        raise InputError("protocols synthetic-only / synthetic-then-real need a `synthetic:` data source")
    space = label_space(cfg.label_space) if cfg.label_space else None
    gold_space = space if cfg.map_labels == "gold" else None
    for spec in cfg.models:
        create_model(spec.kind, spec.params)  # fail on bad parameters before any training
    tests = {ts.name: _in_space(ts.data.load(base), gold_space) for ts in cfg.test_sets}
    dev = _in_space(cfg.dev.load(base), gold_space) if cfg.dev is not None else None
    if dev is not None:
        for name, test_data in tests.items():
            shared = len(set(dev.texts) & set(test_data.texts))
            if shared:
                say(f"warning: the dev set shares {shared} texts with test set {name}; its scores flatter")
    cells: list[Cell] = []
    for seed in cfg.seeds:
        syn_data = {name: _in_space(src.load(base, seed), gold_space) for name, src in sets.items()}
        folds = [
            (ts.name, fold, tests[ts.name].subset(train_idx), tests[ts.name].subset(test_idx))
            for ts in cfg.test_sets
            for fold, (train_idx, test_idx) in enumerate(_folds(ts, tests[ts.name], seed, base))
        ]
        cells += [Cell(seed, spec, syn_data, folds) for spec in cfg.models]
    executor = create_executor(cfg.executor)
    executor.check()

    def done(i: int, finished: int) -> None:
        cell = cells[i]
        say(f"seed {cell.seed} · {cell.spec.label}: done on {executor.label} ({finished}/{len(cells)} cells)")

    results = executor.map(partial(run_cell, cfg), cells, dev, say, done)  # in cell order, wherever run
    runs = [run for cell_runs in results for run in cell_runs]
    return write_results(cfg, runs)


@dataclass
class Cell:
    """One model and seed: its synthetic training sets and the real folds of every test set, each
    (test set, fold, real train, real test); what a Ray task receives."""

    seed: int
    spec: ModelSpec
    syn_data: dict[str, LabelledTexts]
    folds: list[tuple[str, int, LabelledTexts, LabelledTexts]]


def run_cell(cfg: ExperimentConfig, cell: Cell, dev: LabelledTexts | None, say: Say) -> list[dict[str, Any]]:
    """Train the cell's synthetic models, then every protocol on every fold: its rows of runs.csv."""
    seed, spec = cell.seed, cell.spec
    syn_models = {}
    for name, ds in cell.syn_data.items():
        say(f"seed {seed} · {spec.label}: training on {len(ds)} {name} rows")
        model = create_model(spec.kind, spec.params)
        syn_models[name] = model.fit(ds, seed=seed, dev=_dev_within(dev, ds.label_names))
    runs = []
    for test_set, fold, real_train, real_test in cell.folds:
        where = {"model": spec.label, "test_set": test_set, "seed": seed, "fold": fold}
        runs += _fold_runs(cfg, spec, syn_models, real_train, real_test, where, say, dev)
    return runs


def _dev_within(dev: LabelledTexts | None, names: list[str]) -> LabelledTexts | None:
    """The dev set's labels that a model predicts (None when it shares none): a real-only model of a
    one-label test set is selected on that label alone."""
    if dev is None:
        return None
    shared = [n for n in dev.label_names if n in names]
    return dev.align(shared) if shared else None


def _in_space(
    ds: LabelledTexts, space: tuple[list[str], dict[str, list[str]] | None] | None
) -> LabelledTexts:
    return ds if space is None else ds.mapped(space[1] or {}, space[0])


def _fold_runs(
    cfg: ExperimentConfig,
    spec: ModelSpec,
    syn_models: dict[str, Classifier],
    real_train: LabelledTexts,
    test: LabelledTexts,
    where: dict[str, Any],
    say: Say,
    dev: LabelledTexts | None = None,
) -> list[dict[str, Any]]:
    """Every protocol (and, for the synthetic ones, every named set) on one fold of one test set."""
    step = f"seed {where['seed']} · {spec.label} · {where['test_set']} fold {where['fold']}"
    eval_space = cfg.label_space if cfg.map_labels == "predictions" else None
    runs = []
    for protocol in cfg.protocols:
        trained: dict[str, Classifier] = {}
        if protocol == "real-only":
            say(f"{step}: real-only")
            model = create_model(spec.kind, spec.params)
            trained[REAL_ONLY_SET] = model.fit(
                real_train, seed=where["seed"], dev=_dev_within(dev, real_train.label_names)
            )
        elif protocol == "synthetic-only":
            trained = syn_models
        else:
            for name, syn_model in syn_models.items():
                say(f"{step}: {name}-then-real" if len(syn_models) > 1 else f"{step}: synthetic-then-real")
                trained[name] = copy.deepcopy(syn_model).continue_fit(
                    real_train, seed=where["seed"], dev=_dev_within(dev, syn_model.label_names)
                )
        for name, model in trained.items():
            m = score_on(model, test, eval_space)
            runs.append(
                {
                    "protocol": protocol,
                    "train_set": name,
                    **where,
                    "n_test": len(test),
                    "macro_f1": m["macro_f1"],
                    "micro_f1": m.get("micro_f1"),
                    "macro_roc_auc": m["macro_roc_auc"],
                }
            )
    return runs


def write_results(cfg: ExperimentConfig, runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    columns = [ts.name for ts in cfg.test_sets]
    sets = list(cfg.training_sets()) or ["synthetic"]
    by_set = len(sets) > 1  # a train_set column only when there is a choice to show
    table: list[dict[str, str]] = []
    for protocol in cfg.protocols:
        for name in [REAL_ONLY_SET] if protocol == "real-only" else sets:
            for spec in cfg.models:
                row = {"protocol": protocol, **({"train_set": name} if by_set else {}), "model": spec.label}
                for col in columns:
                    vals = [
                        r[cfg.metric]
                        for r in runs
                        if (r["protocol"], r["train_set"], r["model"], r["test_set"])
                        == (protocol, name, spec.label, col)
                    ]
                    mean, std = mean_std(vals)
                    row[col] = "—" if not vals else f"{mean:.3f} ± {std:.3f}"
                table.append(row)
    with (out / "runs.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(runs[0]) if runs else ["protocol"])
        writer.writeheader()
        writer.writerows(runs)
    header = ["protocol", *(["train_set"] if by_set else []), "model", *columns]
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
