"""Sub-concepts per symptom: the expand stage's output, a file a clinician can review, edit and feed back
(`synsym generate --subconcepts FILE`), and a training source of the no-LLM control. Our YAML
(`symptom: [phrases]`) and the SynSym paper's released JSON are both read."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from synsym.core.atomic import write_text
from synsym.core.errors import InputError, suggest
from synsym.core.taxonomy import Taxonomy

Subconcepts = dict[str, list[str]]
_HEADER = (
    "# Sub-concepts per symptom, made by `synsym generate` (expand stage).\n"
    "# Review and edit freely (add, reword, delete), then reuse with: synsym generate --subconcepts FILE\n"
)
_CITATION = re.compile(r"\s*\([^()]*\b(?:PHQ|DSM|BDI|HAM|GAD|ICD)\b[^()]*\)")


def normal_form(text: str) -> str:
    """Lowercase letters, digits and spaces only: two phrases with one normal form are one sub-concept."""
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def merge_with_seeds(seeds: list[str], proposed: list[str]) -> list[str]:
    """Seeds first (without their scale citations), then every proposed sub-concept not already there."""
    merged, seen = [], set()
    for item in [*(_CITATION.sub("", seed) for seed in seeds), *proposed]:
        item = " ".join(item.split())
        if item and normal_form(item) not in seen:
            seen.add(normal_form(item))
            merged.append(item)
    return merged


def write_subconcepts(path: Path, subconcepts: Subconcepts) -> None:
    write_text(path, _HEADER + yaml.safe_dump(subconcepts, sort_keys=False, allow_unicode=True, width=1000))


def load_subconcepts(path: Path, taxonomy: Taxonomy) -> Subconcepts:
    """Read our YAML (`symptom: [phrases]`) or the paper's JSON (`symptom: {"Descriptions": [[...]]}`)."""
    try:
        text = path.read_text(encoding="utf-8")
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except FileNotFoundError:
        raise InputError(f"{path} -> sub-concepts file not found") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError(f"{path} -> cannot parse sub-concepts file: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} -> expected a mapping of symptom -> list of sub-concepts")
    out: Subconcepts = {}
    for name, value in data.items():
        if name not in taxonomy.names:
            raise InputError(
                f"{path}: {name} -> not a symptom of {taxonomy.name}{suggest(str(name), taxonomy.names)}"
            )
        if isinstance(value, dict) and "Descriptions" in value:  # the paper's released format
            value = [item for group in value["Descriptions"] for item in group]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{path}: {name} -> expected a list of sub-concept phrases")
        out[name] = merge_with_seeds([], value)
    missing = [n for n in taxonomy.names if n not in out]
    if missing:
        raise InputError(
            f"{path} -> no sub-concepts for {', '.join(missing)}; add them or remove those symptoms"
        )
    return out
