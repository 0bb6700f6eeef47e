"""Issue 18's smaller slips (finding 9), each with the command or call that showed it."""

from __future__ import annotations

from pathlib import Path

import pytest

from synsym.backends.openai_http import http_error
from synsym.core.config import BackendConfig, describe_keys
from synsym.core.errors import ConfigError, InputError
from synsym.pipeline.config import load_run_config, run_config
from synsym.pipeline.runner import run_pipeline


def test_a_401_keeps_the_servers_words() -> None:
    """llama-cpp-python's server says `{"detail": "Invalid API key"}`: it was shown as "HTTP 401: None"."""
    err = http_error(401, b'{"detail": "Invalid API key"}', None)
    assert "HTTP 401: Invalid API key" in str(err) and "None" not in str(err)


def test_a_missing_key_variable_is_exit_2_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNSYM_TEST_NO_SUCH_KEY", raising=False)
    cfg = run_config(
        {"backend": {"name": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m",
                     "api_key_env": "SYNSYM_TEST_NO_SUCH_KEY"}}
    )  # fmt: skip
    with pytest.raises(InputError) as err:
        run_pipeline(cfg, tmp_path / "run", progress=False)
    assert err.value.exit_code == 2 and "SYNSYM_TEST_NO_SUCH_KEY is not set" in str(err.value)
    assert not (tmp_path / "run").exists()


def test_a_set_typo_is_blamed_on_set_not_on_the_file() -> None:
    with pytest.raises(ConfigError) as err:
        load_run_config("demo", ["judge.methd=llm"])
    text = str(err.value)
    assert text.startswith("--set is not valid:") and "demo.yaml" not in text
    assert "judge.methd -> unknown key; did you mean method?" in text and "(from --set)" in text


def test_config_keys_lists_every_built_in_backend_and_no_removed_key() -> None:
    from synsym.backends.base import available_backends

    described = BackendConfig.model_fields["name"].description or ""
    names = ("openai", "openai-sdk", "openai-batch", "anthropic", "anthropic-batch", "llamacpp", "fake")
    builtin = [n for n in available_backends() if n in names]
    assert len(builtin) == 7 and all(n in described for n in builtin)
    keys = [row[0] for row in describe_keys(available_backends()["openai"].Options, "backend.")]
    assert "backend.http_client" not in keys and "backend.base_url" in keys


def test_shortcut_flags_name_labels_over_the_bar_on_too_few_posts() -> None:
    """The report said "flagged (F1 >= 0.6): none" above four rows with F1 >= 0.6 (each on < 10 posts)."""
    from synsym.quality.shortcuts import flag_summary

    result = {
        "flag_f1": 0.6, "min_posts": 10, "flagged": [],
        "per_label": {"Anger": {"f1": 0.8, "positives": 4, "flagged": False},
                      "Sleep": {"f1": 0.2, "positives": 30, "flagged": False}},
    }  # fmt: skip
    text = flag_summary(result)
    assert "over at least 10 posts): none" in text and "Anger (4 posts)" in text and "Sleep" not in text


def test_the_failed_requests_line_counts_every_request(tmp_path: Path) -> None:
    """A run's 60 requests with 46 failed said "46 request(s) failed"... of the rows: 14 failed expansions
    (which make no row, only a note) were not counted. The line counts requests, from the engines."""
    from synsym.cli.app import console
    from synsym.cli.generate_cmd import render_summary
    from synsym.pipeline.runner import RunResult

    counts = {
        "stages": [], "failed_by_class": {"invalid_output": 30, "timeout": 2}, "kept": 3, "kept_single": 3,
        "kept_multi": 0, "kept_negative": 0, "kept_by_stage": {},
    }  # fmt: skip
    usage = {"generator": {"tasks": 60, "failures": {"invalid_output": 44, "timeout": 2}}}
    with console.capture() as shown:
        render_summary(RunResult(tmp_path, {"counts": counts, "usage": usage}))
    assert "46 of 60 request(s) failed (invalid_output 44, timeout 2); 32 made rows" in shown.get()


def test_progress_goes_to_a_log_when_stderr_is_no_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """A 47-minute run logged to a file showed nothing between the plan and the summary."""
    import time

    from synsym.engine.progress import RunProgress
    from synsym.engine.usage import UsageMeter

    meter = UsageMeter()
    with RunProgress([meter], log_every_s=0.05) as progress:  # auto: pytest's stderr is no terminal
        bar = progress.bar("generate", 10)
        for _ in range(3):
            bar.advance()
        meter.failures["timeout"] += 1
        time.sleep(0.3)
    logged = capsys.readouterr().err
    assert "progress 0:00: generate 3/10;" in logged and "failed timeout 1" in logged
    with RunProgress([meter], enabled=False, log_every_s=0.05):  # progress=False: silent
        time.sleep(0.15)
    assert capsys.readouterr().err == ""
