"""A stage from outside the package, the way a user ships one: a module with the stage and its Config,
and an entry point in the `synsym.stages` group. Installed (here: a dist-info folder on the path, which
is what `pip install` leaves), every run and `synsym config keys` pick it up, and `--set` reaches its
option, with no edit to synsym."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from synsym.core.errors import ConfigError
from synsym.pipeline.config import load_run_config
from synsym.pipeline.registry import stage_list
from synsym.testing.runs import small_fake_run

PLUGIN = '''
"""A synsym plugin: lowercase a share of the kept posts, after the realism stage."""

from pydantic import Field

from synsym import RowStage
from synsym.core.columns import is_kept, with_fields
from synsym.core.config import StrictModel


class ShoutConfig(StrictModel):
    """Lowercase a share of the kept rows."""

    share: float = Field(0.5, ge=0, le=1, description="share of the kept rows to lowercase")


class ShoutStage(RowStage):
    name = "shout"
    Config = ShoutConfig
    uses = ("seed",)
    after = "realism"

    def compute(self, ctx, rows):
        cfg = ctx.config.shout
        rng = ctx.rng("shout")
        return [
            with_fields(r, text=r["text"].lower()) if is_kept(r) and rng.random() < cfg.share else r
            for r in rows
        ]
'''


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The plugin as an installed distribution: its module and a dist-info with its entry point."""
    site = tmp_path / "site"
    (site / "synsym_shout-0.1.dist-info").mkdir(parents=True)
    (site / "synsym_shout.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "synsym_shout-0.1.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: synsym-shout\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[synsym.stages]\nshout = synsym_shout:ShoutStage\n")
    monkeypatch.syspath_prepend(str(site))
    return site


def test_an_installed_stage_joins_the_list_after_the_stage_it_names(installed: Path) -> None:
    names = [s.name for s in stage_list()]
    assert names[names.index("realism") + 1] == "shout" and names[-1] == "export"
    config = load_run_config(None, ["shout.share=0.25"])
    assert config.shout.share == 0.25
    with pytest.raises(ConfigError, match=r"shout\.share"):
        load_run_config(None, ["shout.share=2"])


def test_the_cli_runs_it_and_sets_its_option(installed: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(small_fake_run()))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), *sys.path])}
    synsym = [str(Path(sys.executable).parent / "synsym")]  # the console script pip installed
    keys = subprocess.run([*synsym, "config", "keys"], env=env, capture_output=True, text=True, check=True)
    assert "shout.share" in keys.stdout and "share of the kept rows to lowercase" in keys.stdout
    out = tmp_path / "run"
    args = ["generate", "--config", str(cfg), "--out", str(out), "--set", "shout.share=1"]
    done = subprocess.run([*synsym, *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stages"][-3:] == ["realism", "shout", "export"]
    assert manifest["config"]["shout"] == {"share": 1.0}
    texts = pq.read_table(out / "dataset.parquet").column("text").to_pylist()
    assert texts and all(t == t.lower() for t in texts)  # share 1: every kept post, as exported
