"""Label spaces and the mapping between them.

Named label spaces and their mappings are the taxonomy's (`synsym.core.taxonomy`). The paper's label
orders stay here because its released CSVs store bare multi-hot vectors whose order is not in the file.
Mapping itself is a plain function of a `{source_label: [target labels]}` dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from synsym.core.errors import InputError
from synsym.core.taxonomy import load_taxonomy

# Index order of symptom_dictionary_dsm5.json in the paper's release.
PAPER_SYMPTOMS_14: tuple[str, ...] = (
    "Anger_Irritability",
    "Decreased_energy_tiredness_fatigue",
    "Depressed_Mood",
    "Genitourinary_symptoms",
    "Hyperactivity_agitation",
    "Inattention",
    "Indecisiveness",
    "Suicidal_ideas",
    "Worthlessness_and_guilty",
    "Loss_of_interest_or_motivation",
    "Pessimism",
    "Poor_memory",
    "Sleep_disturbance",
    "Weight_and_appetite_change",
)
# Index order of symptom_dictionary_phq9.json.
PAPER_PHQ9: tuple[str, ...] = (
    "Low_Self-Esteem",
    "Feeling_Down",
    "Lack_of_Energy",
    "Lack_of_Interest",
    "Hyper_Lower_Activity",
    "Appetite_Change",
    "Suicidal_Ideation",
    "Concentration_Problems",
    "Sleep_Disturbance",
)


def known_label_spaces(taxonomy: str = "depression-14") -> list[str]:
    return sorted(load_taxonomy(taxonomy).label_spaces)


def label_space(name: str, taxonomy: str = "depression-14") -> tuple[list[str], dict[str, list[str]] | None]:
    """(label names, mapping from the taxonomy's symptoms, or None for the taxonomy's own labels) for a
    label space the taxonomy declares (`phq9`, `dsm5` as ReDSM5 names its criteria, `bdi2`, ...)."""
    tax = load_taxonomy(taxonomy)
    if name not in tax.label_spaces:
        raise InputError(
            f"unknown label space {name!r}; {taxonomy} declares: {', '.join(known_label_spaces(taxonomy))}. "
            "Use one of those, or leave --label-space out to keep the model's own labels"
        )
    space = tax.space(name)
    if list(space.labels) == list(tax.names):
        return list(space.labels), None
    return list(space.labels), {symptom: list(labels) for symptom, labels in space.relation().items()}


def mapping_matrix(
    source: Sequence[str], mapping: Mapping[str, Sequence[str]], target: Sequence[str]
) -> np.ndarray:
    """Binary (len(source), len(target)) matrix: M[i, j] = 1 when source[i] maps to target[j].

    A source label absent from `mapping` maps to a target label of the same name if there is one, else
    nowhere.
    """
    index = {name: j for j, name in enumerate(target)}
    matrix = np.zeros((len(source), len(target)), dtype=np.float32)
    for i, name in enumerate(source):
        targets = mapping.get(name, [name] if name in index else [])
        for t in targets:
            if t not in index:
                raise InputError(
                    f"label mapping sends {name!r} to {t!r}, which is not in the target label space "
                    f"({', '.join(target)}); fix the mapping"
                )
            matrix[i, index[t]] = 1.0
    return matrix


def map_gold(
    labels: np.ndarray, source: Sequence[str], mapping: Mapping[str, Sequence[str]], target: Sequence[str]
) -> np.ndarray:
    """Map multi-hot gold labels: a target label is on when any of its source labels is on."""
    matrix = mapping_matrix(source, mapping, target)
    return (labels.astype(np.float32) @ matrix > 0).astype(np.float32)


def map_scores(
    scores: np.ndarray, source: Sequence[str], mapping: Mapping[str, Sequence[str]], target: Sequence[str]
) -> np.ndarray:
    """Map probabilities (or 0/1 decisions): a target label takes the max over its source labels."""
    matrix = mapping_matrix(source, mapping, target)
    out = np.zeros((scores.shape[0], len(target)), dtype=np.float32)
    for j in range(len(target)):
        cols = np.flatnonzero(matrix[:, j])
        if cols.size:
            out[:, j] = scores[:, cols].max(axis=1)
    return out
