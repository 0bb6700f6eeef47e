"""Stage 1, expand: each symptom becomes at least N sub-concepts that keep every seed description.

The result is `subconcepts.yaml` in the run directory: a file a clinician can review, edit and feed
back with `--subconcepts FILE` (the paper's released `symptom_sub_concepts.json` is accepted too).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, create_model, field_validator

from synsym.backends.base import ChatRequest
from synsym.core.errors import InputError
from synsym.core.taxonomy import Taxonomy, suggest
from synsym.engine.engine import Task
from synsym.pipeline.atomic import write_text
from synsym.pipeline.context import StageContext
from synsym.pipeline.prompts import bullet_list, load_template

Subconcepts = dict[str, list[str]]
_HEADER = (
    "# Sub-concepts per symptom, made by `synsym generate` (expand stage).\n"
    "# Review and edit freely (add, reword, delete), then reuse with: synsym generate --subconcepts FILE\n"
)


_CITATION = re.compile(r"\s*\([^()]*\b(?:PHQ|DSM|BDI|HAM|GAD|ICD)\b[^()]*\)")


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]", "", text.lower()).strip()


def _answer_model(n: int) -> type[BaseModel]:
    def distinct(items: list[str]) -> list[str]:
        seen: set[str] = set()
        for item in items:
            if _normal(item) in seen:
                raise ValueError(f"sub-concepts must be distinct; {item!r} repeats an earlier one")
            seen.add(_normal(item))
        return items

    return create_model(
        "SubconceptList",
        subconcepts=(list[str], Field(min_length=n, max_length=3 * n)),
        __validators__={"distinct": field_validator("subconcepts")(distinct)},
    )


def merge_with_seeds(seeds: list[str], proposed: list[str]) -> list[str]:
    """Seeds first (without their scale citations), then every proposed sub-concept not already there."""
    merged, seen = [], set()
    for item in [*(_CITATION.sub("", seed) for seed in seeds), *proposed]:
        item = " ".join(item.split())
        if item and _normal(item) not in seen:
            seen.add(_normal(item))
            merged.append(item)
    return merged


def run_expand(ctx: StageContext) -> tuple[Subconcepts, list[str]]:
    """Return sub-concepts per symptom, and a note for each symptom that fell back to its seeds."""
    tax, cfg = ctx.taxonomy, ctx.config.expand
    if cfg.method == "seeds":
        return {s.name: merge_with_seeds(s.seeds, []) for s in tax.symptoms}, []
    template = load_template("expand")
    schema = _answer_model(cfg.n_subconcepts)
    tasks = [
        Task(
            id=s.name,
            request=ChatRequest(
                messages=template.render(
                    symptom=s.name,
                    definition=s.definition,
                    seeds=bullet_list(s.seeds),
                    n=cfg.n_subconcepts,
                    others=bullet_list(
                        [f"{o.name}: {o.definition}" for o in tax.symptoms if o.name != s.name]
                    ),
                ),
                temperature=cfg.temperature,
                max_tokens=cfg.max_tokens,
                json_schema=schema.model_json_schema(),
                schema_name="subconcepts",
            ),
            schema=schema,
            template=template.hash,
        )
        for s in tax.symptoms
    ]
    out, notes = {}, []
    for s, result in zip(tax.symptoms, ctx.engine.run_sync(tasks, label="expand"), strict=True):
        proposed = getattr(result.value, "subconcepts", []) if result.ok else []
        if not result.ok:
            notes.append(
                f"{s.name}: expansion failed ({result.failure}: {result.error}); using its seeds only"
            )
        out[s.name] = merge_with_seeds(s.seeds, proposed)
    return out, notes


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
