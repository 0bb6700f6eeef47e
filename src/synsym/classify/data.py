"""The loaders that read labelled texts from the layouts users actually have (each returns a
`LabelledTexts`); `synsym.classify.sources.load_dataset` picks one. Layouts are in docs/classifiers.md.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synsym.classify.labels import PAPER_PHQ9, PAPER_SYMPTOMS_14
from synsym.classify.texts import LabelledTexts
from synsym.core.columns import Post
from synsym.core.dataset import read_export, read_rows
from synsym.core.errors import InputError, suggest

TEXT_COLUMNS = ("text", "post", "sentence", "sentence_text", "content", "body", "Post")
LABEL_COLUMNS = ("labels", "label", "symptoms")


def columns(rows: list[dict[str, Any]]) -> list[str]:
    return list(rows[0].keys()) if rows else []


def _need(path: Path, rows: list[dict[str, Any]], wanted: Sequence[str], layout: str) -> None:
    found = columns(rows)
    missing = [c for c in wanted if c not in found]
    if missing:
        raise InputError(
            f"{path} -> missing column(s) {', '.join(missing)} for the {layout} layout; found columns: "
            f"{', '.join(found) or '(none)'}; expected: {', '.join(wanted)}. Pass --format, --text-column "
            "or --label-column to match the file"
        )


def _pick(
    path: Path, rows: list[dict[str, Any]], given: str | None, candidates: Sequence[str], what: str
) -> str:
    found = columns(rows)
    if given is not None:
        if given not in found:
            raise InputError(f"{path} -> no {what} column {given!r}; found columns: {', '.join(found)}")
        return given
    for c in candidates:
        if c in found:
            return c
    raise InputError(
        f"{path} -> cannot tell which column holds the {what}; "
        f"found columns: {', '.join(found) or '(none)'}; "
        f"expected one of: {', '.join(candidates)}. Pass --{what}-column"
    )


def _parse_list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple | np.ndarray):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        try:
            parsed = ast.literal_eval(text) if text[0] in "[(" else [t.strip() for t in text.split(";")]
        except (ValueError, SyntaxError):
            raise InputError(f"cannot read {value[:60]!r} as a list of labels") from None
        return list(parsed) if isinstance(parsed, list | tuple) else [parsed]
    raise InputError(f"cannot read {value!r} as a list of labels")


def _is_binary(value: Any) -> bool:
    return value in (0, 1, "0", "1", True, False, "0.0", "1.0", 0.0, 1.0)


def _from_lists(
    path: Path, texts: list[str], lists: list[list[Any]], names: Sequence[str] | None
) -> LabelledTexts:
    """Either multi-hot vectors (need names) or lists of label names."""
    flat = [v for row in lists for v in row]
    if flat and all(_is_binary(v) and not isinstance(v, str) for v in flat):
        width = {len(r) for r in lists}
        if len(width) != 1:
            raise InputError(
                f"{path} -> multi-hot vectors of different lengths {sorted(width)}; fix the file"
            )
        n = width.pop()
        if names is None:
            names = [f"label_{i}" for i in range(n)]
        if len(names) != n:
            raise InputError(
                f"{path} -> multi-hot vectors have {n} entries but {len(names)} label names were given"
            )
        return LabelledTexts(texts, np.array(lists, dtype=np.float32), list(names), source=str(path))
    found = sorted({str(v) for v in flat})
    names = list(names) if names is not None else found
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise InputError(
            f"{path} -> labels {', '.join(unknown)} are not among the given label names {list(names)}"
        )
    pos = {n: j for j, n in enumerate(names)}
    labels = np.zeros((len(texts), len(names)), dtype=np.float32)
    for i, row in enumerate(lists):
        for v in row:
            labels[i, pos[str(v)]] = 1.0
    return LabelledTexts(texts, labels, names, source=str(path))


def load_table(
    path: Path,
    rows: list[dict[str, Any]] | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    label_columns: Sequence[str] | None = None,
    label_names: Sequence[str] | None = None,
) -> LabelledTexts:
    """Any table with a text column and either a list column (multi-hot or names) or 0/1 columns per label."""
    rows = read_rows(path) if rows is None else rows
    if not rows:
        raise InputError(f"{path} -> the file has no rows")
    text_col = _pick(path, rows, text_column, TEXT_COLUMNS, "text")
    texts = ["" if r[text_col] is None else str(r[text_col]) for r in rows]
    if label_columns:
        _need(path, rows, list(label_columns), "one-column-per-label")
        return _binarycolumns(path, rows, texts, list(label_columns))
    found = columns(rows)
    if label_column is None and not any(c in found for c in LABEL_COLUMNS):
        binary = [c for c in found if c != text_col and all(_is_binary(r[c]) for r in rows[:200])]
        if binary:
            return _binarycolumns(path, rows, texts, binary)
    col = _pick(path, rows, label_column, LABEL_COLUMNS, "label")
    return _from_lists(path, texts, [_parse_list(r[col]) for r in rows], label_names)


def _binarycolumns(
    path: Path, rows: list[dict[str, Any]], texts: list[str], cols: list[str]
) -> LabelledTexts:
    bad = [c for c in cols if not all(_is_binary(r[c]) for r in rows)]
    if bad:
        raise InputError(f"{path} -> label column(s) {', '.join(bad)} hold values other than 0/1")
    labels = np.array([[float(r[c]) for c in cols] for r in rows], dtype=np.float32)
    return LabelledTexts(texts, labels, cols, source=str(path))


def load_paper_csv(path: Path, rows: list[dict[str, Any]] | None = None) -> LabelledTexts:
    """The paper's release: `post` and a 14-dim (or 9-dim PHQ-9) multi-hot `label` string."""
    rows = read_rows(path) if rows is None else rows
    _need(path, rows, ["post", "label"], "synsym-paper")
    lists = [_parse_list(r["label"]) for r in rows]
    n = len(lists[0]) if lists else 0
    names = {14: PAPER_SYMPTOMS_14, 9: PAPER_PHQ9}.get(n)
    if names is None:
        raise InputError(
            f"{path} -> `label` vectors have {n} entries; the paper's files have 14 (DSM-5) or 9 (PHQ-9)"
        )
    ds = _from_lists(path, [r["post"] for r in rows], lists, names)
    if "type" in rows[0]:  # the release's style column: clinical or colloquial
        ds.styles = np.array([r["type"] for r in rows], dtype=object)
    return ds


def load_primate(path: Path) -> LabelledTexts:
    """PRIMATE: a JSON list of {post_title, post_text, annotations: [[question, "yes"|"no"], ...]}."""
    rows = read_rows(path)
    _need(path, rows, ["post_text", "annotations"], "primate")
    names = [str(q) for q, _ in rows[0]["annotations"]]
    texts = [f"{r.get('post_title') or ''}\n{r['post_text']}".strip() for r in rows]
    labels = np.zeros((len(rows), len(names)), dtype=np.float32)
    pos = {n: j for j, n in enumerate(names)}
    for i, r in enumerate(rows):
        for q, answer in r["annotations"]:
            if q not in pos:
                raise InputError(f"{path} -> row {i} answers {q!r}, not among the first row's questions")
            labels[i, pos[q]] = 1.0 if str(answer).strip().lower() in ("yes", "1", "true") else 0.0
    return LabelledTexts(texts, labels, names, source=str(path))


def load_long(
    path: Path,
    text_column: str | None = None,
    label_column: str | None = None,
    status_column: str | None = None,
) -> LabelledTexts:
    """One row per (text, symptom), as D2S-style and ReDSM5 annotation files: rows sharing a text are merged.

    A `status` column of 0/1 (if present) says whether the symptom is present; without one, every row is
    positive.
    A label named none/no_symptom/0 marks a text with no symptom.
    """
    rows = read_rows(path)
    if not rows:
        raise InputError(f"{path} -> the file has no rows")
    text_col = _pick(path, rows, text_column, TEXT_COLUMNS, "text")
    label_col = _pick(path, rows, label_column, ("symptom", "DSM5_symptom", "label", "labels"), "label")
    status_col = status_column or ("status" if "status" in columns(rows) else None)
    order: dict[str, dict[str, float]] = {}
    for r in rows:
        cell = order.setdefault(str(r[text_col]), {})
        name = str(r[label_col]).strip()
        if name.lower() in ("", "none", "no_symptom", "0"):
            continue
        cell[name] = max(cell.get(name, 0.0), float(r[status_col]) if status_col else 1.0)
    names = sorted({n for cell in order.values() for n in cell})
    labels = np.array([[cell.get(n, 0.0) for n in names] for cell in order.values()], dtype=np.float32)
    return LabelledTexts(list(order), labels.reshape(len(order), len(names)), names, source=str(path))


CSSRS_POSITIVE = ("Ideation", "Behavior", "Attempt")
CSSRS_NEGATIVE = ("Supportive",)


def load_cssrs(path: Path, label_name: str = "Suicidal_ideas") -> LabelledTexts:
    """Reddit C-SSRS (Gaur et al. 2019): one row per user, `Post` a list-string of posts, `Label` a level.

    Ideation, Behavior and Attempt count as positive for the suicidal-ideation label, Supportive as negative;
    Indicator users are left out because the level does not say whether ideation is present.
    """
    rows = read_rows(path)
    _need(path, rows, ["Post", "Label"], "cssrs")
    texts, labels = [], []
    for r in rows:
        if r["Label"] not in CSSRS_POSITIVE + CSSRS_NEGATIVE:
            continue
        try:
            posts = ast.literal_eval(r["Post"])
        except (ValueError, SyntaxError):
            posts = [r["Post"]]
        texts.append(" ".join(str(p) for p in posts) if isinstance(posts, list) else str(posts))
        labels.append([1.0 if r["Label"] in CSSRS_POSITIVE else 0.0])
    return LabelledTexts(texts, np.array(labels, dtype=np.float32), [label_name], source=str(path))


def load_synsym_export(path: Path, label_space: str | None = None) -> LabelledTexts:
    """synsym's own export, read by `synsym.core.dataset.read_export`: labelled with the taxonomy's
    symptoms by name (default), or with the stored `labels_<space>` vectors for `label_space`.

    Rows carry their style, their group (a contrastive rewrite's is its root source's id, so splits keep
    the two together) and, for each rewrite whose source is in the export, one (source, rewrite, label)
    pair per removed symptom (in a label space: per label the source has and the rewrite lost)."""
    export = read_export(path)
    texts = [r["text"] for r in export.rows]
    extra = {"groups": _groups(export.rows), "styles": np.array([r["style"] for r in export.rows], object)}
    if label_space is None:
        index = {n: j for j, n in enumerate(export.symptoms)}
        labels = np.zeros((len(texts), len(index)), dtype=np.float32)
        for i, row in enumerate(export.rows):
            labels[i, [index[s] for s in row["symptoms"]]] = 1.0
        pairs = _pairs(export.rows, lambda row: [index[s] for s in row["removed"] if s in index])
        return LabelledTexts(texts, labels, list(export.symptoms), source=str(path), pairs=pairs, **extra)
    if label_space not in export.label_spaces:
        raise InputError(
            f"{path} -> no label space {label_space!r}{suggest(label_space, export.label_spaces)}"
        )
    names = export.label_spaces[label_space]
    matrix = np.array(export.labels[label_space], dtype=np.float32).reshape(len(texts), len(names))
    everything = list(
        range(len(names))
    )  # LabelledTexts keeps the labels the source has and the rewrite lacks
    pairs = _pairs(export.rows, lambda row: everything if row["removed"] else [])
    return LabelledTexts(texts, matrix, list(names), source=str(path), pairs=pairs, **extra)


def _groups(rows: Sequence[Post]) -> np.ndarray:
    """Each row's root: follow `contrast_of` while the source is in the export (a rewrite of a rewrite
    joins the first post's group); a source missing from the export still names its rewrites' group."""
    parent = {r["id"]: r["contrast_of"] for r in rows}
    out = []
    for r in rows:
        root, seen = r["id"], set()
        while (up := parent.get(root)) and root not in seen:
            seen.add(root)
            root = up
        out.append(root)
    return np.array(out, dtype=object)


def _pairs(rows: Sequence[Post], labels_of: Callable[[Post], list[int]]) -> np.ndarray:
    where = {r["id"]: i for i, r in enumerate(rows)}
    found = [
        (where[r["contrast_of"]], i, j)
        for i, r in enumerate(rows)
        if r["contrast_of"] in where
        for j in labels_of(r)
    ]
    return np.array(found, dtype=np.int64).reshape(-1, 3)


def read_texts(path: str | Path, text_column: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows and texts of an unlabelled file, for prediction."""
    path = Path(path)
    rows = read_rows(path)
    if not rows:
        raise InputError(f"{path} -> the file has no rows")
    col = _pick(path, rows, text_column, TEXT_COLUMNS, "text")
    return rows, ["" if r[col] is None else str(r[col]) for r in rows]
