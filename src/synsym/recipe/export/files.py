"""The export's files, one writer per format, each written under a temporary name in the same folder and
moved into place with `os.replace` (a folder is swapped in whole): a killed process leaves the old file or
the new one, never a half-written one. `export.write_dataset` decides what is written and in which order."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from synsym.core.columns import COLUMNS, Post
from synsym.core.errors import InputError
from synsym.core.taxonomy import Taxonomy

PAPER_CSV_COLUMNS = ("post", "type", "symptom", "description", "label")
ROW_COLUMNS = tuple(c for c in COLUMNS if not c.dropped_only)  # what a kept row's export holds


def temp_name(final: Path) -> Path:
    """`.NAME.<random>.tmp` beside `final`; not created here, so files get the usual mode (not 0600)."""
    return final.parent / f".{final.name}.{secrets.token_hex(6)}.tmp"


@contextlib.contextmanager
def atomic(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; on success fsync it and `os.replace` it into place."""
    tmp = temp_name(final)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Like `atomic` for a folder: build it under a temporary name, then swap it in. The old folder is
    moved aside first, so `final` is the complete old, briefly absent, or the complete new; never partial."""
    tmp, old = temp_name(final), temp_name(final)
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def clean_temporaries(run_dir: Path) -> None:
    """Remove temporaries an earlier, killed export left behind (only names this module makes)."""
    names = (
        "dataset.parquet",
        "dropped.parquet",
        "dataset.jsonl",
        "dataset.csv",
        "hf",
        "README.md",
        "manifest.json",
    )
    for name in names:
        for leftover in run_dir.glob(f".{name}.*.tmp"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


def write_parquet(path: Path, table: pa.Table) -> None:
    with atomic(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_jsonl(path: Path, rows: Sequence[Post], labels: Mapping[str, np.ndarray]) -> None:
    with atomic(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for i, row in enumerate(rows):
            out: dict[str, Any] = {}
            for c in ROW_COLUMNS:
                out[c.name] = row[c.name]  # type: ignore[literal-required]
                if c.name == "symptoms":
                    out.update({f"labels_{s}": vecs[i].tolist() for s, vecs in labels.items()})
            fh.write(json.dumps(out, ensure_ascii=False) + "\n")


def paper_csv_row(row: Post, taxonomy: Taxonomy) -> list[str]:
    """(post, type, symptom, description, label) as the SynSym release writes them.

    The paper writes a single symptom's name and a Python-list text for several (`['A', 'B']`); the
    description is the sub-concept of a single-symptom post and empty otherwise (as in the release, where
    multi-symptom rows and posts for a symptom itself have none); the label is the taxonomy-order
    multi-hot vector as a Python-list text (`[0, 1, ...]`).
    """
    taxonomy.order(row["symptoms"])  # unknown names -> InputError
    return _paper_row(row, taxonomy.names)


def _paper_row(row: Post, names: Sequence[str]) -> list[str]:
    symptoms = list(row["symptoms"])
    symptom = symptoms[0] if len(symptoms) == 1 else str(symptoms)
    description = (row["subconcept"] or "") if len(symptoms) == 1 else ""
    on = set(symptoms)
    return [row["text"], row["style"], symptom, description, str([1 if n in on else 0 for n in names])]


def write_csv(path: Path, rows: Sequence[Post], taxonomy: Taxonomy) -> None:
    names = taxonomy.names
    with atomic(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(PAPER_CSV_COLUMNS)
        writer.writerows(_paper_row(r, names) for r in rows)


def import_datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise InputError(
            "the hf export needs the Hugging Face `datasets` library; install it with "
            "pip install 'synsym[ml]' (or pip install datasets), or leave hf out of the formats"
        ) from None
    return datasets


def write_hf(path: Path, rows: Sequence[Post], taxonomy: Taxonomy, labels: Mapping[str, np.ndarray]) -> None:
    ds = import_datasets()
    seq = getattr(ds, "List", None) or ds.Sequence  # `List` since datasets 4, `Sequence` before
    styles = list(taxonomy.styles) + sorted({r["style"] for r in rows} - set(taxonomy.styles))
    kinds = {"string": ds.Value("string"), "strings": seq(ds.Value("string")), "scores": ds.Value("string")}
    special = {
        "style": ds.ClassLabel(names=styles),
        "symptoms": seq(ds.ClassLabel(names=list(taxonomy.names))),
    }
    features_: dict[str, Any] = {}
    for c in ROW_COLUMNS:
        features_[c.name] = special.get(c.name, kinds[c.kind])
        if c.name == "symptoms":
            features_.update(
                {f"labels_{s}": seq(ds.Value("int8"), length=len(taxonomy.space(s).labels)) for s in labels}
            )
    features = ds.Features(features_)
    style_index = {s: i for i, s in enumerate(styles)}
    symptom_index = {s: i for i, s in enumerate(taxonomy.names)}
    plain = [name for name in features_ if not name.startswith("labels_")]
    cols: dict[str, list[Any]] = {name: [r[name] for r in rows] for name in plain}  # type: ignore[literal-required]
    cols.update({f"labels_{s}": v.tolist() for s, v in labels.items()})
    cols["style"] = [style_index[r["style"]] for r in rows]
    cols["symptoms"] = [[symptom_index[s] for s in r["symptoms"]] for r in rows]
    cols["judge_scores"] = [json.dumps(r["judge_scores"], sort_keys=True) for r in rows]
    # Arrow columns already in the features' types: no per-value encoding (10x faster than from_dict),
    # and a fingerprint from the rows, so the same rows save the same state.json.
    table = pa.Table.from_pydict(cols, schema=features.arrow_schema)
    fingerprint = hashlib.sha256("\n".join(r["id"] for r in rows).encode()).hexdigest()[:16]
    train = ds.Dataset(
        ds.table.InMemoryTable(table), info=ds.DatasetInfo(features=features), fingerprint=fingerprint
    )
    bars = ds.is_progress_bar_enabled()
    ds.disable_progress_bars()
    try:
        with atomic_dir(path) as tmp:
            ds.DatasetDict({"train": train}).save_to_disk(str(tmp))
    finally:
        if bars:
            ds.enable_progress_bars()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
