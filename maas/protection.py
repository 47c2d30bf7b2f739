"""Connection protection (issue 11): the watch over confirmed bookings.

A realtime message, once stored (maas/realtime.py `receive`), becomes protection jobs: one
per confirmed booking with a leg on a run the message names (ticketing/protection_store.py;
booking_legs is the index trip run -> booking legs). Every worker runs a `Protector`: it claims
jobs with SKIP LOCKED and checks each booking, under its row lock, on the realtime state as
stored now (re-read if this worker's snapshot is behind), with ticketing/protection.py. A
newly broken leg becomes a `disrupted` event (once per leg and reason) in the transaction that
ends the job. A crash mid-job leaves the job 'running' until its lease ends; then it runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date, datetime
from typing import Any, AsyncIterator, Callable, Sequence

import asyncpg
from aiohttp import web

from maas.appkeys import CLOCK, DB, LIVE, SETTINGS
from maas.localtime import local, planner_zones
from maas.realtime import STORED_HOOKS, RealtimeState, load_state, with_realtime
from routing.errors import LegNotFeasible
from routing.itinerary import LegKey
from ticketing import protection_store as pstore
from ticketing.protection import BookedLeg, Status, disruptions

__all__ = ["Protector", "PROTECTOR", "enqueue", "protection_ctx"]

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3     # a job that fails this often is left 'failed' (its error in `outcome`)


class _Pulse:
    """Wakes everyone waiting now (each `wait` sees the next pulse)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def pulse(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self) -> None:
        await self._event.wait()


class Protector:
    """Runs protection jobs in this worker (one job at a time)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.wake = asyncio.Event()
        self.written = _Pulse()     # set when this worker wrote events (wakes SSE readers)
        self._state: RealtimeState | None = None
        self._planner: Any = None
        self._for: Any = None

    async def _planner_now(self) -> Any:
        """A planner on the realtime state as stored now (this worker's, if it is current)."""
        snap = self.app[LIVE].current
        have = self._state if self._for is snap.static_planner and self._state else snap.realtime
        state = await load_state(self.app[DB], have)
        if state is snap.realtime:
            return snap.planner
        if state is not self._state or self._for is not snap.static_planner:
            self._planner = await asyncio.get_running_loop().run_in_executor(
                None, with_realtime, snap.static_planner, snap.network, state)
            self._state, self._for = state, snap.static_planner
        return self._planner

    async def run_one(self) -> bool:
        """Claim and run one job; False when none is open."""
        settings = self.app[SETTINGS].protection
        now = self.app[CLOCK].now
        pool: asyncpg.Pool = self.app[DB]
        job = await pstore.claim(pool, now(), settings.job_lease_s)
        if job is None:
            return False
        try:
            planner = await self._planner_now()
            async with pool.acquire() as conn, conn.transaction():
                outcome = await check_booking(conn, planner, job["booking_id"], now())
                await pstore.finish(conn, job["id"], outcome, now())
            if outcome == "disrupted":
                self.written.pulse()
        except Exception as exc:  # noqa: BLE001 — recorded on the job; the loop goes on
            log.exception("protection job %s failed", job["id"])
            await pstore.finish(pool, job["id"], f"error: {type(exc).__name__}", now(),
                                failed=job["attempts"] >= MAX_ATTEMPTS, retry=True)
        return True

    async def run(self) -> None:
        poll = self.app[SETTINGS].protection.poll_s
        while True:
            try:
                while await self.run_one():
                    pass
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("protection: %s", exc)
            self.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), poll)


def connection_of(config: Any) -> Callable[[BookedLeg, BookedLeg], int]:
    """The change time the planner asks between two legs: alighting time of the first leg's
    mode, then the longer of the boarding time of the next leg's mode and the transfer time."""
    def of(a: BookedLeg, b: BookedLeg) -> int:
        return int(config.alight_s.get(a.mode, 0)) + max(int(config.board_s.get(b.mode, 0)),
                                                          int(config.transfer_s))
    return of


async def check_booking(conn: asyncpg.Connection, planner: Any, booking_id: str,
                        now: datetime) -> str:
    """Check one booking (its row locked for this transaction); writes `disrupted` events for
    legs newly broken. 'ok', 'disrupted' (new events) or 'known' (nothing new), 'not_confirmed'."""
    status, legs = await pstore.lock_booking(conn, booking_id)
    if status != "confirmed" or not legs or planner is None:
        return "not_confirmed" if status != "confirmed" else "ok"
    keys = {leg.leg_no: LegKey(**k) for leg, k in legs}
    zone = planner_zones(planner)   # the event's times are written local to their stops

    def status_of(leg) -> Status:  # type: ignore[no-untyped-def]
        k = keys[leg.leg_no]
        try:
            st = planner.leg_status(k)
        except LegNotFeasible:      # not in the active timetable (sold on an older version)
            st = Status(leg.departure, leg.arrival, False)
        return Status(local(st.departure, zone, k.from_stop), local(st.arrival, zone, k.to_stop),
                      st.cancelled)

    found = disruptions([leg for leg, _ in legs], status_of, connection_of(planner.config), now)
    if not found:
        return "ok"
    known = await pstore.recorded_disruptions(conn, booking_id)
    new = [d for d in found if (d.leg_no, d.reason) not in known]
    for d in new:
        await pstore.add_event(conn, booking_id, "disrupted", status, d.leg_no, d.as_json(), now)
    return "disrupted" if new else "known"


async def enqueue(app: web.Application, feed: str, runs: Sequence[tuple[str, date]]) -> int:
    """Jobs for the confirmed bookings on `runs` (a stored realtime message); wakes this worker."""
    if not app[SETTINGS].protection.enabled or not runs:
        return 0
    n = await pstore.enqueue_for_runs(app[DB], sorted(set(runs)),
                                      {"feed": feed, "trips": sorted({r[0] for r in runs})},
                                      app[CLOCK].now())
    if n and PROTECTOR in app:
        app[PROTECTOR].wake.set()
    return n


PROTECTOR = web.AppKey("protector", Protector)


async def protection_ctx(app: web.Application) -> AsyncIterator[None]:
    if not app[SETTINGS].protection.enabled:
        yield
        return
    protector = app[PROTECTOR] = Protector(app)
    if STORED_HOOKS not in app:
        app[STORED_HOOKS] = []
    app[STORED_HOOKS].append(enqueue)
    task = asyncio.get_running_loop().create_task(protector.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
