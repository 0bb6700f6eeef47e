"""Config validation (`dotted.path -> what is wrong`), `--set` overrides, YAML errors, and what the CLI
shows a user for bad input: exit code 2, a short message, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import synsym
from synsym.backends.base import check_backend, create_backend
from synsym.core.config import (
    BackendConfig,
    Prices,
    apply_overrides,
    load_config,
    parse_override,
    read_yaml,
    validate,
)
from synsym.core.errors import ConfigError, UserError


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, UserError) and info.value.exit_code == 2
    return str(info.value)


def load_backend(path: Path, overrides: list[str] | None = None) -> BackendConfig:
    """A backend config as the CLI reads one: shared settings, then the named backend's own options."""
    config = load_config(BackendConfig, path, overrides)
    check_backend(config)
    return config


def test_defaults_validate() -> None:
    config = load_config(BackendConfig)
    assert config.name == "llamacpp" and config.max_concurrency == 16 and config.prices == Prices()
    assert config.options == {}


def test_unknown_key_names_its_dotted_path_and_the_closest_key(tmp_path: Path) -> None:
    path = write(tmp_path, "name: fake\nprices:\n  input_per_mtk: 2\n")
    message = config_error(load_config, BackendConfig, path)
    assert message.splitlines()[0] == f"{path} is not valid:"
    assert "  prices.input_per_mtk -> unknown key; did you mean input_per_mtok or output_per_mtok?" in message
    # a key neither shared nor the backend's own: the backend says so, with the closest of both
    message = config_error(load_backend, write(tmp_path, "name: fake\nmax_concurrancy: 4\n"))
    assert "backend.max_concurrancy -> unknown key; did you mean max_concurrency?" in message
    message = config_error(load_backend, write(tmp_path, "name: openai\nbase_ulr: http://x\n"))
    assert "backend.base_ulr -> unknown key; did you mean base_url or base_urls?" in message
    # a section of a larger file reports the whole file's path
    message = config_error(validate, Prices, {"bogus": 1}, "run.yaml", "backend.prices.")
    assert "backend.prices.bogus -> unknown key" in message


def test_each_backend_declares_its_own_options(tmp_path: Path) -> None:
    config = load_backend(write(tmp_path, "name: fake\nseed: 3\nlatency_s: 0.5\nmax_concurrency: 4\n"))
    assert config.options == {"seed": 3, "latency_s": 0.5} and config.max_concurrency == 4
    assert config.model_dump()["seed"] == 3  # written back as the user wrote it: options beside the rest
    assert create_backend(config).options.latency_s == 0.5  # type: ignore[attr-defined]
    message = config_error(load_backend, write(tmp_path, "name: fake\nbase_url: http://x\n"))
    assert "backend.base_url -> unknown key" in message  # an openai option means nothing to fake


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("max_concurrency: lots", "max_concurrency -> Input should be a valid integer"),
        ("max_concurrency: 0", "max_concurrency -> Input should be greater than 0 (got 0)"),
        (
            "http_client: openai-sdk",
            "backend.http_client -> Value error, removed: the SDK transport is its own backend",
        ),
        (
            "prices:\n  output_per_mtok: -1",
            "prices.output_per_mtok -> Input should be greater than or equal to 0",
        ),
        ("headers: [a, b]", "backend.headers -> Input should be a valid dictionary"),
        ("prices: 3", "prices -> Input should be a valid dictionary or instance of Prices (got 3)"),
    ],
)
def test_wrong_types_say_what_was_expected(tmp_path: Path, yaml_text: str, expected: str) -> None:
    message = config_error(load_backend, write(tmp_path, "name: openai\nbase_url: http://x\n" + yaml_text))
    assert expected in message


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("backend.max_concurrency=64", ["backend", "max_concurrency"], 64),
        ("backend.prices.input_per_mtok=0.5", ["backend", "prices", "input_per_mtok"], 0.5),
        ("backend.extra_body.stream=false", ["backend", "extra_body", "stream"], False),
        ("stop=[a, b]", ["stop"], ["a", "b"]),
        ("headers={X-Org: acme}", ["headers"], {"X-Org": "acme"}),
        ("model=gpt-4o-mini", ["model"], "gpt-4o-mini"),
        ("model=", ["model"], ""),
        ("model=null", ["model"], None),
        ("query.sig=a=b", ["query", "sig"], "a=b"),  # only the first '=' separates
        (" model = m ", ["model"], "m"),
    ],
)
def test_parse_override_types_values_as_yaml(text: str, path: list[str], value: Any) -> None:
    assert parse_override(text) == (path, value)


def test_overrides_nest_and_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "name: openai\nmax_concurrency: 4\nprices:\n  input_per_mtok: 1\n")
    config = load_config(
        BackendConfig,
        path,
        ["max_concurrency=64", "prices.output_per_mtok=2.5", "extra_body.top_k=3", "timeout_s=1.5"],
    )
    assert config.name == "openai" and config.max_concurrency == 64 and config.timeout_s == 1.5
    assert config.prices == Prices(input_per_mtok=1, output_per_mtok=2.5)
    assert config.options["extra_body"] == {"top_k": 3}
    assert apply_overrides({}, ["a.b.c=1", "a.b.d=x"]) == {"a": {"b": {"c": 1, "d": "x"}}}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["max_concurrency"], "--set 'max_concurrency' -> expected KEY=VALUE"),
        (["=4"], "--set '=4' -> expected KEY=VALUE"),
        (["max_concurrency=[1"], "--set 'max_concurrency=[1' -> value is not valid YAML"),
        (["name.x=1"], "--set 'name.x=1' -> name is a value, not a section"),
        (["max_concurrency=abc"], "max_concurrency -> Input should be a valid integer"),
        (["prices.input_per_mtk=1"], "prices.input_per_mtk -> unknown key"),
    ],
)
def test_bad_overrides(tmp_path: Path, overrides: list[str], expected: str) -> None:
    message = config_error(load_config, BackendConfig, write(tmp_path, "name: fake\n"), overrides)
    assert expected in message


def test_yaml_errors(tmp_path: Path) -> None:
    message = config_error(read_yaml, write(tmp_path, "name: [fake\n", "broken.yaml"))
    assert message.startswith(f"{tmp_path / 'broken.yaml'} -> not valid YAML")
    message = config_error(read_yaml, write(tmp_path, "- a\n- b\n", "list.yaml"))
    assert message.endswith("-> expected a mapping of keys at the top level, got list")
    message = config_error(read_yaml, tmp_path / "absent.yaml")
    assert "absent.yaml -> file not found" in message
    assert read_yaml(write(tmp_path, "# nothing but a comment\n", "empty.yaml")) == {}
    # YAML is only ever safe_load-ed: a python tag is an error, never an object
    tagged = write(tmp_path, "name: !!python/object/apply:os.getcwd []\n", "tagged.yaml")
    assert "not valid YAML" in config_error(read_yaml, tagged)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real entry point in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "synsym.cli.main", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def cli_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> subprocess.CompletedProcess[str]:
    """The same entry point, in this process (cheaper than a subprocess for each case)."""
    from synsym.cli.main import main

    monkeypatch.setattr(sys, "argv", ["synsym", *args])
    code: Any = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), int(code), out.out, out.err)


def assert_user_error(proc: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.startswith("error: ")
    for text in expected:
        assert text in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 3  # the header and one line per problem


def test_cli_config_error_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = write(tmp_path, "backend:\n  name: fake\n  max_concurrancy: 4\n")
    proc = cli("probe", "--config", str(bad), cwd=tmp_path)
    assert_user_error(
        proc, "is not valid:", "backend.max_concurrancy -> unknown key; did you mean max_concurrency?"
    )
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"]  # nothing half-written


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--set", "backend.max_concurrency=abc"],
            "backend.max_concurrency -> Input should be a valid integer",
        ),
        (["--set", "backend.max_concurrency"], "expected KEY=VALUE"),
        (["--set", "backend.prices.input_per_mtk=1"], "backend.prices.input_per_mtk -> unknown key"),
        (["--backend", "nope"], "available: anthropic, anthropic-batch, fake, "),
        (["--config", "absent.yaml"], "absent.yaml -> file not found"),
    ],
)
def test_cli_bad_input_exits_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    args: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "backend:\n  name: fake\n", "good.yaml")
    config = [] if "--config" in args else ["--config", "good.yaml"]
    assert_user_error(cli_in_process(monkeypatch, capsys, "probe", *config, *args), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.yaml"]


def test_cli_override_reaches_the_backend(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    proc = cli_in_process(
        monkeypatch, capsys, "probe", "--backend", "fake", "-n", "2", "--set", "backend.seed=3"
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 requests" in proc.stderr and "2 calls" in proc.stderr and "failures 0" in proc.stderr


def test_cli_version_and_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    version = cli("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"synsym {synsym.__version__}"
    top = cli("--help", cwd=tmp_path)
    assert top.returncode == 0 and "probe" in top.stdout and "--version" in top.stdout
    probe = cli_in_process(monkeypatch, capsys, "probe", "--help")
    assert probe.returncode == 0 and "--set" in probe.stdout and "--cache" in probe.stdout


def test_cli_usage_error_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    proc = cli_in_process(monkeypatch, capsys, "probe", "--no-such-flag")
    assert proc.returncode == 2 and "internal error" not in proc.stderr and "--no-such-flag" in proc.stderr


def test_config_keys_lists_every_key_with_its_meaning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = cli_in_process(monkeypatch, capsys, "config", "keys")
    assert proc.returncode == 0
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith("  ")}
    for key in (
        "seed",
        "generate.statements_per_style",
        "judge.threshold",
        "negatives.kinds[].share",
        "backend.max_concurrency",
        "backend.base_url",
        "backend.model_path",
        "backend.latency_s",
    ):
        assert key in lines, key
    assert (
        "int = 5" in lines["generate.statements_per_style"]
        and "statements per style" in lines["generate.statements_per_style"]
    )
    assert [line for line in lines.values() if not line.split(":", 1)[1].strip()] == []  # all say why
    # each plugin's own options: backends', executors', classifiers'
    for title in ("backend.name: openai", "executor.name: ray", "synsym train --model tfidf"):
        assert title in proc.stdout, title
    assert "ngram_max" in lines and "executor.workers" in lines
    from synsym.pipeline.config import load_run_config

    message = config_error(load_run_config, None, ["generate.statements_per_styl=1"])
    assert (
        "did you mean statements_per_style or statements_per_call? (every key: synsym config keys)" in message
    )
