"""One channel from an engine's parts to whoever runs it: `status` (what a silent stretch is doing: a
model loading, a batch in progress; '' when it is over) and `note` (what a user should read after the run:
an endpoint taken out of rotation, a batch whose results the provider deleted). The builder hands one
`Events` to the backend and the dispatch it makes; the run subscribes its progress line and its notes."""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[str], None]


class Events:
    """Status lines and notes, passed on to every subscriber in the order they subscribed."""

    def __init__(self) -> None:
        self._status: list[Listener] = []
        self._note: list[Listener] = []

    def subscribe(self, *, status: Listener | None = None, note: Listener | None = None) -> None:
        if status is not None:
            self._status.append(status)
        if note is not None:
            self._note.append(note)

    def status(self, text: str) -> None:
        for listener in self._status:
            listener(text)

    def note(self, text: str) -> None:
        for listener in self._note:
            listener(text)
