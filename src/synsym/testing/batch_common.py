"""Pieces shared by the loopback batch-API fakes (`openai_batch_server`, `anthropic_server`).

A batch backend is only testable hermetically if the fake's time, faults and bills are under the test's
control: the `Clock` is simulated by default (a 24-hour expiry costs no wall time), the `Die` draws
faults in a seeded, replayable order, and the `Ledger` records what a real provider would bill, so a
test can prove that no line was paid for twice. `BackgroundServer` runs an app in a thread with its
own event loop, as `synsym.testing.server.TestServer` does; everything binds to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any, Generic, Protocol, TypeVar

from aiohttp import web

__all__ = [
    "BackgroundServer",
    "BatchState",
    "Clock",
    "Die",
    "Ledger",
    "body_rng",
    "config_from_argv",
    "due",
    "jsonl",
    "page",
    "read_json",
    "rfc3339",
    "serve_forever",
]

T = TypeVar("T")


class Clock:
    """Simulated by default: batches move only when `advance()` is called, so tests never sleep.
    With `simulated=False` it is the wall clock and phase durations are real seconds."""

    def __init__(self, simulated: bool = True, start: float | None = None) -> None:
        self.simulated = simulated
        self._now = time.time() if start is None else start

    def now(self) -> float:
        return self._now if self.simulated else time.time()

    def advance(self, seconds: float) -> float:
        if not self.simulated:
            raise RuntimeError("the wall clock cannot be advanced; use simulated_clock=True")
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._now += seconds
        return self._now


class Die:
    """One fault (or None) per executed line, in processing order: `script` forces the first ones
    ("ok" for none), then a die seeded by `seed` decides, so the totals for N lines repeat every run
    and a resubmitted line is not doomed to repeat its fault."""

    def __init__(self, seed: int, probs: dict[str, float], script: list[str]) -> None:
        bad = [s for s in script if s != "ok" and s not in probs]
        if bad:
            raise ValueError(f"unknown fault(s) in script: {bad}; use 'ok' or one of {tuple(probs)}")
        if sum(probs.values()) > 1.0 + 1e-9:
            raise ValueError("fault probabilities add up to more than 1")
        self.rng = random.Random(seed)
        self.probs, self.script, self.rolls = probs, list(script), 0

    def pick(self) -> str | None:
        self.rolls += 1
        if self.rolls <= len(self.script):
            kind = self.script[self.rolls - 1]
            return None if kind == "ok" else kind
        r = self.rng.random()
        for kind, p in self.probs.items():
            if r < p:
                return kind
            r -= p
        return None


class Ledger:
    """What the provider would count and bill. A line is billed once, when it completes successfully
    in any batch (expired and cancelled batches included); `billed_by_custom_id` makes a line billed
    twice across batches visible."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.batches_created = self.files_uploaded = self.cancels = 0
        self.lines_billed = self.lines_failed = self.online_requests = 0
        self.creates_refused = 0  # creates answered 429 or failed for a full queue
        self.creates_dropped = 0  # creates that made the batch and dropped the answer
        self.rebilled_in: set[str] = set()  # batches that billed a line another batch had billed
        self.batches_by_metadata: Counter[str] = Counter()
        self.billed_by_custom_id: Counter[str] = Counter()

    def bill(self, custom_id: str, batch_id: str = "") -> None:
        if self.billed_by_custom_id[custom_id] and batch_id:
            self.rebilled_in.add(batch_id)
        self.lines_billed += 1
        self.billed_by_custom_id[custom_id] += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "batches_created": self.batches_created,
            "batches_by_metadata": dict(self.batches_by_metadata),
            "files_uploaded": self.files_uploaded,
            "lines_billed": self.lines_billed,
            "billed_by_custom_id": dict(self.billed_by_custom_id),
            "double_billed": sorted(c for c, n in self.billed_by_custom_id.items() if n > 1),
            "lines_failed": self.lines_failed,
            "cancels": self.cancels,
            "online_requests": self.online_requests,
            "creates_refused": self.creates_refused,
            "creates_dropped": self.creates_dropped,
            "duplicate_batches": len(self.rebilled_in),
        }


def body_rng(body: Any, seed: int) -> tuple[str, random.Random]:
    """A digest of the canonical body keyed by the seed, and a die seeded by it: the same request gets
    the same answer, exactly as `synsym.testing.server` derives its answers."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.blake2b(canonical, digest_size=8, key=str(seed).encode()[:64]).digest()
    return digest.hex(), random.Random(int.from_bytes(digest, "big"))


def due(n: int, start: float, now: float, duration: float, deadline: float, fraction: float | None) -> int:
    """How many of `n` lines are done at `now`: evenly over `duration` from `start`, none after the
    deadline, and at most `fraction` of them when set (the rest are left to expire)."""
    cap = n if fraction is None else int(n * fraction)
    elapsed = min(now, deadline) - start
    if elapsed < 0:
        return 0
    return min(cap, n if duration <= 0 or elapsed >= duration else int(n * elapsed / duration))


def page(
    ids: list[str], limit: int, after: str | None = None, before: str | None = None
) -> tuple[list[str], bool]:
    """Cursor pagination over `ids` (newest first): the `limit` ids after `after`, or the `limit` just
    before `before`, and whether more lie that way. KeyError for an unknown cursor."""
    if before is not None:
        head = ids[: ids.index(before)] if before in ids else _missing(before)
        return head[-limit:], len(head) > limit
    rest = ids if after is None else ids[ids.index(after) + 1 :] if after in ids else _missing(after)
    return rest[:limit], len(rest) > limit


def _missing(cursor: str) -> list[str]:
    raise KeyError(cursor)


def jsonl(rows: list[Any], shuffle_key: str | None = None) -> bytes:
    """JSON lines; shuffled by a die seeded with `shuffle_key`, since providers promise no order."""
    if shuffle_key is not None:
        rows = list(rows)
        random.Random(shuffle_key).shuffle(rows)
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


async def read_json(request: web.Request) -> dict[str, Any] | None:
    """The JSON object body, or None if it is not one."""
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def rfc3339(ts: float) -> str:
    """Anthropic's timestamp form, e.g. 2024-09-24T18:37:24.100435Z."""
    when = _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


class _HasStatus(Protocol):
    status: str


BT = TypeVar("BT", bound=_HasStatus)


class BatchState(Generic[BT]):
    """What both fakes keep: the clock, the ledger, batches in creation order and a die for ids.
    Subclasses define `tick(batch)`, which brings a batch to the state it has at the clock's now;
    nothing runs in the background, so reading a batch is what moves it."""

    def __init__(self, seed: int, simulated_clock: bool) -> None:
        self.clock = Clock(simulated_clock)
        self.ledger = Ledger()
        self.batches: dict[str, BT] = {}
        self.ids = random.Random(seed + 2)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{self.ids.getrandbits(96):024x}"

    def tick(self, batch: BT) -> None:
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any]:
        """The ledger, plus batches by status, after bringing every batch up to now."""
        statuses: Counter[str] = Counter()
        for b in self.batches.values():
            self.tick(b)
            statuses[b.status] += 1
        return {**self.ledger.snapshot(), "batches_by_status": dict(statuses), "now": self.clock.now()}


def add_control_routes(app: web.Application, state: BatchState[Any]) -> None:
    """`GET /_stats`, `POST /_stats/reset` and `POST /_clock {"advance_s": x}`: the Python methods'
    twins, for a server run as a subprocess."""

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(state.snapshot())

    async def reset(_: web.Request) -> web.Response:
        state.ledger.reset()
        return web.json_response({"reset": True})

    async def clock(request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.can_read_body else {}
            now = state.clock.advance(float(body.get("advance_s", 0)))
        except (ValueError, TypeError, RuntimeError, AttributeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"now": now})

    app.router.add_get("/_stats", stats)
    app.router.add_post("/_stats/reset", reset)
    app.router.add_post("/_clock", clock)


async def start_app(app: web.Application, port: int = 0) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    host, bound = runner.addresses[0][:2]
    return runner, f"http://{host}:{bound}"


S = TypeVar("S", bound=BatchState[Any])
B = TypeVar("B", bound="BackgroundServer[Any]")


class BackgroundServer(Generic[S]):
    """Runs `build()`'s app in a daemon thread with its own event loop on an ephemeral port;
    `origin` is `http://127.0.0.1:<port>`. State is touched only on that loop (see `call`)."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.origin = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._state: S | None = None

    def build(self) -> tuple[web.Application, S]:
        raise NotImplementedError

    def start(self: B) -> B:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            runner = None
            try:
                app, self._state = self.build()
                runner, self.origin = loop.run_until_complete(start_app(app))
            except BaseException as exc:
                failure.append(exc)
            ready.set()
            if runner is not None:
                loop.run_forever()
                loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            raise RuntimeError(f"server failed to start: {failure[0] if failure else 'timeout'}")
        return self

    def call(self, fn: Callable[[S], T]) -> T:
        """Run `fn(state)` on the server's loop, where the state lives."""

        async def wrapper() -> T:
            assert self._state is not None
            return fn(self._state)

        assert self._loop is not None, "server not started"
        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(10)

    def stats(self) -> dict[str, Any]:
        """The counters (as `GET /_stats` answers them), after bringing every batch up to now."""
        return self.call(lambda s: s.snapshot())

    def advance(self, seconds: float) -> float:
        """Move the simulated clock forward; returns the new time."""
        return self.call(lambda s: s.clock.advance(seconds))

    def reset_stats(self) -> None:
        self.call(lambda s: s.ledger.reset())

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self: B) -> B:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def config_from_argv(cls: type[T], argv: list[str] | None, prog: str, description: str) -> tuple[T, int]:
    """Flags from a config dataclass's scalar fields (`p_4xx` -> `--p-4xx`, `script` comma-separated)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    names = []
    for f in fields(cls):  # type: ignore[arg-type]
        flag = "--" + f.name.replace("_", "-")
        hint = str(f.type)
        if f.default is MISSING:  # a list: comma-separated
            parser.add_argument(flag, dest=f.name, default="", metavar="a,b")
        elif hint.startswith("bool"):
            parser.add_argument(flag, dest=f.name, default=f.default, action=argparse.BooleanOptionalAction)
        else:
            kind = float if "float" in hint else int if "int" in hint else str
            parser.add_argument(flag, dest=f.name, type=kind, default=f.default, metavar=kind.__name__)
        names.append(f.name)
    args = parser.parse_args(argv)
    values = {n: getattr(args, n) for n in names}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.default is MISSING:
            values[f.name] = [s.strip() for s in values[f.name].split(",") if s.strip()]
    return cls(**values), args.port


def serve_forever(app: web.Application, port: int, suffix: str = "") -> None:
    """Serve until killed; the first stdout line is the base URL (origin + `suffix`)."""

    async def run() -> None:
        runner, origin = await start_app(app, port)
        print(origin + suffix, flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
