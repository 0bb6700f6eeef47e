"""The HTML report opens in a real browser: headless Chromium loads it from disk, runs its inline JS, and
the dumped DOM shows the embedded plots, the sample table and the classifier results table."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from synsym.report.html import build_report
from synsym.testing.runs import small_fake_run

CONFIG = small_fake_run(seed=11)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)"
)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ]
    return subprocess.run([str(CHROMIUM), *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synsym.pipeline.config import load_run_config
    from synsym.pipeline.runner import run_pipeline

    root = tmp_path_factory.mktemp("report")
    (root / "run.yaml").write_text(yaml.safe_dump(CONFIG))
    run_pipeline(load_run_config(root / "run.yaml", []), root / "run")
    exp = root / "run" / "experiment"
    exp.mkdir()
    (exp / "table.csv").write_text(
        "protocol,model,redsm5\nsynthetic,tfidf,0.412 ± 0.010\nreal,tfidf,0.388 ± 0.021\n"
    )
    (exp / "table.md").write_text("Macro-F1, mean ± std over seeds (and folds).\n")
    out, _ = build_report(root / "run", embed=False)
    return out


def test_report_is_self_contained(report: Path) -> None:
    html = report.read_text()
    assert report.name == "report.html"
    assert not re.search(r'(src|href)="(https?:)?//', html), "the report must not load anything remotely"
    assert html.count('src="data:image/png;base64,') >= 5
    assert 'id="results"' in html and "0.412 ± 0.010" in html


def test_cli_writes_report_and_quality_json(report: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    from typer.testing import CliRunner

    from synsym.cli.main import app

    result = CliRunner().invoke(app, ["report", str(report.parent), "--no-embed", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000 and (tmp_path / "quality.json").is_file()


@needs_chromium
def test_report_renders_in_chromium(report: Path, tmp_path: Path) -> None:
    done = chromium(tmp_path, "--dump-dom", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    images = re.findall(r'<img class="plot" alt="([^"]+)" src="data:image/png;base64,', dom)
    assert {"funnel", "label distribution", "co-occurrence heatmap", "diversity", "judge scores"} <= set(
        images
    )
    rows = re.findall(r"<tr data-symptoms=", dom)
    assert len(rows) > 20
    # the inline script ran on load: it filled in the count of shown rows
    assert re.search(rf'<span id="f-count">{len(rows)} shown</span>', dom)
    assert re.search(r'<table id="results">.*?synthetic.*?0\.412', dom, re.S)


@needs_chromium
def test_report_screenshot(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    done = chromium(
        tmp_path, "--hide-scrollbars", "--window-size=1200,1600", f"--screenshot={shot}", report.as_uri()
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_file_report_escapes_text_and_shows_reference_and_leakage(tmp_path: Path) -> None:
    """A plain labelled file (no run directory): data text is escaped, the reference sits beside the set,
    and the leakage section lists the planted copy."""
    import numpy as np

    from synsym.quality import inspect_dataset, load_quality_data
    from synsym.report.html import render_report

    def bow(texts: list[str]) -> np.ndarray:
        vecs = np.zeros((len(texts), 64), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                vecs[i, sum(map(ord, w)) % 64] += 1
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)

    lines = (
        ["text,labels"]
        + [f'"I cannot sleep, night {i} <script>alert(1)</script>",Sleep_disturbance' for i in range(6)]
        + [f'"Everything is grey again, day {i}",Depressed_Mood' for i in range(6)]
    )
    data_file = tmp_path / "set.csv"
    data_file.write_text("\n".join(lines) + "\n")
    real = tmp_path / "real.csv"
    real.write_text('text\n"Everything is grey again, day 3"\n"my bike has a flat tyre"\n')
    data = load_quality_data(data_file)
    quality = inspect_dataset(data, reference=data_file, against_real=real, embedder=bow)
    html = render_report(data, quality)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "reference overall" in html and 'id="leakage"' in html
    assert "Everything is grey again, day 3" in html.split('id="leakage"')[1]
    assert 'id="funnel"' not in html  # no run directory, no funnel
