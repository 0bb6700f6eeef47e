"""Where the benchmarks find the real data of `../shared` (absent on machines without it: they skip)."""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PAPER = SHARED / "synsym-kdd2026" / "synth_all_dsm5.csv"
CSSRS = SHARED / "reddit-cssrs" / "500_Reddit_users_posts_labels.csv"
REDSM5 = SHARED / "redsm5-sample" / "redsm5_annotations_sample_paraphrased.csv"
