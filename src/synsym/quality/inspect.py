"""`inspect`: every quality figure of a dataset in one JSON-ready dict, and `quality.json` on disk.

One function a Python user calls exactly as the CLI does. Embedding figures load the offline MiniLM
once; `embed=False` skips them (seconds instead of a minute on 18k posts with two cores).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from synsym.quality.balance import balance, prior_difference
from synsym.quality.contrast import contrast_summary
from synsym.quality.data import QualityData, load_quality_data
from synsym.quality.diversity import Embedder, default_embedder, diversity
from synsym.quality.funnel import funnel
from synsym.quality.leakage import leakage
from synsym.quality.shortcuts import definitions_for, shortcuts


def inspect_dataset(
    path: str | Path | QualityData,
    reference: str | Path | None = None,
    against_real: str | Path | None = None,
    embed: bool = True,
    encoder: str = "minilm",
    embedder: Embedder | None = None,
    taxonomy: str | None = None,
    embed_sample: int = 3000,
    bleu_sample: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """Balance, diversity, shortcuts, (run directory) funnel and prior difference, and optionally the
    same diversity figures for `reference` and leakage against `against_real`."""
    start = time.perf_counter()
    data = path if isinstance(path, QualityData) else load_quality_data(path)
    if embedder is None and embed:
        embedder = default_embedder(encoder)
    tax = taxonomy or ((data.manifest or {}).get("config") or {}).get("taxonomy") or "depression-14"
    result: dict[str, Any] = {
        "source": data.source,
        "run_dir": str(data.run_dir) if data.run_dir else None,
        "label_names": data.label_names,
        "balance": balance(data),
        "diversity": diversity(data, embedder, bleu_sample, embed_sample, seed),
        "shortcuts": shortcuts(data, definitions_for(data.label_names, tax)),
    }
    if data.run_dir is not None:
        result["funnel"] = funnel(data.run_dir, data.manifest)
        result["prior"] = prior_difference(data)
    result["contrast"] = contrast_summary(data, seed=seed)
    if reference is not None:
        ref = load_quality_data(reference)
        result["reference"] = {
            "source": ref.source,
            "balance": balance(ref),
            "diversity": diversity(ref, embedder, bleu_sample, embed_sample, seed),
        }
    if against_real is not None:
        from synsym.classify.data import read_texts

        _, real = read_texts(against_real)
        result["leakage"] = leakage(data.texts, real, embedder)
        result["leakage"]["source"] = str(against_real)
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


def default_quality_path(path: str | Path) -> Path:
    """`RUN_DIR/quality.json` for a run directory, else `quality.json` in the working directory (the
    data may sit on a read-only share)."""
    path = Path(path)
    return path / "quality.json" if path.is_dir() else Path("quality.json")


def write_quality(result: dict[str, Any], out: Path) -> Path:
    """Write the result as indented JSON via a temporary file, so a killed run leaves no half file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(out)
    return out


def write_inspection(
    source: str | Path,
    out: Path | None = None,
    reference: str | Path | None = None,
    against_real: str | Path | None = None,
    load_args: dict[str, Any] | None = None,
    **inspect_args: Any,
) -> tuple[dict[str, Any], Path]:
    """Inspect `source` (a run directory or a dataset file; `load_args`: fmt, text_column, label_column
    for `load_quality_data`) and write the result to `out` (default: `default_quality_path`)."""
    data = load_quality_data(source, **(load_args or {}))
    result = inspect_dataset(data, reference, against_real, **inspect_args)
    return result, write_quality(result, out or default_quality_path(source))
