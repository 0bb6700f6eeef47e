"""Run `synsym generate` on the paper's recipe in a child process that a benchmark may SIGKILL, as the
batch benchmarks do to prove a killed run resumes without paying twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def generate(
    sets: list[str], out: Path, env: dict[str, str], kill_after: float | None = None
) -> tuple[int | None, str]:
    """`synsym generate --config depression-14 --out OUT SETS...` with `env` added to the environment;
    SIGKILLed after `kill_after` seconds. (exit code, or None if killed; stderr)"""
    cmd = [
        sys.executable,
        "-m",
        "synsym.cli.main",
        "generate",
        "--config",
        "depression-14",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(
        [*cmd, *sets], env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        _, err = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None, ""
    return proc.returncode, err
