"""Label spaces and the mapping between them.

The 14 SynSym symptoms and their PHQ-9 collapse are hard-coded here only because the paper's released CSV
stores bare multi-hot vectors whose order is not in the file. Mapping itself is a plain function of a
`{source_label: [target labels]}` dict so the taxonomy module can feed it its declared mappings.
TODO(taxonomy): when `synsym.core.taxonomy` exposes label spaces, make `label_space()` look them up there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from synsym.core.errors import InputError

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
# The paper's 14 -> PHQ-9 collapse; Anger_Irritability has no PHQ-9 item.
PAPER_14_TO_PHQ9: dict[str, list[str]] = {
    "Anger_Irritability": [],
    "Decreased_energy_tiredness_fatigue": ["Lack_of_Energy"],
    "Depressed_Mood": ["Feeling_Down"],
    "Genitourinary_symptoms": ["Lack_of_Interest"],
    "Hyperactivity_agitation": ["Hyper_Lower_Activity"],
    "Inattention": ["Concentration_Problems"],
    "Indecisiveness": ["Concentration_Problems"],
    "Suicidal_ideas": ["Suicidal_Ideation"],
    "Worthlessness_and_guilty": ["Low_Self-Esteem"],
    "Loss_of_interest_or_motivation": ["Lack_of_Interest"],
    "Pessimism": ["Feeling_Down"],
    "Poor_memory": ["Concentration_Problems"],
    "Sleep_disturbance": ["Sleep_Disturbance"],
    "Weight_and_appetite_change": ["Appetite_Change"],
}

# The 14 symptoms onto ReDSM5's 9 DSM-5 criteria (Bao et al. 2025), for scoring on ReDSM5-style sentences.
PAPER_14_TO_REDSM5: dict[str, list[str]] = {
    "Anger_Irritability": [],
    "Decreased_energy_tiredness_fatigue": ["FATIGUE"],
    "Depressed_Mood": ["DEPRESSED_MOOD"],
    "Genitourinary_symptoms": [],
    "Hyperactivity_agitation": ["PSYCHOMOTOR"],
    "Inattention": ["COGNITIVE_ISSUES"],
    "Indecisiveness": ["COGNITIVE_ISSUES"],
    "Suicidal_ideas": ["SUICIDAL_THOUGHTS"],
    "Worthlessness_and_guilty": ["WORTHLESSNESS"],
    "Loss_of_interest_or_motivation": ["ANHEDONIA"],
    "Pessimism": ["DEPRESSED_MOOD"],
    "Poor_memory": ["COGNITIVE_ISSUES"],
    "Sleep_disturbance": ["SLEEP_ISSUES"],
    "Weight_and_appetite_change": ["APPETITE_CHANGE"],
}
REDSM5: tuple[str, ...] = (
    "DEPRESSED_MOOD",
    "ANHEDONIA",
    "APPETITE_CHANGE",
    "SLEEP_ISSUES",
    "PSYCHOMOTOR",
    "FATIGUE",
    "WORTHLESSNESS",
    "COGNITIVE_ISSUES",
    "SUICIDAL_THOUGHTS",
)

_SPACES: dict[str, tuple[tuple[str, ...], dict[str, list[str]] | None]] = {
    "symptoms14": (PAPER_SYMPTOMS_14, None),
    "phq9": (PAPER_PHQ9, PAPER_14_TO_PHQ9),
    "redsm5": (REDSM5, PAPER_14_TO_REDSM5),
}


def known_label_spaces() -> list[str]:
    return sorted(_SPACES)


def label_space(name: str) -> tuple[list[str], dict[str, list[str]] | None]:
    """Return (label names, mapping from the 14 symptoms or None) for a named label space."""
    if name not in _SPACES:
        raise InputError(
            f"unknown label space {name!r}; known label spaces: {', '.join(known_label_spaces())}. "
            "Use one of those, or leave --label-space out to keep the model's own labels"
        )
    names, mapping = _SPACES[name]
    return list(names), mapping


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
