"""A live progress display: one bar per stage (done/total, ETA) above one line of engine figures
(requests/s, tokens/s, cached, failures by class, cost) and what is happening when no request is (loading
a model, writing files). When stderr is not a terminal (a log, CI, `nohup`), one plain line every
`LOG_EVERY_S` instead: a 47-minute run logged to a file used to show nothing between plan and summary.

The ETA counts only answers that had to be asked for: answers replayed from the cache arrive in bursts,
and a rate that counts them swings from minutes to a second and back.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskID, TextColumn
from rich.progress import Task as RichTask
from rich.text import Text

from synsym.engine.usage import UsageMeter

LOG_EVERY_S = 30.0


class _Eta(ProgressColumn):
    """Remaining answers over the rate of answers that were not in the cache, since the first of them."""

    def render(self, task: RichTask) -> Text:
        fields = task.fields
        asked, since = fields.get("asked", 0), fields.get("since")
        if task.finished:
            return Text("done", style="green")
        if task.total is None or not asked or since is None:
            return Text("-:--:--", style="progress.remaining")
        rate = asked / max(time.monotonic() - since, 1e-6)
        seconds = int(max(task.total - task.completed, 0) / rate)
        return Text(
            f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}", style="progress.remaining"
        )


class Bar:
    """One line of the display: a stage's answers (or any counted work)."""

    def __init__(
        self, progress: Progress | None, task: TaskID | None, total: int | None = None, label: str = ""
    ) -> None:
        self._progress, self._task = progress, task
        self.total = total
        self.label = label
        self.done = 0  # counted with or without a display, for the log lines
        self._asked = 0
        self._since: float | None = None

    def advance(self, cached: bool = False, n: int = 1) -> None:
        self.done += n
        if self._progress is None or self._task is None:
            return
        if not cached:
            self._since = self._since or time.monotonic()
            self._asked += n
        self._progress.update(self._task, advance=n, asked=self._asked, since=self._since)

    def add_total(self, n: int) -> None:
        """More work than first known (a stage whose input is still arriving)."""
        self.total = (self.total or 0) + n
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=self.total)


class RunProgress:
    def __init__(
        self, meters: Sequence[UsageMeter], enabled: bool | None = None, log_every_s: float = LOG_EVERY_S
    ) -> None:
        console = Console(stderr=True)
        self.console = console
        self.enabled = console.is_terminal if enabled is None else enabled
        self.log_every_s = log_every_s if enabled is None and not console.is_terminal else None
        self._bars: list[Bar] = []
        self._stop = threading.Event()
        self._logger: threading.Thread | None = None
        self.meters = list(meters)
        self.start = time.monotonic()
        self._calls0 = sum(m.calls for m in self.meters)
        self._tokens0 = sum(m.prompt_tokens + m.completion_tokens for m in self.meters)
        self._note = ""
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _Eta())
        self._live = Live(Group(self._progress, self), console=console, refresh_per_second=4)

    def __enter__(self) -> RunProgress:
        if self.enabled:
            self._live.start()
        elif self.log_every_s is not None and self._logger is None:
            self._stop.clear()
            self._logger = threading.Thread(target=self._log, daemon=True)
            self._logger.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.enabled:
            self._live.stop()
        if self._logger is not None:
            self._stop.set()
            self._logger.join(timeout=5)
            self._logger = None

    def bar(self, label: str, total: int | None) -> Bar:
        if not self.enabled:
            bar = Bar(None, None, total, label)
        else:
            bar = Bar(self._progress, self._progress.add_task(label, total=total), total, label)
        self._bars.append(bar)
        return bar

    def log_line(self) -> str:
        """One plain line: time so far, each stage's answers, and the figures line."""
        seconds = int(time.monotonic() - self.start)
        stages = ", ".join(
            f"{b.label} {b.done}/{b.total if b.total is not None else '?'}" for b in self._bars
        )
        return f"progress {seconds // 60}:{seconds % 60:02d}: {stages or 'starting'}; {self.__rich__().plain}"

    def _log(self) -> None:
        assert self.log_every_s is not None
        while not self._stop.wait(self.log_every_s):
            self.console.print(self.log_line(), highlight=False, soft_wrap=True)

    def status(self, text: str) -> None:
        """Say what is happening while no request is (loading a model, judging offline, exporting)."""
        self._note = text

    def __rich__(self) -> Text:
        """The figures line, computed when the display refreshes."""
        elapsed = max(time.monotonic() - self.start, 1e-6)
        calls = sum(m.calls for m in self.meters) - self._calls0
        tokens = sum(m.prompt_tokens + m.completion_tokens for m in self.meters) - self._tokens0
        failures: Counter[str] = Counter()
        for m in self.meters:
            failures.update(m.failures)
        failed = ", ".join(f"{k} {v}" for k, v in sorted(failures.items())) or "0"
        cached = sum(m.cache_hits for m in self.meters)
        cost = sum(m.cost for m in self.meters)
        line = (
            f"{calls / elapsed:.1f} req/s  {tokens / elapsed:.0f} tok/s  cached {cached}  failed {failed}  "
            f"cost {cost:.4f}"
        )
        return Text(f"{line}  {self._note}".rstrip(), style="dim")
