"""`load_dataset`: one entry to every labelled source, a file in any supported layout or the no-LLM
control (a taxonomy's own texts), so classify, quality and the experiment runner read data one way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from synsym.classify.control import control_set
from synsym.classify.data import (
    columns,
    load_cssrs,
    load_long,
    load_paper_csv,
    load_primate,
    load_synsym_export,
    load_table,
)
from synsym.classify.texts import LabelledTexts
from synsym.core.dataset import is_export, read_rows
from synsym.core.errors import InputError

FORMATS = ("auto", "table", "synsym", "synsym-paper", "psysym", "primate", "d2s", "cssrs", "control")
# a table's provenance columns, by the names they go by (the paper's CSV: `type`, `description`)
STYLE_COLUMNS = ("style", "type")
SUBCONCEPT_COLUMNS = ("subconcept", "description")


def load_dataset(
    path: str | Path,
    fmt: str = "auto",
    text_column: str | None = None,
    label_column: str | None = None,
    label_columns: Sequence[str] | None = None,
    label_names: Sequence[str] | None = None,
    label_space: str | None = None,
    subconcepts: str | Path | None = None,
) -> LabelledTexts:
    """Load any supported layout; `auto` recognises the paper's CSV, PRIMATE, C-SSRS and synsym exports.

    `control` reads no file of texts: `path` is a taxonomy (built-in name or YAML) and `subconcepts` an
    optional `subconcepts.yaml` (see synsym.classify.control)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    if subconcepts is not None and fmt != "control":
        raise InputError(
            f"subconcepts: {subconcepts} -> only used with format control; "
            f"remove it or set format: control (this source is {fmt!r})"
        )
    if fmt == "control":
        return control_set(str(path), Path(subconcepts) if subconcepts is not None else None)
    path = Path(path)
    if fmt == "primate":
        return load_primate(path)
    if fmt == "d2s":
        return load_long(path, text_column, label_column)
    if fmt == "cssrs":
        return load_cssrs(path)
    if fmt == "synsym" or (fmt == "auto" and not (text_column or label_column) and is_export(path)):
        return load_synsym_export(path, label_space)
    rows = read_rows(path)
    cols = set(columns(rows))
    if fmt == "synsym-paper" or (
        fmt == "auto" and {"post", "label"} <= cols and not (text_column or label_column)
    ):
        return load_paper_csv(path, rows)
    if fmt == "auto" and {"post_text", "annotations"} <= cols:
        return load_primate(path)
    if fmt == "auto" and {"User", "Post", "Label"} <= cols:
        return load_cssrs(path)
    if fmt == "psysym" and label_column is None:
        label_column = "symptoms" if "symptoms" in cols else None
    return load_table(path, rows, text_column, label_column, label_columns, label_names)


def aligned_column(
    rows: Sequence[Mapping[str, Any]], n: int, candidates: Sequence[str]
) -> list[str | None] | None:
    """The first of `candidates` that a table's raw rows (`read_rows`) have, one value per row as text
    (None where empty), when the table has the `n` rows `load_dataset` read from it; else None (no such
    column, or a long-format file whose rows were merged and so cannot be lined up)."""
    if not rows or len(rows) != n:
        return None
    column = next((c for c in candidates if c in rows[0]), None)
    if column is None:
        return None
    return [None if r.get(column) in (None, "") else str(r.get(column)) for r in rows]
