"""Reading data files: any table of rows (`read_rows`), and synsym's own exports (`read_export`), the one
reader that classify, quality, review and report use, so they all see a dataset the same way.

The Parquet schema of an export (`post_schema`) derives from `synsym.core.columns.COLUMNS` with one
`labels_<space>` multi-hot column per label space after `symptoms`; its metadata key `synsym` holds the
taxonomy, its symptom order and each space's labels. Exports of earlier formats read with the defaults
of the columns they lack.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from synsym.core.columns import COLUMNS, Column, DropClass, Post
from synsym.core.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

    from synsym.core.taxonomy import Taxonomy

__all__ = ["FORMAT_VERSION", "Export", "is_export", "post_schema", "read_export", "read_rows"]

FORMAT_VERSION = 2  # 2: drop_class, drop_detail and dropped_by replace format 1's drop_reason


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV, TSV, JSONL, JSON (a list of objects) or Parquet file."""
    if not path.exists():
        raise InputError(f"{path} -> file not found; check the path")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            csv.field_size_limit(sys.maxsize)
            with path.open(newline="", encoding="utf-8") as fh:
                return list(csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ","))
        if suffix == ".jsonl":
            with path.open(encoding="utf-8") as fh:
                return [json.loads(line) for line in fh if line.strip()]
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("data"), list):
                data = data["data"]
            if not isinstance(data, list):
                raise InputError(f"{path} -> expected a JSON list of objects, got {type(data).__name__}")
            return data
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return cast(list[dict[str, Any]], pq.read_table(path).to_pylist())
    except (json.JSONDecodeError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path} -> could not be parsed as {suffix[1:]}: {exc}") from None
    raise InputError(f"{path} -> unsupported file type {suffix!r}; use .csv, .tsv, .jsonl, .json or .parquet")


def _arrow(kind: str) -> pa.DataType:
    import pyarrow as pa

    return {
        "string": pa.string(),
        "strings": pa.list_(pa.string()),
        "scores": pa.map_(pa.string(), pa.float64()),
    }[kind]


def post_schema(taxonomy: Taxonomy, spaces: Sequence[str], *, dropped: bool = False) -> pa.Schema:
    """The Parquet schema of an export: fixed, so an empty `dropped.parquet` is still fully typed."""
    import pyarrow as pa

    def arrow_field(c: Column) -> pa.Field:
        # kept rows are strict; dropped rows are diagnostics (a failed request may lack a field's value)
        nullable = c.nullable or (dropped and c.name not in ("id", "drop_class", "dropped_by"))
        return pa.field(c.name, _arrow(c.kind), nullable=nullable)

    fields = []
    for c in COLUMNS:
        if c.dropped_only and not dropped:
            continue
        fields.append(arrow_field(c))
        if c.name == "symptoms":
            fields += [pa.field(f"labels_{s}", pa.list_(pa.int8()), nullable=dropped) for s in spaces]
    meta = {
        "format_version": FORMAT_VERSION,
        "taxonomy": taxonomy.name,
        "taxonomy_version": taxonomy.version,
        "symptoms": list(taxonomy.names),
        "label_spaces": {s: list(taxonomy.space(s).labels) for s in spaces},
    }
    return pa.schema(fields, metadata={"synsym": json.dumps(meta)})


@dataclass
class Export:
    """A synsym export as read back: rows in file order, their stored label vectors, and metadata."""

    path: Path
    rows: list[Post]
    symptoms: list[str]  # the taxonomy's symptom order
    label_spaces: dict[str, list[str]]  # space -> its labels, in order
    labels: dict[str, list[list[int]]] = field(default_factory=dict)  # space -> one vector per row
    taxonomy: str | None = None
    manifest: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.rows)


def _legacy_drop(reason: str) -> tuple[str, str]:
    """Format 1's `drop_reason` text (`class: detail`) as (drop_class, drop_detail): only for old files."""
    head, _, rest = reason.partition(":")
    head = head.split(" ")[0].strip()
    if head in ("request_failed", "judge_failed"):
        head, _, rest = rest.strip().partition(":")
    elif head in ("llm_judge", "embedding_judge"):
        head = (
            "expressed_in_negative" if rest.strip().startswith("expressed_in_negative") else "below_threshold"
        )
    known = {d.value for d in DropClass}
    return (head.strip() if head.strip() in known else "unusable_output"), reason


def _post(rec: dict[str, Any], path: Path) -> Post:
    if "drop_reason" in rec and rec.get("drop_class") is None and rec["drop_reason"]:
        rec["drop_class"], rec["drop_detail"] = _legacy_drop(str(rec["drop_reason"]))
    out: dict[str, Any] = {}
    for c in COLUMNS:
        if c.name in rec:
            value = rec[c.name]
            out[c.name] = c.fresh_default() if value is None and not (c.required or c.nullable) else value
        elif c.required:
            raise InputError(f"{path} is not a synsym export: rows lack the `{c.name}` column")
        else:
            out[c.name] = c.fresh_default()
    for c in COLUMNS:  # a Parquet map reads back as (key, value) pairs
        if c.kind == "scores":
            scores = out[c.name]
            out[c.name] = dict(scores) if isinstance(scores, dict) else dict(scores or [])
    return cast(Post, out)


def _manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / "manifest.json"
    return cast(dict[str, Any], json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None


def is_export(path: Path) -> bool:
    """Whether `path` looks like a synsym export (a .parquet or .jsonl with `text` and `symptoms`),
    from its schema or first line, without reading it all."""
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            names = set(pq.read_schema(path).names)
        elif path.suffix == ".jsonl":
            with path.open("rb") as fh:
                first = next((line for line in fh if line.strip()), b"{}")
            names = set(json.loads(first))
        else:
            return False
    except (OSError, ValueError):
        return False
    return {"text", "symptoms"} <= names


def read_export(path: Path | str) -> Export:
    """An exported `dataset.parquet`, `dropped.parquet` or `dataset.jsonl`, or a run folder's
    `dataset.parquet`; `InputError` when it is not a synsym export."""
    path = Path(path)
    if path.is_dir():
        path = path / "dataset.parquet"
    if not path.is_file():
        raise InputError(f"{path} -> file not found; pass an exported dataset.parquet or its run folder")
    manifest = _manifest(path.parent)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(b"synsym", b"{}"))
        records = table.to_pylist()
    elif path.suffix == ".jsonl":
        records = read_rows(path)
        export = (manifest or {}).get("export") or {}
        meta = {"symptoms": export.get("symptoms"), "label_spaces": export.get("label_spaces") or {}}
    else:
        raise InputError(f"{path} -> a synsym export is a .parquet or .jsonl file")
    if records and ("text" not in records[0] or "symptoms" not in records[0]):
        raise InputError(f"{path} is not a synsym export: it needs `text` and `symptoms` columns")
    spaces = {s: list(v) for s, v in (meta.get("label_spaces") or {}).items()}
    labels = {s: [list(r.get(f"labels_{s}") or []) for r in records] for s in spaces}
    rows = [_post(rec, path) for rec in records]
    symptoms = list(meta.get("symptoms") or dict.fromkeys(s for r in rows for s in r["symptoms"]))
    return Export(path, rows, symptoms, spaces, labels, meta.get("taxonomy"), manifest)
