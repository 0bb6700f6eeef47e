"""Export: the kept and dropped posts of a run as files a researcher can load anywhere.

`write_dataset` writes `dataset.parquet` and `dropped.parquet` always; `dataset.jsonl`, `dataset.csv` (the
SynSym paper's column layout) and `hf/` (a `datasets.DatasetDict`) on request; then the dataset card
`README.md` and, last, `manifest.json`, whose file list carries each file's row count and SHA-256, so a
manifest that matches the files marks a complete export. Every file is written under a temporary name in
the same folder and moved into place with `os.replace`: a killed process leaves old files or new ones,
never half-written ones (leftover temporaries are removed by the next export). Row order is kept exactly.

The columns are `synsym.core.columns.COLUMNS` (`dropped.parquet` adds `drop_class`, `drop_detail` and
`dropped_by`) with one `labels_<space>` multi-hot int8 list per label space after `symptoms`; see
`synsym.core.dataset.post_schema`. In `hf/` `judge_scores` is JSON text (the `datasets` library has no
map type); `style` and `symptoms` are ClassLabel features; label columns are fixed-length int8 lists.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pyarrow as pa
from pydantic import Field

from synsym.core.atomic import write_json
from synsym.core.columns import COLUMNS, Post, is_kept
from synsym.core.config import StrictModel
from synsym.core.dataset import FORMAT_VERSION, post_schema
from synsym.core.errors import InputError, suggest
from synsym.core.taxonomy import Taxonomy
from synsym.pipeline.context import StageContext
from synsym.pipeline.stage import ROWS, Inputs, Output, ValueStage
from synsym.recipe.common.calibrated import calibration_effect, card_summary
from synsym.recipe.common.scoring import embedding_threshold
from synsym.recipe.export.card import CardInfo, render_card
from synsym.recipe.export.files import (
    PAPER_CSV_COLUMNS,
    atomic,
    clean_temporaries,
    import_datasets,
    paper_csv_row,
    sha256,
    write_csv,
    write_hf,
    write_jsonl,
    write_parquet,
)

__all__ = ["EXPORT_FORMATS", "PAPER_CSV_COLUMNS", "CardInfo", "ExportStage", "paper_csv_row", "write_dataset"]

EXPORT_FORMATS = ("parquet", "jsonl", "csv", "hf")


def label_vectors(rows: Sequence[Post], taxonomy: Taxonomy, spaces: Sequence[str]) -> dict[str, np.ndarray]:
    """space -> an int8 matrix of one multi-hot row per post; the same as `taxonomy.multi_hot`, as one
    matrix product per space (taxonomy multi-hot x the space's mapping): milliseconds for 20k rows."""
    index = {name: j for j, name in enumerate(taxonomy.names)}
    hot = np.zeros((len(rows), len(index)), dtype=np.int32)
    for i, row in enumerate(rows):
        for sym in row["symptoms"] or ():
            if sym not in index:
                taxonomy.symptom(sym)  # raises InputError with the closest names
            hot[i, index[sym]] = 1
    out: dict[str, np.ndarray] = {}
    for s in spaces:
        space = taxonomy.space(s)
        column = {lab: j for j, lab in enumerate(space.labels)}
        mapping = np.zeros((len(index), len(space.labels)), dtype=np.int32)
        for sym, labs in space.relation().items():
            for lab in labs:
                mapping[index[sym], column[lab]] = 1
        out[s] = ((hot @ mapping) > 0).astype(np.int8)
    return out


def _label_array(matrix: np.ndarray) -> pa.Array:
    """A list<int8> column straight from the matrix (no Python list per row)."""
    width = matrix.shape[1]
    offsets = pa.array(np.arange(0, (len(matrix) + 1) * width, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1)))


def _check_rows(rows: Sequence[Post], dropped: bool) -> None:
    # drop_thresholds may be missing from rows of stage files written before it (then it is empty)
    names = [c.name for c in COLUMNS if c.name != "drop_thresholds"]
    for i, row in enumerate(rows):
        missing = [c for c in names if c not in row]
        if missing:
            raise ValueError(f"{'dropped' if dropped else 'kept'} row {i} is missing {missing}")
        if dropped and not row["drop_class"]:
            raise ValueError(f"dropped row {i} ({row['id']}) has no drop_class")


def _table(rows: Sequence[Post], schema: pa.Schema, labels: Mapping[str, np.ndarray]) -> pa.Table:
    cols: dict[str, Any] = {}
    for name in schema.names:
        if name.startswith("labels_") and name[len("labels_") :] in labels:
            cols[name] = _label_array(labels[name[len("labels_") :]])
        elif name in ("judge_scores", "drop_thresholds"):
            cols[name] = [list((cast(dict[str, Any], r).get(name) or {}).items()) for r in rows]
        else:
            cols[name] = [r[name] for r in rows]  # type: ignore[literal-required]
    return pa.Table.from_pydict(cols, schema=schema)


def _check_formats(formats: Sequence[str]) -> list[str]:
    bad = [f for f in formats if f not in EXPORT_FORMATS]
    if bad:
        raise InputError(f"unknown export format {bad[0]!r}{suggest(bad[0], EXPORT_FORMATS)}")
    return list(dict.fromkeys(formats))


def write_dataset(
    run_dir: Path,
    kept: list[Post],
    dropped: list[Post],
    taxonomy: Taxonomy,
    *,
    formats: Sequence[str] = ("parquet",),
    label_spaces: Sequence[str] | None = None,
    manifest: dict[str, Any] | None,
    card: CardInfo,
) -> dict[str, Path]:
    """Write the export into `run_dir` and return name -> path (`parquet`, `dropped`, and `jsonl`, `csv`,
    `hf` when asked, then `card`, and `manifest` when one is given).

    `dataset.parquet`, `dropped.parquet` and `README.md` are always written; `formats` adds `jsonl`,
    `csv`, `hf` (`parquet` is accepted and implied). `label_spaces` defaults to every space the taxonomy
    declares. A `manifest` given is written last, as given plus the `export` entry (files with row
    counts and SHA-256, label spaces); in a run the runner writes it (`synsym.pipeline.record`).
    Raises InputError for an unknown format, label space or symptom, or `hf` without `datasets`
    installed, before anything is written; ValueError for rows that break the `Post` contract.
    """
    paths, entry = write_files(run_dir, kept, dropped, taxonomy, formats, label_spaces, card)
    if manifest is not None:
        paths["manifest"] = Path(run_dir) / "manifest.json"
        write_json(paths["manifest"], {**manifest, "export": entry})
    return paths


def write_files(
    run_dir: Path,
    kept: list[Post],
    dropped: list[Post],
    taxonomy: Taxonomy,
    formats: Sequence[str],
    label_spaces: Sequence[str] | None,
    card: CardInfo,
) -> tuple[dict[str, Path], dict[str, Any]]:
    """The dataset files and the card: their paths by name, and the manifest's `export` entry."""
    run_dir = Path(run_dir)
    wanted = _check_formats(formats)
    spaces = list(taxonomy.label_spaces) if label_spaces is None else list(dict.fromkeys(label_spaces))
    for s in spaces:
        taxonomy.space(s)
    if "hf" in wanted:
        import_datasets()
    _check_rows(kept, dropped=False)
    _check_rows(dropped, dropped=True)
    kept_labels = label_vectors(kept, taxonomy, spaces)
    run_dir.mkdir(parents=True, exist_ok=True)
    clean_temporaries(run_dir)
    paths = {"parquet": run_dir / "dataset.parquet", "dropped": run_dir / "dropped.parquet"}
    write_parquet(paths["parquet"], _table(kept, post_schema(taxonomy, spaces), kept_labels))
    dropped_table = _table(
        dropped, post_schema(taxonomy, spaces, dropped=True), label_vectors(dropped, taxonomy, spaces)
    )
    write_parquet(paths["dropped"], dropped_table)
    writers = {
        "jsonl": ("dataset.jsonl", lambda path: write_jsonl(path, kept, kept_labels)),
        "csv": ("dataset.csv", lambda path: write_csv(path, kept, taxonomy)),
        "hf": ("hf", lambda path: write_hf(path, kept, taxonomy, kept_labels)),
    }
    for key, (name, write) in writers.items():
        if key in wanted:
            paths[key] = run_dir / name
            write(paths[key])
    listed = [p.name + ("/" if p.is_dir() else "") for p in paths.values()] + ["README.md", "manifest.json"]
    paths["card"] = run_dir / "README.md"
    with atomic(paths["card"]) as tmp:
        tmp.write_text(render_card(card, taxonomy, kept, dropped, kept_labels, listed), encoding="utf-8")
    rows = {name: len(kept) for name in ("dataset.parquet", "dataset.jsonl", "dataset.csv", "hf")}
    rows["dropped.parquet"] = len(dropped)
    entry = {
        "files": {_listed(path): _file_entry(path, rows.get(path.name)) for path in paths.values()},
        "rows": {"kept": len(kept), "dropped": len(dropped)},
        "symptoms": list(taxonomy.names),
        "label_spaces": {s: list(taxonomy.space(s).labels) for s in spaces},
        "format_version": FORMAT_VERSION,
    }
    return paths, entry


def _listed(path: Path) -> str:
    return path.name + ("/" if path.is_dir() else "")


def _file_entry(path: Path, rows: int | None) -> dict[str, Any]:
    """A file's row count (a dataset file), size and SHA-256 (a file, not a folder)."""
    entry: dict[str, Any] = {"rows": rows} if rows is not None else {}
    if path.is_file():
        entry.update(bytes=path.stat().st_size, sha256=sha256(path))
    return entry


ExportFormat = Literal["parquet", "jsonl", "csv", "hf"]


def _parquet_only() -> list[ExportFormat]:
    return ["parquet"]


class ExportConfig(StrictModel):
    """Stage 5: the dataset files."""

    formats: list[ExportFormat] = Field(default_factory=_parquet_only, description="parquet: always")
    label_spaces: list[str] | None = Field(None, description="default: every label space of the taxonomy")


class ExportStage(ValueStage):
    """Every file of the dataset and its card; its `export` entry (files, row counts, checksums) and the
    judge's calibration go into the manifest the runner writes."""

    name = "export"
    Config = ExportConfig
    reads = (ROWS,)

    def artifact(self) -> str:
        return "stages/export.json"

    def save(self, ctx: StageContext, path: Path, value: Any) -> None:
        write_json(path, value)

    def load(self, ctx: StageContext, path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))

    def record(self, ctx: StageContext, value: Any) -> dict[str, Any]:
        return dict(value)

    async def run(self, ctx: StageContext, inputs: Inputs, out: Output) -> None:
        ready = asyncio.ensure_future(asyncio.to_thread(_prepare, ctx.config.export.formats))
        rows = await inputs.rows()
        await ready
        ctx.progress.status("writing the dataset")
        out.close(await asyncio.to_thread(export_run, ctx, rows))


def _prepare(formats: Sequence[str]) -> None:
    """Import what writing needs while the rows are still being made: pyarrow's first array imports
    pandas (a third of a second), and `datasets` takes longer."""
    pa.array([""], type=pa.string())
    if "hf" in formats:
        import_datasets()


def export_run(ctx: StageContext, rows: list[Post]) -> dict[str, Any]:
    """Write the run's dataset files and card; return what the manifest records of them."""
    config, taxonomy = ctx.config, ctx.taxonomy
    kept = [r for r in rows if is_kept(r)]
    dropped = [r for r in rows if not is_kept(r)]
    entries: dict[str, Any] = {}
    calibration = card_summary(config.judge)
    if calibration is not None:
        calibration["effect"] = calibration_effect(rows, config.judge, embedding_threshold(config.judge))
        entries["calibration"] = calibration
    card = CardInfo(
        recipe=config.public_dict(),
        stages=ctx.stage_names,
        seed=config.seed,
        taxonomy_name=taxonomy.name,
        taxonomy_version=taxonomy.version,
        calibration=calibration,
    )
    cfg: ExportConfig = config.export
    _, entries["export"] = write_files(
        ctx.run_dir, kept, dropped, taxonomy, cfg.formats, cfg.label_spaces, card
    )
    return entries
