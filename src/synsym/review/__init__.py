"""The expert-review round trip: export a stratified sample, import clinicians' ratings, report agreement."""

from synsym.review.agreement import agreement_report, import_ratings, pair_agreement
from synsym.review.sample import export_review, sample_items

__all__ = ["agreement_report", "export_review", "import_ratings", "pair_agreement", "sample_items"]
