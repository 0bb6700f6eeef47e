"""The expert-review round trip: export a sample, import clinicians' ratings, report agreement, and
calibrate the judge's thresholds to the ratings."""

from synsym.review.agreement import (
    agreement_report,
    import_ratings,
    pair_agreement,
    write_agreement_report,
)
from synsym.review.calibrate import calibrate
from synsym.review.sample import export_review, sample_items

__all__ = [
    "agreement_report",
    "calibrate",
    "export_review",
    "import_ratings",
    "pair_agreement",
    "sample_items",
    "write_agreement_report",
]
