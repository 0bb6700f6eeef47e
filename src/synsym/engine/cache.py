"""Content-addressed cache of every model answer, in SQLite.

The key is a hash of the canonical request (backend identity, messages, decoding parameters, schema,
sample index, prompt-template version), so a rerun or a run that changes only later steps never pays
for an answer twice. Writes go to a writer thread that commits whatever has queued as one transaction
(group commit): the event loop never waits for the disk, an answer is durable a few milliseconds after
it arrives, and a process killed at any moment leaves whole rows or none. WAL mode lets several
processes read and write the same file.
"""

from __future__ import annotations

import hashlib
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from synsym.backends.base import ChatResponse, Usage
from synsym.core.errors import BackendError

KEY_VERSION = 1  # bump when the key's canonical form changes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    refusal TEXT,
    model TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID
"""


def request_key(identity: dict[str, Any], request: dict[str, Any], sample: int, template: str) -> str:
    """sha256 of the canonical JSON of everything that determines an answer. Never includes secrets."""
    canonical = json.dumps(
        {"v": KEY_VERSION, "backend": identity, "request": request, "sample": sample, "template": template},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """A SQLite file of answers by key. Use one instance per process; `close()` flushes pending writes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = _connect(self.path)
        self._db.execute(_SCHEMA)
        self._pending: dict[str, ChatResponse] = {}  # queued, not yet committed: still readable
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[str, ChatResponse] | None] = queue.SimpleQueue()
        self._failure: str | None = None
        self._writer = threading.Thread(target=self._write_loop, name="synsym-cache-writer", daemon=True)
        self._writer.start()

    def get(self, key: str) -> ChatResponse | None:
        with self._lock:
            if key in self._pending:
                return self._pending[key]
        row = self._db.execute(
            "SELECT text, finish_reason, refusal, model, prompt_tokens, completion_tokens "
            "FROM responses WHERE key = ?",
            (key,),
        ).fetchone()
        return _to_response(row) if row else None

    def get_many(self, keys: Iterable[str]) -> dict[str, ChatResponse]:
        """Batched lookups: a fully cached rerun of thousands of requests costs milliseconds."""
        found: dict[str, ChatResponse] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT key, text, finish_reason, refusal, model, prompt_tokens, completion_tokens "
                f"FROM responses WHERE key IN ({marks})",
                chunk,
            )
            for row in rows:
                found[row[0]] = _to_response(row[1:])
        with self._lock:
            found.update((k, self._pending[k]) for k in unique if k in self._pending)
        return found

    def put(self, key: str, response: ChatResponse) -> None:
        """Queue one answer for the writer; an answer already stored under the key is kept."""
        self._raise_if_broken()
        with self._lock:
            self._pending[key] = response
        self._queue.put((key, response))

    def flush(self) -> None:
        """Block until every queued answer is committed."""
        while True:
            with self._lock:
                if not self._pending:
                    return
            self._raise_if_broken()
            time.sleep(0.002)

    def _raise_if_broken(self) -> None:
        """A writer that failed (disk full, file removed) stops the run instead of silently losing answers."""
        if self._failure is not None:
            raise BackendError(f"the response cache {self.path} cannot be written: {self._failure}") from None

    def __len__(self) -> int:
        self.flush()
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join()
        self._db.close()
        self._raise_if_broken()

    def _write_loop(self) -> None:
        try:
            self._write_batches()
        except sqlite3.Error as exc:
            self._failure = f"{type(exc).__name__}: {exc}"

    def _write_batches(self) -> None:
        db = _connect(self.path)
        while True:
            items = [self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            batch = [item for item in items if item is not None]
            if batch:  # one transaction for everything that queued up meanwhile
                db.execute("BEGIN")
                db.executemany(
                    "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [_to_row(k, r) for k, r in batch],
                )
                db.execute("COMMIT")
                with self._lock:
                    for key, response in batch:
                        if self._pending.get(key) is response:
                            del self._pending[key]
            if len(batch) < len(items):
                break
        db.close()


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout=30000")
    # Switching to WAL can report "locked" at once, without waiting, while another process opens the
    # same new file; retry it for as long as any other lock would be waited for.
    deadline = time.monotonic() + 30.0
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    db.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process; fast commits
    return db


def _to_row(key: str, r: ChatResponse) -> tuple[Any, ...]:
    usage = r.usage
    return (
        key,
        r.text,
        r.finish_reason,
        r.refusal,
        r.model,
        usage.prompt_tokens,
        usage.completion_tokens,
        time.time(),
    )


def _to_response(row: tuple[Any, ...]) -> ChatResponse:
    text, finish, refusal, model, prompt_tokens, completion_tokens = row
    return ChatResponse(
        text=text,
        finish_reason=finish,
        refusal=refusal,
        model=model,
        usage=Usage(prompt_tokens, completion_tokens),
    )
