"""Quality checks of a synthetic (or any labelled) dataset: balance, diversity, leakage, shortcuts, funnel."""

from synsym.quality.data import QualityData, load_quality_data
from synsym.quality.inspect import inspect_dataset, write_quality

__all__ = ["QualityData", "inspect_dataset", "load_quality_data", "write_quality"]
