"""docs/api.md's first example runs as written from any folder, keeps most of what it makes, and prints
plain numbers (issue 18, finding 9: it ran only from the clone root, trained on 20 of 160 posts, and
printed `np.float32(...)`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_the_first_example_runs_anywhere(tmp_path: Path) -> None:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert code is not None
    done = subprocess.run(
        [sys.executable, "-c", code.group(1)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    kept = int(done.stdout.split()[0])
    assert kept >= 100, done.stdout  # of the demo's 160 requests
    assert "np." not in done.stdout and "float32" not in done.stdout
    assert re.search(r"\{'\w+': 0\.\d+", done.stdout.splitlines()[-1])
