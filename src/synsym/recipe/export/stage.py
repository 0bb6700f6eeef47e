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
import platform
import time
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pyarrow as pa
from pydantic import Field

from synsym import __version__
from synsym.core.columns import COLUMNS, Post, is_kept
from synsym.core.config import StrictModel
from synsym.core.dataset import FORMAT_VERSION, post_schema
from synsym.core.errors import InputError, suggest
from synsym.core.funnel import funnel_counts
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
    json_default,
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
    manifest: dict[str, Any],
    card: CardInfo,
) -> dict[str, Path]:
    """Write the export into `run_dir` and return name -> path (`parquet`, `dropped`, and `jsonl`, `csv`,
    `hf` when asked, then `card`, `manifest`).

    `dataset.parquet`, `dropped.parquet`, `README.md` and `manifest.json` are always written; `formats`
    adds `jsonl`, `csv`, `hf` (`parquet` is accepted and implied). `label_spaces` defaults to every
    space the taxonomy declares. The manifest is `manifest` as given plus an `export` entry (files with
    row counts and SHA-256, label spaces); it is written last.
    Raises InputError for an unknown format, label space or symptom, or `hf` without `datasets`
    installed, before anything is written; ValueError for rows that break the `Post` contract.
    """
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
    dropped_labels = label_vectors(dropped, taxonomy, spaces)

    run_dir.mkdir(parents=True, exist_ok=True)
    clean_temporaries(run_dir)
    paths: dict[str, Path] = {}
    rows: dict[str, int] = {}

    def put(key: str, name: str, n: int | None) -> Path:
        paths[key] = run_dir / name
        if n is not None:
            rows[name] = n
        return paths[key]

    write_parquet(
        put("parquet", "dataset.parquet", len(kept)), _table(kept, post_schema(taxonomy, spaces), kept_labels)
    )
    write_parquet(
        put("dropped", "dropped.parquet", len(dropped)),
        _table(dropped, post_schema(taxonomy, spaces, dropped=True), dropped_labels),
    )
    if "jsonl" in wanted:
        write_jsonl(put("jsonl", "dataset.jsonl", len(kept)), kept, kept_labels)
    if "csv" in wanted:
        write_csv(put("csv", "dataset.csv", len(kept)), kept, taxonomy)
    if "hf" in wanted:
        write_hf(put("hf", "hf", len(kept)), kept, taxonomy, kept_labels)
    listed = [p.name + ("/" if p.is_dir() else "") for p in paths.values()] + ["README.md", "manifest.json"]
    text = render_card(card, taxonomy, kept, dropped, kept_labels, listed)
    with atomic(put("card", "README.md", None)) as tmp:
        tmp.write_text(text, encoding="utf-8")

    files: dict[str, dict[str, Any]] = {}
    for path in paths.values():
        entry: dict[str, Any] = {"rows": rows[path.name]} if path.name in rows else {}
        if path.is_file():
            entry.update(bytes=path.stat().st_size, sha256=sha256(path))
        files[path.name + ("/" if path.is_dir() else "")] = entry
    out = dict(manifest)
    out["export"] = {
        "files": files,
        "rows": {"kept": len(kept), "dropped": len(dropped)},
        "symptoms": list(taxonomy.names),
        "label_spaces": {s: list(taxonomy.space(s).labels) for s in spaces},
        "format_version": FORMAT_VERSION,
    }
    with atomic(put("manifest", "manifest.json", None)) as tmp:
        body = json.dumps(out, sort_keys=True, indent=2, ensure_ascii=False, default=json_default)
        tmp.write_text(body + "\n", encoding="utf-8")
    return paths


ExportFormat = Literal["parquet", "jsonl", "csv", "hf"]


def _parquet_only() -> list[ExportFormat]:
    return ["parquet"]


class ExportConfig(StrictModel):
    """Stage 5: the dataset files."""

    formats: list[ExportFormat] = Field(default_factory=_parquet_only, description="parquet: always")
    label_spaces: list[str] | None = Field(None, description="default: every label space of the taxonomy")


class ExportStage(ValueStage):
    """Every file of the dataset, with the manifest (counts, usage, fingerprints) written last."""

    name = "export"
    Config = ExportConfig
    reads = (ROWS,)

    def artifact(self) -> str:
        return "manifest.json"

    def save(self, ctx: StageContext, path: Path, value: Any) -> None:
        """Nothing more to write: `run` wrote every file, the manifest last."""

    def load(self, ctx: StageContext, path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))

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


_PACKAGES = (
    "pydantic",
    "aiohttp",
    "openai",
    "llama_cpp_python",
    "pyarrow",
    "datasketch",
    "torch",
    "transformers",
    "sentence-transformers",
)


def _versions() -> dict[str, str]:
    found = {}
    for name in _PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def export_run(ctx: StageContext, rows: list[Post]) -> dict[str, Any]:
    """Write the run's dataset and return its manifest."""
    config, taxonomy = ctx.config, ctx.taxonomy
    kept = [r for r in rows if is_kept(r)]
    dropped = [r for r in rows if not is_kept(r)]
    engines = {"generator": ctx.engine, "judge": ctx.judge_engine}
    manifest = {
        "synsym_version": __version__,
        "python": platform.python_version(),
        "packages": _versions(),
        "config": config.public_dict(),
        "seed": config.seed,
        "stages": ctx.stage_names,
        "fingerprints": ctx.fingerprints,
        "counts": funnel_counts(rows, ctx.stage_names),
        "usage": {
            k: e.meter.as_dict() for k, e in engines.items() if k == "generator" or e is not ctx.engine
        },
        "wall_seconds": round(time.time() - ctx.started, 1),
        "stage_seconds": ctx.stage_seconds,
        "notes": ctx.notes,
    }
    calibration = card_summary(config.judge)
    if calibration is not None:
        calibration["effect"] = calibration_effect(rows, config.judge, embedding_threshold(config.judge))
        manifest["calibration"] = calibration
    card = CardInfo(
        recipe=config.public_dict(),
        stages=ctx.stage_names,
        seed=config.seed,
        taxonomy_name=taxonomy.name,
        taxonomy_version=taxonomy.version,
        calibration=calibration,
    )
    write_dataset(
        ctx.run_dir,
        kept,
        dropped,
        taxonomy,
        formats=config.export.formats,
        label_spaces=config.export.label_spaces,
        manifest=manifest,
        card=card,
    )
    return cast(dict[str, Any], json.loads((ctx.run_dir / "manifest.json").read_text(encoding="utf-8")))
