"""The dataset card names the model that wrote the posts and says how the sub-concepts were made
(issue 18, finding 7: the demo's card said `model: null`, no SmolLM2 anywhere, and that an LLM made the
sub-concepts, which were the taxonomy's seeds)."""

from __future__ import annotations

from pathlib import Path

from synsym.core.dataset import read_export
from synsym.pipeline.config import run_config
from synsym.pipeline.runner import run_pipeline
from synsym.testing.runs import small_fake_run


def test_the_card_names_the_writer_and_the_seeds(tmp_path: Path) -> None:
    cfg = small_fake_run()
    cfg["expand"] = {"method": "seeds"}
    run_pipeline(run_config(cfg), tmp_path / "seeds", progress=False)
    card = (tmp_path / "seeds" / "README.md").read_text()
    model = read_export(tmp_path / "seeds" / "dataset.parquet").rows[0]["model"]
    assert f"Written by: `{model}` (fake, " in card
    assert "the taxonomy's seed descriptions as they are" in card and "expanded by an LLM" not in card


def test_an_llm_expansion_is_said_to_be_one(tmp_path: Path) -> None:
    run_pipeline(run_config(small_fake_run()), tmp_path / "llm", progress=False)
    card = (tmp_path / "llm" / "README.md").read_text()
    assert "expanded by an LLM into fine-grained sub-concepts" in card and "Written by: `" in card
