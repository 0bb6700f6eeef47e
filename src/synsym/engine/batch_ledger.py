"""A run's provider batches, in `batches.sqlite` beside the response cache: one row per batch (its client
token, state, file and batch ids, status, usage) and its lines' custom_ids, every write committed before
it returns, so the intent of a batch is on disk before anything is uploaded or created. `BatchDispatch`
(engine.batch) writes it; `synsym batches list|cancel` reads it here.

`proof` says how a row knows its batch is its own: `reply` (create answered with the id), `token` or
`file` (found again by the token in its metadata or by its input file), or `size` (Anthropic, which
keeps no metadata: found by size and time only, so not yet proven; `batches cancel` leaves it alone,
and its results' custom_ids decide). A batch proven another's goes to `foreign`, never claimed again."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from synsym.backends.base import TransientError, create_backend
from synsym.backends.batch_base import BatchBackend
from synsym.core.config import BackendConfig
from synsym.core.errors import BackendError, InputError

LEDGER = "batches.sqlite"
OPEN = "state IN ('intent', 'uploaded', 'created')"  # a batch that may still bill or answer
ROUND_ENDS = ("collected", "failed", "gone")  # a batch that held these lines and is over
LOOKBACK_S = 3600.0  # how far before an intent a lost batch is looked for
_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    token TEXT PRIMARY KEY, backend TEXT NOT NULL, endpoint TEXT NOT NULL, config TEXT NOT NULL,
    owner TEXT, n INTEGER NOT NULL, state TEXT NOT NULL, file_id TEXT, batch_id TEXT, status TEXT,
    counts TEXT, prompt_tokens INTEGER DEFAULT 0, completion_tokens INTEGER DEFAULT 0, cost REAL DEFAULT 0,
    created REAL NOT NULL, updated REAL NOT NULL, detail TEXT);
CREATE TABLE IF NOT EXISTS batch_lines (token TEXT, pos INTEGER, custom_id TEXT, PRIMARY KEY (token, pos))
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS batch_lines_id ON batch_lines (custom_id);
CREATE TABLE IF NOT EXISTS foreign_batches (batch_id TEXT PRIMARY KEY, token TEXT, noted REAL);
"""
_ADDED = {"attempted": "REAL", "proof": "TEXT"}  # columns newer than the first ledgers


class Ledger:
    """A run's batches, one row each, and their lines. Every write is committed before it returns (WAL: a
    killed process leaves whole rows)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # durable against a killed process
        self.db.executescript(_SCHEMA)
        have = {r[1] for r in self.db.execute("PRAGMA table_info(batches)")}
        for column, kind in _ADDED.items():
            if column not in have:
                self.db.execute(f"ALTER TABLE batches ADD COLUMN {column} {kind}")

    def intent(self, token: str, backend: BatchBackend, ids: list[str], owner: str) -> None:
        """Record (or renew) the intent to send `ids` as one batch. A renewal keeps the first intent's
        time and file: a batch an earlier attempt may have made stays findable by both."""
        now, config = time.time(), json.dumps(backend.list_config.model_dump(mode="json"))
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute(
            "INSERT INTO batches (token, backend, endpoint, config, owner, n, state, created, updated) VALUES"
            " (?, ?, ?, ?, ?, ?, 'intent', ?, ?) ON CONFLICT (token) DO UPDATE SET state = 'intent', owner ="
            " excluded.owner, updated = excluded.updated",
            (token, backend.name, backend.endpoint, config, owner, len(ids), now, now),
        )
        self.db.execute("DELETE FROM batch_lines WHERE token = ?", (token,))
        self.db.executemany(
            "INSERT INTO batch_lines VALUES (?, ?, ?)", [(token, i, c) for i, c in enumerate(ids)]
        )
        self.db.execute("COMMIT")

    def update(self, token: str, unchanged_since: float | None = None, **values: Any) -> None:
        """Set `values`; with `unchanged_since`, only if nobody wrote the row after that."""
        sets, guard = ", ".join(f"{k} = ?" for k in values), " AND updated = ?" if unchanged_since else ""
        args = (*values.values(), time.time(), token, *([unchanged_since] if unchanged_since else []))
        self.db.execute(f"UPDATE batches SET {sets}, updated = ? WHERE token = ?{guard}", args)

    def rows(self, where: str = "1", args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [
            dict(r) for r in self.db.execute(f"SELECT * FROM batches WHERE {where} ORDER BY created", args)
        ]

    def row(self, token: str) -> dict[str, Any]:
        found = self.rows("token = ?", (token,))
        if not found:
            raise KeyError(token)
        return found[0]

    def lines(self, token: str) -> list[str]:
        query = "SELECT custom_id FROM batch_lines WHERE token = ? ORDER BY pos"
        return [r[0] for r in self.db.execute(query, (token,))]

    def claimed(self, proven: bool = False) -> set[str]:
        """Batch ids no row may adopt: held by a row (with `proven`, only rows that know it is theirs),
        or proven another's."""
        query = (
            "SELECT batch_id FROM batches WHERE batch_id IS NOT NULL" + " AND proof IS NOT 'size'" * proven
        )
        held = {r[0] for r in self.db.execute(query)}
        return held | {r[0] for r in self.db.execute("SELECT batch_id FROM foreign_batches")}

    def owner_of(self, ids: set[str], batch_id: str) -> str | None:
        """The open row whose lines are exactly `ids`, and which holds no batch, or `batch_id`, or one
        on size alone (it may hold another of the same size, provisionally)."""
        first = next(iter(ids), None)
        tokens = [
            r[0] for r in self.db.execute("SELECT token FROM batch_lines WHERE custom_id = ?", (first,))
        ]
        for token in tokens:
            free = "(batch_id IS NULL OR batch_id = ? OR proof = 'size')"
            row = self.rows(f"token = ? AND {OPEN} AND {free}", (token, batch_id))
            if row and set(self.lines(token)) == ids:
                return token
        return None

    def release(self, batch_id: str, token: str, foreign: bool) -> None:
        """`batch_id` was adopted by `token` on size alone and its results proved it not this row's: the
        row looks again; a batch that is no row's (`foreign`) is never adopted again."""
        self.db.execute("BEGIN IMMEDIATE")
        if foreign:
            self.db.execute(
                "INSERT OR IGNORE INTO foreign_batches VALUES (?, ?, ?)", (batch_id, token, time.time())
            )
        self.db.execute(
            "UPDATE batches SET batch_id = NULL, proof = NULL, status = NULL, state = CASE WHEN file_id IS"
            " NULL THEN 'intent' ELSE 'uploaded' END, detail = ?, updated = ? WHERE token = ?",
            (f"{batch_id} proved not this row's (its results hold other custom_ids)", time.time(), token),
        )
        self.db.execute("COMMIT")

    def rounds(self, ids: list[str]) -> int:
        """How many finished batches already held one of these lines: the next round's number."""
        most = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = (
                "SELECT COUNT(*) FROM batch_lines l JOIN batches b ON b.token = l.token WHERE b.state IN "
                f"{ROUND_ENDS} AND l.custom_id IN ({marks}) GROUP BY l.custom_id"
            )
            most = max([most, *(r[0] for r in self.db.execute(query, chunk))])
        return most

    def close(self) -> None:
        self.db.close()


def batch_records(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every batch of a run, oldest first, as its ledger has it."""
    path = Path(run_dir) / LEDGER
    if not path.is_file():
        raise InputError(
            f"{run_dir} -> no {LEDGER}: this run sent no provider batches (a batch backend keeps them)"
        )
    ledger = Ledger(path)
    try:
        return ledger.rows()
    finally:
        ledger.close()


def cancel_batches(run_dir: str | Path) -> list[dict[str, Any]]:
    """Cancel every unfinished batch of a run that is provably its own; the rows of those that were
    unfinished, afterwards. A cancelled batch keeps what it completed: a rerun collects that and sends
    only the rest. A batch found on size alone (Anthropic) is left running: it may be a teammate's (see
    `proof` above)."""
    batch_records(run_dir)
    ledger = Ledger(Path(run_dir) / LEDGER)
    unfinished = {row["token"] for row in ledger.rows(OPEN)}

    async def cancel_all() -> None:
        made: dict[str, BatchBackend] = {}
        try:
            for row in ledger.rows(OPEN):
                backend = made.get(row["config"])
                if backend is None:
                    created = create_backend(BackendConfig.model_validate(json.loads(row["config"])))
                    assert isinstance(created, BatchBackend), f"{row['backend']} is not a batch backend"
                    backend = made[row["config"]] = created
                await _cancel_one(ledger, backend, row)
        finally:
            for backend in made.values():
                await backend.aclose()

    try:
        asyncio.run(cancel_all())
        return [row for row in ledger.rows() if row["token"] in unfinished]
    finally:
        ledger.close()


async def _cancel_one(ledger: Ledger, backend: BatchBackend, row: dict[str, Any]) -> None:
    token, batch_id, proof = row["token"], row["batch_id"], row["proof"]
    if batch_id is None:
        listing = await backend.recent(row["created"] - LOOKBACK_S)
        found = backend.find(listing, row, ledger.claimed())
        if found is None:
            ledger.update(token, state="abandoned", detail="never created: no batch matches")
            return
        batch_id, proof = found.id, "token" if backend.proves(found, row) else "size"
        ledger.update(token, state="created", batch_id=batch_id, proof=proof)
    if proof == "size":
        ledger.update(token, detail=f"not cancelled: {batch_id} matches by size only; it may be another's")
        return
    try:
        info = await backend.cancel(batch_id)
    except (BackendError, TransientError) as exc:  # it ended meanwhile (OpenAI's fake answers 409)
        try:
            info = await backend.get(batch_id)
        except (BackendError, TransientError):
            ledger.update(token, detail=f"not cancelled: {exc}")
            return
    ledger.update(token, state="created", batch_id=batch_id, status=info.status)
