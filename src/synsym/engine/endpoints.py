"""Several endpoints behind one backend: `Spread` sends each attempt to the one with the most free
capacity, each keeping its own adaptive limit and per-minute buckets (a `Direct` each), and keeps a run
going when some of them go down.

Why a dispatch of its own, and not N engines: the engine's queue, cache, retries, budget and stops stay
one, so a run over three vLLM servers is the same run as over one (the same cache keys: every endpoint
shares its backend's `identity()`), only faster. Why failures are handled here, not by the engine's
retries: an endpoint that refuses connections, answers 5xx in a row or rejects the key says nothing about
the request, so the request is moved to another endpoint at once (no backoff, no retry spent) and the
endpoint is taken out of rotation. After a while it is probed with one real request (half-open, as a
circuit breaker does); a probe that fails doubles the wait, and after `give_up_after` failed probes the
endpoint is given up on for the run. Each of these is a note (`notes`, `events.note`) the runner puts in the
run's notes and manifest. Only when no endpoint is left in rotation does an endpoint failure reach the
engine, so its early stop fires when all of them are down, never when one is.

The lanes need not be HTTP endpoints: anything with the `Dispatch` shape is one (a Ray worker is, in
`synsym.engine.ray_dispatch`). A lane that raises `LaneGone` will never answer again and is given up on
at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from synsym.backends.base import ChatRequest, ChatResponse, EndpointError, TransientError
from synsym.core.errors import BackendError
from synsym.engine.events import Events
from synsym.engine.limits import AdaptiveConcurrency

# out of rotation at once: nothing this endpoint answers now will work
_DOWN_KINDS = frozenset({"unreachable"})
# out after `storm` in a row without a success: a 5xx storm, a server that hangs or sends garbage
_STORM_KINDS = frozenset({"server_error", "overloaded", "timeout", "connection", "bad_response"})
_MAX_PROBE_WAIT_S = 120.0
_NOTES_PER_LANE = 3  # take-outs noted per endpoint; a flapping one does not flood the notes


class Lane(Protocol):
    """What `Spread` spreads over: the `Dispatch` shape (a `Direct` per endpoint, a Ray worker)."""

    ceiling: int
    limiter: AdaptiveConcurrency

    @property
    def endpoint(self) -> str: ...

    async def send(self, request: ChatRequest, key: str) -> ChatResponse: ...

    async def aclose(self) -> None: ...


class LaneGone(TransientError):
    """A lane that will never answer again (a Ray worker that died): given up on at once, its request
    moved to another lane."""

    def __init__(self, message: str) -> None:
        super().__init__("connection", message)


class TotalLimit(AdaptiveConcurrency):
    """The sum of the lanes' limits, for `Engine.limiter` (what a benchmark or a progress line shows):
    the lanes in rotation count towards `limit`, every lane towards `in_flight` and `ceiling`. Read only:
    each lane acquires and adapts its own."""

    def __init__(self, parts: Callable[[], list[tuple[AdaptiveConcurrency, bool]]]) -> None:
        self._parts = parts  # (limiter, in rotation)

    @property
    def limit(self) -> float:
        return float(sum(p.limit for p, up in self._parts() if up))

    @limit.setter
    def limit(self, value: float) -> None:
        raise AttributeError("the total of several lanes' limits is read only")

    @property
    def in_flight(self) -> int:
        return sum(p.in_flight for p, _ in self._parts())

    @in_flight.setter
    def in_flight(self, value: int) -> None:
        raise AttributeError("the total of several lanes' requests in flight is read only")

    @property
    def ceiling(self) -> int:
        return sum(p.ceiling for p, _ in self._parts())

    @ceiling.setter
    def ceiling(self, value: int) -> None:
        raise AttributeError("the total of several lanes' ceilings is read only")

    async def acquire(self) -> None:
        raise TypeError("acquire a lane's own limiter; the total only reports")

    def release(self) -> None:
        raise TypeError("release a lane's own limiter; the total only reports")

    def on_success(self, seconds: float | None = None, tokens: int = 0, sent: float | None = None) -> None:
        """Each lane adapts its own limit."""

    def on_overload(self) -> None:
        """Each lane adapts its own limit."""


UP, DOWN, DEAD = "up", "down", "dead"


@dataclass(eq=False)
class _Lane:
    dispatch: Lane
    index: int
    state: str = UP
    epoch: int = 0  # bumped at each take-out: answers to requests sent before it say nothing new
    in_row: int = 0  # storm failures since the last success
    failed_probes: int = 0
    probe_at: float = 0.0
    probing: bool = False
    outs: int = 0
    last_error: Exception | None = None
    answered: int = 0

    @property
    def free(self) -> int:
        limiter = self.dispatch.limiter
        return int(limiter.limit) - limiter.in_flight


class Spread:
    """Requests spread over several lanes (endpoints) by free capacity; see the module docstring."""

    def __init__(
        self,
        lanes: Sequence[Lane],
        *,
        what: str = "endpoint",
        probe_after_s: float = 5.0,
        give_up_after: int = 6,
        storm: int = 5,
        events: Events | None = None,
    ) -> None:
        if not lanes:
            raise ValueError("Spread needs at least one lane")
        self.lanes = [_Lane(d, i) for i, d in enumerate(lanes)]
        self.what = what
        self.probe_after_s = probe_after_s
        self.give_up_after = give_up_after
        self.storm = storm
        self.ceiling = sum(d.ceiling for d in lanes)
        self.limiter: AdaptiveConcurrency = TotalLimit(
            lambda: [(lane.dispatch.limiter, lane.state == UP) for lane in self.lanes]
        )
        self.notes: list[str] = []
        self.events = events or Events()  # notes to whoever runs the engine: the run's notes and progress
        self.moved = 0  # attempts moved to another lane after theirs failed
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def endpoint(self) -> str:
        return f"{len(self.lanes)} {self.what}s ({', '.join(lane.dispatch.endpoint for lane in self.lanes)})"

    def summary(self) -> str:
        """One line for the end of a run: each lane's answers and state."""
        states = {UP: "in rotation", DOWN: "out of rotation", DEAD: "given up on"}
        return f"{self.what}s: " + "; ".join(
            f"{x.dispatch.endpoint} answered {x.answered} ({states.get(x.state, x.state)})"
            for x in self.lanes
        )

    def status(self) -> list[dict[str, object]]:
        """Each lane's state and how many answers it gave, for a summary or a test."""
        return [
            {"endpoint": x.dispatch.endpoint, "state": x.state, "answered": x.answered, "outs": x.outs}
            for x in self.lanes
        ]

    async def send(self, request: ChatRequest, key: str) -> ChatResponse:
        tried: set[_Lane] = set()  # lanes whose failure moved this attempt on
        while True:
            lane = await self._pick(tried)
            if lane is None:
                raise self._none_left()
            epoch, probe = lane.epoch, lane.probing
            try:
                response = await lane.dispatch.send(request, key)
            except LaneGone as err:
                self._give_up(lane, err)
            except EndpointError as err:
                self._failed(lane, epoch, probe, err, at_once=True)
            except TransientError as err:
                if err.kind not in _DOWN_KINDS | _STORM_KINDS:
                    self._revive(lane, epoch, probe)  # a rate limit: it answers, only not now
                    raise  # the lane's own limit adapts, the engine backs off
                if not self._failed(lane, epoch, probe, err, at_once=err.kind in _DOWN_KINDS):
                    raise  # one 5xx is the engine's to retry (its next attempt may go elsewhere)
            except BackendError:
                self._revive(lane, epoch, probe)  # the request's own fault: the endpoint answers
                raise
            else:
                self._answered(lane, epoch, probe)
                return response
            finally:
                if probe:
                    lane.probing = False
                self._wake()
            tried.add(lane)
            self.moved += 1

    async def aclose(self) -> None:
        for lane in self.lanes:
            await lane.dispatch.aclose()

    async def _pick(self, skip: set[_Lane]) -> _Lane | None:
        """A lane due for a probe first (so a recovered endpoint comes back while the others have
        room), else the lane in rotation with the most free capacity (ties: the first), waiting while
        all are full; None when no lane is left to try."""
        while True:
            now = time.monotonic()
            down = [x for x in self.lanes if x.state == DOWN and not x.probing and x not in skip]
            due = [x for x in down if x.probe_at <= now]
            if due:
                lane = min(due, key=lambda x: x.probe_at)
                lane.probing = True
                return lane
            up = [x for x in self.lanes if x.state == UP and x not in skip]
            if not up:
                return None
            free = max(up, key=lambda x: (x.free, -x.index))
            if free.free > 0:
                return free
            later = min((x.probe_at for x in down), default=None)
            await self._wait(None if later is None else max(0.0, later - now))

    def _failed(self, lane: _Lane, epoch: int, probe: bool, err: Exception, at_once: bool) -> bool:
        """Count a failure of `lane`; True when the lane is (now or already) out, so the attempt moves."""
        lane.last_error = err
        if epoch != lane.epoch or lane.state == DEAD:
            return True  # sent before the lane was taken out; already counted
        if probe:
            lane.failed_probes += 1
            if lane.failed_probes >= self.give_up_after:
                self._give_up(lane, err)
            else:
                self._take_out(lane, err, noted=False)
                wait = lane.probe_at - time.monotonic()
                tries = f"{lane.failed_probes} of {self.give_up_after}"
                self._note(
                    f"{self.what} {lane.dispatch.endpoint}: probe {tries} failed ({_short(err)}); "
                    f"probed again in {wait:.0f} s"
                )
            return True
        lane.in_row += 1
        if at_once or lane.in_row >= self.storm:
            self._take_out(lane, err)
            return True
        return False

    def _answered(self, lane: _Lane, epoch: int, probe: bool) -> None:
        lane.answered += 1
        self._revive(lane, epoch, probe)

    def _revive(self, lane: _Lane, epoch: int, probe: bool) -> None:
        """An answer (or an error only a live server sends) from `lane`."""
        if epoch != lane.epoch:
            return  # sent before the lane was taken out: only a probe brings it back
        lane.in_row = 0
        if probe and lane.state == DOWN:
            lane.state, lane.failed_probes = UP, 0
            self._note(f"{self.what} {lane.dispatch.endpoint} answers again; back in rotation")

    def _take_out(self, lane: _Lane, err: Exception, noted: bool = True) -> None:
        lane.state, lane.epoch, lane.in_row = DOWN, lane.epoch + 1, 0
        wait = min(_MAX_PROBE_WAIT_S, self.probe_after_s * 2**lane.failed_probes)
        lane.probe_at = time.monotonic() + wait
        if not noted:
            return
        lane.outs += 1
        if lane.outs <= _NOTES_PER_LANE:
            others = sum(x.state == UP for x in self.lanes)
            more = " (further take-outs of it are not noted)" if lane.outs == _NOTES_PER_LANE else ""
            self._note(
                f"{self.what} {lane.dispatch.endpoint} taken out of rotation ({_short(err)}); its requests "
                f"go to the {others} other(s); probed again in {wait:.0f} s{more}"
            )

    def _give_up(self, lane: _Lane, err: Exception) -> None:
        if lane.state == DEAD:
            return
        lane.state, lane.epoch, lane.last_error = DEAD, lane.epoch + 1, err
        left = sum(x.state != DEAD for x in self.lanes)
        why = f"after {lane.failed_probes} failed probes" if lane.failed_probes else "at once"
        self._note(
            f"{self.what} {lane.dispatch.endpoint} given up on {why} ({_short(err)}); "
            f"the run goes on with {left} of {len(self.lanes)}"
        )

    def _none_left(self) -> Exception:
        """What the engine sees when no lane can take the attempt: the latest failure's kind, so its
        retries and early stop treat several endpoints that are all down as one that is."""
        failed = [x for x in self.lanes if x.last_error is not None]
        detail = "; ".join(f"{x.dispatch.endpoint}: {_short(x.last_error)}" for x in failed)
        if all(x.state == DEAD for x in self.lanes):
            return EndpointError("unreachable", f"every {self.what} was given up on: {detail}")
        message = f"no {self.what} of {len(self.lanes)} is in rotation: {detail}"
        last = failed[-1].last_error if failed else None
        if isinstance(last, EndpointError):
            return EndpointError(last.kind, message)
        if isinstance(last, TransientError) and not isinstance(last, LaneGone):
            return TransientError(last.kind, message, last.retry_after)
        return TransientError("unreachable", message)

    def _note(self, text: str) -> None:
        self.notes.append(text)
        self.events.note(text)

    async def _wait(self, timeout: float | None) -> None:
        """Until a lane frees a slot or changes state (or `timeout` passes)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await asyncio.wait([future], timeout=timeout)
        finally:
            if future in self._waiters:
                self._waiters.remove(future)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done() and not future.get_loop().is_closed():
                future.set_result(None)


def _short(err: Exception | None) -> str:
    text = str(err) if err is not None else "no answer"
    return text if len(text) <= 160 else text[:157] + "..."
