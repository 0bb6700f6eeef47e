"""The dataset card (`README.md` of an exported dataset): what the data is, how it was made, what it may
and may not be used for, and where to get help.

The card travels with the data wherever it is copied or uploaded, so it states the limits of synthetic
symptom data plainly and carries a crisis-resources statement: the posts describe depression and
suicidal ideation. Counts in it are computed from the rows themselves, never copied from elsewhere.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

from synsym.core.columns import COLUMNS, Post
from synsym.core.funnel import funnel_counts
from synsym.core.taxonomy import Taxonomy
from synsym.recipe.common.calibrated import calibration_text

PAPER = (
    'Kang et al., "SynSym: A Synthetic Data Generation Framework for Psychiatric Symptom '
    'Identification", KDD 2026, arXiv:2603.21529'
)
BIBTEX = """@inproceedings{kang2026synsym,
  title         = {SynSym: A Synthetic Data Generation Framework for Psychiatric Symptom Identification},
  author        = {Kang and others},
  booktitle     = {Proceedings of the ACM SIGKDD Conference on Knowledge Discovery and Data Mining (KDD)},
  year          = {2026},
  eprint        = {2603.21529},
  archivePrefix = {arXiv}
}"""

CRISIS = """## Content warning and crisis resources

This dataset contains first-person text describing symptoms of depression, including hopelessness,
self-harm-related thoughts and suicidal ideation. If you or someone you know is struggling, please
contact local emergency services or a crisis line: for example the **988 Suicide & Crisis Lifeline**
(call or text 988) in the US, **Samaritans** (116 123) in the UK and Ireland, or find a helpline in
other countries at **https://findahelpline.com**."""

INTENDED_USE = """## Intended use

- Research on symptom-level identification of psychiatric symptoms in text: training and evaluating
  classifiers, data-augmentation studies, and comparisons with real annotated data.
- Method development for synthetic-data pipelines (the SynSym recipe and its variants).

## Out-of-scope use

- **Not for diagnosis, screening or assessment of any individual**, and not as a substitute for a
  clinician. A classifier trained on this data must not be used to make decisions about a person.
- Not for estimating the prevalence of symptoms or conditions in any population: the label
  distribution in this card reflects the generation recipe, not the world.

## Limitations

- **Synthetic, not clinical data.** Every post was written by a language model. None comes from a
  real person, and the posts are shorter, cleaner and more explicit than real social-media text.
- **Labels are generation targets, not clinician annotations.** A post is labelled with the symptoms
  it was asked to express; a judge (an LLM and/or an embedding model, see `judge_method`) checked that
  the post expresses them clearly enough to keep. Neither is a clinician, and a post may express a
  symptom it is not labelled with, or express a labelled one weakly.
- **Model biases.** The posts may carry the generating model's biases and stereotypes about mental
  illness, language, culture, gender and age, and its blind spots about how people actually talk
  about their symptoms.
- **Coverage.** Only the symptoms, sub-concepts, styles and combinations listed in the recipe are
  represented; label spaces other than the taxonomy's own are projections of it (see the taxonomy),
  and a projection can merge symptoms or drop those with no counterpart."""


@dataclass(frozen=True)
class CardInfo:
    """What the card needs beyond the rows: provenance, and the stage list the funnel follows.

    `recipe` is the resolved config summary (stages, sizes, backend and model names), already stripped
    of secrets. The funnel (made, failed and dropped per stage, kept) and the label distribution are
    computed from the rows, so they cannot disagree with them.
    """

    recipe: Mapping[str, Any]
    stages: Sequence[str] = ()
    seed: int | None = None
    taxonomy_name: str | None = None  # default: the taxonomy passed to write_dataset
    taxonomy_version: str | None = None
    title: str | None = None
    license: str | None = None  # the user's choice; None writes `unknown`
    language: str = "en"
    calibration: Mapping[str, Any] | None = None  # the judge's calibration (pipeline.calibrated)


def _pct(n: int, total: int) -> str:
    return f"{100.0 * n / total:.1f}%" if total else "-"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M" if n < 1_000_000 else "n>1M"


def _header(info: CardInfo, taxonomy: Taxonomy, n_rows: int, title: str) -> str:
    meta: dict[str, Any] = {
        "license": info.license or "unknown",
        "language": [info.language],
        "pretty_name": title,
        "task_categories": ["text-classification"],
        "task_ids": ["multi-label-classification"],
        "tags": ["synthetic", "mental-health", "psychiatric-symptoms", "synsym", taxonomy.name],
        "size_categories": [_size_category(n_rows)],
        "configs": [
            {"config_name": "default", "data_files": [{"split": "train", "path": "dataset.parquet"}]}
        ],
    }
    body = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    note = "" if info.license else "# license: yours to choose before publishing (check the model's terms)\n"
    return f"---\n{note}{body}---"


def _funnel(info: CardInfo, kept: Sequence[Post], dropped: Sequence[Post]) -> str:
    counts = funnel_counts([*kept, *dropped], info.stages)
    rows: list[tuple[str, str, int]] = []
    for stage in counts["stages"]:
        if stage["made"]:
            rows.append((stage["stage"], "rows made", stage["made"]))
        rows += [(stage["stage"], f"requests failed: {k}", v) for k, v in stage["failed"].items()]
        rows += [(stage["stage"], f"dropped: {k}", v) for k, v in stage["dropped"].items()]
    rows.append(("**dataset**", "**rows kept**", len(kept)))
    return _table(["stage", "step", "count"], [(a, b, f"{v:,}") for a, b, v in rows])


def _composition(kept: Sequence[Post], styles: Sequence[str]) -> str:
    total = len(kept)
    style = Counter(r["style"] for r in kept)
    sizes = Counter(len(r["symptoms"]) for r in kept)
    stages = Counter(r["stage"] for r in kept)
    kinds = Counter(r["negative_kind"] for r in kept if r["negative_kind"])
    transforms = Counter(t for r in kept for t in r["transforms"])
    personas = Counter(r["persona"] for r in kept if r["persona"])
    rows: list[tuple[str, str, int, str]] = []
    rows += [("style", s, style[s], _pct(style[s], total)) for s in styles]
    rows += [("stage", s, n, _pct(n, total)) for s, n in sorted(stages.items())]
    rows += [("negative kind", k, n, _pct(n, total)) for k, n in sorted(kinds.items())]
    rows += [("persona", k, n, _pct(n, total)) for k, n in sorted(personas.items())]
    rows += [("transformation", k, n, _pct(n, total)) for k, n in sorted(transforms.items())]
    rows += [("symptoms per post", str(k), n, _pct(n, total)) for k, n in sorted(sizes.items())]
    mean = sum(k * n for k, n in sizes.items()) / total if total else 0.0
    return _table(["", "value", "posts", "share"], rows) + f"\n\nMean symptoms per post: {mean:.2f}."


def _distribution(
    space: str,
    labels: Sequence[str],
    matrix: np.ndarray,
    kept: Sequence[Post],
    styles: Sequence[str],
) -> str:
    total = len(kept)
    hot = np.asarray(matrix, dtype=np.int64).reshape(total, len(labels))
    style_of = np.array([row["style"] for row in kept], dtype=object)
    overall = hot.sum(axis=0).tolist()
    per_style = {s: hot[style_of == s].sum(axis=0).tolist() for s in styles}
    empty = int((hot.sum(axis=1) == 0).sum())
    table = _table(
        ["label", "posts", "share", *styles],
        [
            (lab, overall[j], _pct(overall[j], total), *(per_style[s][j] for s in styles))
            for j, lab in enumerate(labels)
        ],
    )
    note = f"\n\n{empty:,} of {total:,} posts have no label in `{space}`." if empty else ""
    return f"### `labels_{space}`\n\n{table}{note}"


_TYPES = {"string": "string", "strings": "list<string>", "scores": "map<string,double>"}


def _column_rows() -> list[tuple[str, str, str]]:
    """The columns of `dataset.parquet`, from the one column table, label columns after `symptoms`."""
    rows = []
    for c in COLUMNS:
        if c.dropped_only:
            continue
        rows.append((c.name, _TYPES[c.kind] + ("?" if c.nullable else ""), c.meaning))
        if c.name == "symptoms":
            rows.append(("labels_<space>", "list<int8>", "multi-hot labels, in the label space's order"))
    return rows


def _writers(kept: Sequence[Post]) -> str:
    """Which model wrote the posts, from the rows' own provenance (a config may leave the model unnamed:
    the embedded default's is `model: null`)."""
    by = Counter((r["model"], r["backend"]) for r in kept)
    if not by:
        return ""
    named = "; ".join(f"`{m}` ({b}, {n:,} posts)" for (m, b), n in by.most_common())
    return f"Written by: {named}."


def _expanded(recipe: Mapping[str, Any]) -> str:
    """What the expand step did in this run: an LLM's sub-concepts, or the taxonomy's seeds as they are."""
    if ((recipe.get("expand") or {}).get("method")) == "seeds":
        return (
            "the sub-concepts were the taxonomy's seed descriptions as they are (`expand.method: seeds`); "
            "no LLM expanded them."
        )
    return (
        "each symptom was expanded by an LLM into fine-grained sub-concepts, keeping the taxonomy's seed "
        "descriptions (or the sub-concepts were read from a reviewed file)."
    )


def _how_made(info: CardInfo, styles: Sequence[str]) -> list[str]:
    """The recipe's steps as this run took them."""
    return [
        "The SynSym recipe and synsym's additions; the configuration below records which options this run "
        "used.",
        f"1. **expand**: {_expanded(info.recipe)}\n"
        "2. **generate**: for each symptom and sub-concept, the LLM wrote short first-person statements in "
        f"each style ({', '.join(styles)}) that express that symptom and no other.\n"
        "3. **compose**: multi-symptom posts were written for plausible combinations of 2-5 symptoms "
        "drawn from a co-occurrence prior (or proposed by the LLM), each with a severity (mild, moderate, "
        "severe).\n"
        "4. **judge and filter**: every (post, symptom) pair was scored 0-5 for how clearly the post "
        "expresses the symptom, by an LLM with a rubric and/or an embedding model (`judge_method`); posts "
        "below the threshold and exact or near duplicates were dropped, each with its reason "
        "(`dropped.parquet`).\n"
        "5. **beyond the paper** (when configured): **hard negatives** (posts close to a symptom's topic "
        "that express none: someone else's, a resolved past, advice, hyperbole, everyday life; all-zero "
        "rows, `negative_kind`), **negated statements** (a denied symptom is not labelled), **long posts** "
        "(judged statements embedded among neutral sentences; labels are those of the embedded "
        "statements, `parts`), **personas** (`persona`) and **surface transformations** applied after "
        "judging with labels unchanged (`transforms`). The composition table says which this run has.\n"
        "6. **export**: this folder.",
    ]


def render_card(
    info: CardInfo,
    taxonomy: Taxonomy,
    kept: Sequence[Post],
    dropped: Sequence[Post],
    labels: Mapping[str, np.ndarray],
    files: Sequence[str],
) -> str:
    """The card as Markdown with a YAML header. `labels` is space -> the kept rows' multi-hot vectors."""
    tax_name = info.taxonomy_name or taxonomy.name
    tax_version = info.taxonomy_version or taxonomy.version
    title = info.title or f"SynSym synthetic symptom posts ({tax_name})"
    styles = list(taxonomy.styles) + sorted({r["style"] for r in kept} - set(taxonomy.styles))
    plain = json.loads(json.dumps(dict(info.recipe), default=str))  # Paths, enums -> text
    recipe = yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, width=100).rstrip()
    spaces = ", ".join(f"`{s}` ({len(taxonomy.space(s).labels)} labels)" for s in labels)
    seed = "not recorded" if info.seed is None else str(info.seed)
    parts = [
        _header(info, taxonomy, len(kept), title),
        f"# {title}",
        f"{len(kept):,} synthetic, first-person, social-media-style posts, each labelled with the symptoms "
        f"of the `{tax_name}` taxonomy (version {tax_version}) it was written to express, generated with "
        f"`synsym` following the SynSym recipe ({PAPER}). "
        f"Multi-hot labels are given in these label spaces: {spaces}. {_writers(kept)}",
        CRISIS,
        "## What a label means",
        f"The `{tax_name}` taxonomy's annotation convention: a post carries a symptom's label when it states "
        "that symptom as below. Contrastive rewrites (`contrast_kind`), when present, change one of these "
        "and are labelled accordingly.\n\n"
        + "\n".join(f"- {line}" for line in taxonomy.convention.describe()),
        "## How it was made",
        *_how_made(info, styles),
        f"Seed: {seed}. The recipe as run (resolved configuration, no secrets):",
        f"```yaml\n{recipe}\n```",
        *([calibration_text(info.calibration)] if info.calibration else []),
        "## Funnel",
        _funnel(info, kept, dropped),
        "## Composition",
        _composition(kept, styles),
        "## Label distribution",
        "Counts of kept posts with each label on; a post with several symptoms counts once per label.",
        *(_distribution(s, taxonomy.space(s).labels, m, kept, styles) for s, m in labels.items()),
        "## Files and columns",
        "Files: " + ", ".join(f"`{f}`" for f in files) + ".",
        _table(["column", "type", "meaning"], _column_rows()),
        "`dropped.parquet` adds "
        + ", ".join(f"`{c.name}` ({c.meaning})" for c in COLUMNS if c.dropped_only)
        + "; in `hf/`, `judge_scores` is JSON text.",
        INTENDED_USE,
        "## Citation",
        f"If you use this dataset, please cite the SynSym paper ({PAPER}):",
        f"```bibtex\n{BIBTEX}\n```",
    ]
    return "\n\n".join(parts) + "\n"
