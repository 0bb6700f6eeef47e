"""A live progress line: done/total, requests/s, tokens/s, failures by class, cost, ETA.
Silent when stderr is not a terminal, so logs and CI stay clean."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from synsym.engine.usage import UsageMeter


class RunProgress:
    def __init__(self, label: str, total: int, meter: UsageMeter, enabled: bool | None = None) -> None:
        console = Console(stderr=True)
        self.enabled = console.is_terminal if enabled is None else enabled
        self.meter = meter
        self.start = time.monotonic()
        self._calls0, self._tokens0 = meter.calls, meter.completion_tokens + meter.prompt_tokens
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            console=console,
            disable=not self.enabled,
            refresh_per_second=4,
        )
        self._task = self._progress.add_task(label, total=total, stats="")
        self._last = 0.0

    def __enter__(self) -> RunProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._refresh(force=True)
        self._progress.stop()

    def advance(self) -> None:
        if self.enabled:
            self._progress.advance(self._task)
            self._refresh()

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < 0.25):
            return
        self._last = now
        m, elapsed = self.meter, max(now - self.start, 1e-6)
        tokens = m.prompt_tokens + m.completion_tokens - self._tokens0
        failed = ", ".join(f"{k} {v}" for k, v in sorted(m.failures.items())) or "0"
        stats = (
            f"{(m.calls - self._calls0) / elapsed:.1f} req/s  {tokens / elapsed:.0f} tok/s  "
            f"cached {m.cache_hits}  failed {failed}  cost {m.cost:.4f}"
        )
        self._progress.update(self._task, stats=stats)
