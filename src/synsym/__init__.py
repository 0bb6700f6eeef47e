"""synsym: synthetic symptom-level data for psychiatric symptom identification (SynSym, KDD 2026)."""

__version__ = "0.1.0"
