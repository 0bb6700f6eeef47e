"""The judge's settings: read by the judge stage, which owns the `judge` section, and by the stages that
judge what they add (contrast) or report it (export)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt

from synsym.backends.base import answer_settings
from synsym.core.calibration import calibration_digest
from synsym.core.config import BackendConfig, StrictModel


class JudgeConfig(StrictModel):
    """Stage 4: score every (post, symptom) 0-5 and drop what falls short."""

    method: Literal["llm", "embedding", "both", "none"] = Field(
        "llm", description="llm rubric, offline MiniLM embeddings, embeddings then llm, or none"
    )
    backend: BackendConfig | None = Field(
        None, description="the judge's own backend; default: the generator's"
    )
    threshold: float = Field(4.0, ge=0, le=5, description="LLM score (0-5) every target symptom must reach")
    embedding_threshold: float | None = Field(
        None, ge=0, le=5, description="embedding score (0-5) to keep; default 4 alone, 2 as a pre-filter"
    )
    negative_threshold: float = Field(
        3.0, ge=0, le=5, description="LLM score at which a negative (or a denied symptom) counts as expressed"
    )
    max_tokens: PositiveInt = Field(512, description="answer length limit per judge request")
    first_person: bool = Field(
        True,
        description="a post that states a symptom must be in the first person (I, me, my, we, ...); "
        "checked by every judge (not `method: none`) before scoring",
    )
    calibration: str | None = Field(
        None,
        description="thresholds fitted to your raters (`synsym review calibrate`); replace threshold and "
        "negative_threshold (or embedding_threshold) per symptom; changing it re-filters from cached scores",
    )

    def fingerprint(self) -> dict[str, Any]:
        """What judge fingerprints hash: its backend by its answer settings; a calibration by its file's
        content and, unset, left out, so runs made before it existed keep their fingerprints."""
        data = self.model_dump(mode="json", by_alias=True)
        if self.backend is not None:
            data["backend"] = answer_settings(self.backend)
        calibration = data.pop("calibration", None)
        if calibration is not None:
            data["calibration"] = calibration_digest(calibration)
        return data
