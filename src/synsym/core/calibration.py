"""The judge's thresholds fitted to a user's raters: the file `synsym review calibrate` writes and a run
reads (`judge.calibration`), and the one accept rule both apply.

It lives in core because both sides need it and neither may import the other: review fits thresholds,
the judge stage uses them. `decide` is the judge's rule (every stated symptom must reach its threshold;
a negative's, a denied or a removed symptom must stay under its own), so a threshold fitted here makes
in a run exactly the decisions it was fitted on.

Thresholds come per kind of row, because a kind asks a different question: `positive` (a stated symptom
is expressed enough), `negative` (a hard negative or a denied symptom is not expressed), `contrast` (a
rewrite no longer expresses what it removed). Within a kind, per symptom where enough posts were rated,
else the kind's pooled threshold; a kind not fitted keeps the run's configured threshold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from synsym.core.columns import DropClass, Post
from synsym.core.config import StrictModel, read_yaml, validate
from synsym.core.errors import InputError

__all__ = ["FORMAT", "KINDS", "Calibration", "Drop", "KindFit", "Rule", "decide", "load_calibration"]

FORMAT = 1
Kind = Literal["positive", "negative", "contrast"]
KINDS: tuple[Kind, ...] = ("positive", "negative", "contrast")


class KindFit(StrictModel):
    """One kind's thresholds: fitted per symptom where enough posts were rated, else `pooled`."""

    pooled: float = Field(ge=0, le=5, description="the threshold of every symptom without its own fit")
    symptoms: dict[str, float] = Field(default_factory=dict, description="symptom -> its own threshold")
    pooled_symptoms: list[str] = Field(
        default_factory=list, description="rated too little (or one-sided) for a fit of their own"
    )
    default: float = Field(ge=0, le=5, description="the threshold the run used before calibration")
    n_items: int = Field(0, ge=0, description="rated posts of this kind the fit used")


class Calibration(StrictModel):
    """A calibration file. `agreement` holds the figures `review calibrate` printed; it is a record for
    the dataset card, never read to judge."""

    synsym_calibration: Literal[1] = Field(description="the file format")
    taxonomy: str = Field(description="the taxonomy the thresholds were fitted for")
    symptoms: list[str] = Field(description="its symptoms, in order")
    judge: Literal["llm", "embedding"] = Field(description="whose scores the thresholds apply to")
    rule: str = Field(description="whose decisions were reproduced: consensus, or one rater's name")
    accept_score: int = Field(description="a rating at or above this accepts a post")
    scale: tuple[int, int] = Field(description="the rating scale the sample was exported with")
    raters: list[str] = Field(description="who rated")
    n_posts: int = Field(ge=0, description="rated posts the fit used")
    review: str = Field("", description="the review folder it was fitted from")
    kinds: dict[Kind, KindFit] = Field(description="thresholds per kind of row")
    agreement: dict[str, Any] = Field(default_factory=dict, description="before/after figures, per kind")

    @model_validator(mode="after")
    def _known_symptoms(self) -> Calibration:
        for kind, fit in self.kinds.items():
            unknown = sorted(set(fit.symptoms) - set(self.symptoms))
            if unknown:
                raise ValueError(f"kinds.{kind}.symptoms: {unknown[0]!r} is not one of `symptoms`")
        return self

    @classmethod
    def of(cls, kinds: dict[Kind, KindFit]) -> Calibration:
        """Thresholds only, unvalidated and unrecorded: for fitting, which tries thousands of them."""
        fields: dict[str, Any] = {"kinds": kinds}
        return cls.model_construct(**fields)

    def threshold(self, kind: Kind, symptom: str, default: float) -> float:
        fit = self.kinds.get(kind)
        return default if fit is None else fit.symptoms.get(symptom, fit.pooled)

    def check_taxonomy(self, name: str, symptoms: tuple[str, ...] | list[str], where: str) -> None:
        """InputError unless the run's taxonomy is the one fitted for (same symptoms)."""
        if list(symptoms) != list(self.symptoms):
            raise InputError(
                f"{where} -> fitted for taxonomy {self.taxonomy!r}, not this run's {name!r} (its symptoms "
                "differ); calibrate on a review of a run with this taxonomy"
            )


@lru_cache(maxsize=8)
def _load(path: str, digest: str) -> Calibration:
    data = read_yaml(Path(path))
    if "synsym_calibration" not in data:
        raise InputError(f"{path} -> not a calibration file; write one with `synsym review calibrate`")
    return validate(Calibration, data, path)


def calibration_digest(path: str | Path) -> str:
    """The file's content hash: what a run's judge fingerprint holds (its path does not matter)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p} -> calibration file not found; write one with `synsym review calibrate`")
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16]


def load_calibration(path: str | Path) -> Calibration:
    """The calibration at `path` (read once per content); InputError when missing or malformed."""
    return _load(str(path), calibration_digest(path))


@dataclass(frozen=True)
class Drop:
    """Why `decide` drops a row, and the threshold each failing symptom met or missed."""

    drop_class: DropClass
    detail: str
    thresholds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """The thresholds one judge applies: the config's, replaced by a calibration's where it fitted one.
    `negative_threshold` None: what a row must not express is not checked (the embedding judge)."""

    threshold: float
    negative_threshold: float | None
    calibration: Calibration | None = None

    def stated(self, symptom: str) -> float:
        if self.calibration is None:
            return self.threshold
        return self.calibration.threshold("positive", symptom, self.threshold)

    def expressed(self, kind: Kind, symptom: str) -> float | None:
        if self.negative_threshold is None or self.calibration is None:
            return self.negative_threshold
        return self.calibration.threshold(kind, symptom, self.negative_threshold)


def row_kind(row: Post) -> Kind:
    """positive, or the kind whose `expressed` threshold checks what the row must not express."""
    if row.get("contrast_of"):
        return "contrast"
    if not row["symptoms"] or row.get("negative_kind") == "negated":
        return "negative"
    return "positive"


def decide(row: Post, scores: dict[str, float], rule: Rule) -> Drop | None:
    """None to keep, else why not: every stated symptom must reach its threshold; every other scored
    symptom (a denied one, a rewrite's removed one, any of a negative's) must stay under its own."""
    stated = set(row["symptoms"])
    low = {k: rule.stated(k) for k, v in scores.items() if k in stated and v < rule.stated(k)}
    if low:
        detail = "; ".join(f"{k} {scores[k]:g} < {t:g}" for k, t in low.items())
        return Drop(DropClass.BELOW_THRESHOLD, detail, low)
    kind = "negative" if row_kind(row) == "positive" else row_kind(row)
    high: dict[str, float] = {}
    for k, v in scores.items():
        t = None if k in stated else rule.expressed(kind, k)
        if t is not None and v >= t:
            high[k] = t
    if not high:
        return None
    what = "denies" if row.get("negative_kind") == "negated" else "is a negative"
    listed = "; ".join(f"{k} {scores[k]:g} >= {t:g}" for k, t in high.items())
    return Drop(DropClass.EXPRESSED_IN_NEGATIVE, f"{what} but expresses {listed}", high)
