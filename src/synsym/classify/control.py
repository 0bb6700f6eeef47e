"""The no-LLM control: a training set made from the taxonomy's own texts, with no model call at all.

The realism benchmark asks how much LLM-generated posts add over what the taxonomy already says. This is
the other arm: each symptom's definition, its seed descriptions and (optionally) the sub-concepts of a run's
`subconcepts.yaml`, each one text labelled with that one symptom. `synsym experiment` names it with
`format: control`; `load_dataset(name_or_yaml, "control")` (synsym.classify.sources) and
`synsym train --format control` read it too.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from synsym.classify.texts import LabelledTexts
from synsym.core.subconcepts import load_subconcepts
from synsym.core.taxonomy import load_taxonomy

# "(PHQ-9 item 4, DSM-5 criterion 6)" at the end of a seed: a scale reference, not how people write
_TRAILING_REFERENCE = re.compile(r"\s*\([^()]*\)\s*$")


def strip_reference(text: str) -> str:
    """`text` without a trailing parenthesised reference, whitespace collapsed."""
    return " ".join(_TRAILING_REFERENCE.sub("", text).split())


def control_set(taxonomy: str | Path, subconcepts: Path | None = None) -> LabelledTexts:
    """One row per definition, seed (reference stripped) and sub-concept, labelled with its one symptom.

    `taxonomy` is a built-in name (`depression-14`) or a taxonomy YAML; `subconcepts` a `subconcepts.yaml`
    (or the paper's JSON) for that taxonomy. Label names are the taxonomy's symptoms in order and every label
    is annotated. An exact duplicate text (after collapsing whitespace) keeps only its first row.
    """
    tax = load_taxonomy(taxonomy)
    extra: dict[str, list[str]] = {}
    if subconcepts is not None:
        extra = load_subconcepts(Path(subconcepts), tax)
    texts: list[str] = []
    rows: list[int] = []
    seen: set[str] = set()
    for j, symptom in enumerate(tax.symptoms):
        items = [symptom.definition, *map(strip_reference, symptom.seeds), *extra.get(symptom.name, [])]
        for item in items:
            text = " ".join(item.split())
            if text and text not in seen:
                seen.add(text)
                texts.append(text)
                rows.append(j)
    labels = np.zeros((len(texts), len(tax.names)), dtype=np.float32)
    labels[np.arange(len(texts)), rows] = 1.0
    source = f"control:{tax.name}" + (f"+{Path(subconcepts).name}" if subconcepts is not None else "")
    return LabelledTexts(texts, labels, list(tax.names), source=source)
