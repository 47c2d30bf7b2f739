"""Connection protection (issue 11): the watch over confirmed bookings.

A realtime message, once stored (maas/realtime.py `receive`), becomes protection jobs: one
per confirmed booking with a leg on a run the message names (ticketing/protection_store.py;
booking_legs is the index trip run -> booking legs). Every worker runs a `Protector`: it claims
jobs with SKIP LOCKED and checks each booking, under its row lock, on the realtime state as
stored now (re-read if this worker's snapshot is behind), with ticketing/protection.py. A
newly broken leg becomes a `disrupted` event (once per leg and reason) in the transaction that
ends the job. A crash mid-job leaves the job 'running' until its lease ends; then it runs again.

Rebooking (`protection.rebook`, default on): a booking with a broken leg is re-planned from where
the passenger will be (ticketing/rebook.py) on this worker's realtime planner, and the broken
legs are swapped for the earliest-arriving alternative through `ticketing.store.replace_legs`
(the same segment locks and seat count as a new booking) at no cost: event `rebooked`. With no
alternative, or no seats on any: event `rebook_failed`, and the booking's `protection` offers
the full refund of the broken legs (taken with POST /v1/bookings/{id}/cancel) until a later
check finds the journey as sold feasible again (`withdraw_offer`: event `restored`). The check's
commit releases the job as 'rebooking'; it is claimed again after the checks waiting (every
broken booking hears `disrupted` first) and the swap's transaction finishes it; a crash while
rebooking is resumed by the next claim after the lease. Plans of bookings with the
same origin, time, destination and options are searched once (memoised per planner).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date, datetime, timedelta
from typing import Any, AsyncIterator, Callable, Sequence
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from maas.appkeys import BOOKINGS, CLOCK, DB, LIVE, SETTINGS
from maas.localtime import local, local_iso, planner_zones
from maas.outages import loop_outage
from maas.realtime import STORED_HOOKS, RealtimeState, load_state, with_realtime
from routing.errors import LegNotFeasible, RoutingError
from routing.itinerary import LegKey
from routing.planner import Query
from ticketing import protection_store as pstore
from ticketing import store
from ticketing.errors import SeatsGone, TicketingError
from ticketing.fares import leg_operator, leg_unit_price, price_units
from ticketing.offers import resolve_legs
from ticketing.protection import BookedLeg, Disruption, Status, disruptions, sold_connections
from ticketing.rebook import FULL_REFUND, Replan, allocate, full_refund, replan_for, usable

__all__ = ["Protector", "PROTECTOR", "enqueue", "enqueue_jobs", "protection_ctx", "sale_options",
           "sold_connection_of", "rebook_booking"]

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3     # a job that fails this often is left 'failed' (its error in `outcome`)
ALTERNATIVES = 5     # itineraries asked of the planner per rebooking (each tried for seats)
PLAN_MEMO = 256      # replans remembered per planner (same origin/time/destination: one search)


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
        self._plans: dict[tuple, list[Any]] = {}
        self._plans_for: Any = None
        self.searches = 0           # planner searches run for rebookings (the memo saves the rest)

    async def plans(self, planner: Any, plan: Replan) -> list[Any]:
        """The planner's itineraries for `plan`: one search per distinct (origin, time,
        destination, options) and planner, run in a thread."""
        if self._plans_for is not planner:
            self._plans, self._plans_for = {}, planner
        got = self._plans.get(plan.query_key)
        if got is None:
            self.searches += 1
            got = await asyncio.get_running_loop().run_in_executor(None, plan_journeys,
                                                                   planner, plan)
            if len(self._plans) >= PLAN_MEMO:
                self._plans.clear()
            self._plans[plan.query_key] = got
        return got

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
            if job["rebook"]:
                outcome = await rebook_booking(self.app, planner, job["id"], job["booking_id"],
                                               self.plans)
                if outcome in ("rebooked", "rebook_failed", "restored"):
                    self.written.pulse()
                return True
            async with pool.acquire() as conn, conn.transaction():
                outcome, found = await judge_booking(conn, planner, job["booking_id"], now())
                rebook = bool(found) and settings.rebook
                if rebook:
                    await pstore.start_rebooking(conn, job["id"], now())
                else:
                    await pstore.finish(conn, job["id"], outcome, now())
            if outcome in ("disrupted", "restored"):
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
            except Exception as exc:  # noqa: BLE001 — only a backend outage; others raise
                if not loop_outage(exc):
                    raise
                # e.g. a connection cut while the pool set it up: asyncpg's InternalClientError
                # "another operation is in progress" (maas/outages.py); the loop goes on
                log.warning("protection: %s", exc)
            self.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), poll)


def change_of(config: Any, min_transfer_s: int | None = None,
              extra_s: int = 0) -> Callable[[str, str], int]:
    """The change time the planner asks from a leg of mode a to one of mode b: alighting time
    of a, then the longer of the boarding time of b and the transfer time; the passenger's own
    minimum connection time (/v1/plan `min_transfer_s`) instead, when they gave one; plus the
    profile's `extra_transfer_s`."""
    extra = int(extra_s or 0)
    if min_transfer_s is not None:
        return lambda a, b: int(min_transfer_s) + extra
    alight, board, transfer = config.alight_s, config.board_s, int(config.transfer_s)
    return lambda a, b: int(alight.get(a, 0)) + max(int(board.get(b, 0)), transfer) + extra


def lead_of(config: Any, min_transfer_s: int | None = None,
            extra_s: int = 0) -> Callable[[str | None, str], int]:
    """What to add to the time the passenger is at a stop before the planner, which adds the
    next boarding time itself, plans from there: after a leg of mode `prev`, its alighting
    time, the transfer time and the profile's extra change time; before the first leg (prev
    None), minus its boarding time (the passenger was to be there that long before)."""
    extra = int(extra_s or 0)
    if min_transfer_s is not None:
        return lambda prev, first: extra if prev is not None else int(min_transfer_s)
    alight, board, transfer = config.alight_s, config.board_s, int(config.transfer_s)
    return lambda prev, first: (int(board.get(first, 0)) if prev is None
                                else int(alight.get(prev, 0)) + transfer + extra)


def connection_of(config: Any, min_transfer_s: int | None = None, extra_s: int = 0
                  ) -> Callable[[BookedLeg, BookedLeg], int]:
    """`change_of` between two booked legs."""
    ch = change_of(config, min_transfer_s, extra_s)
    return lambda a, b: ch(a.mode, b.mode)


def sale_options(modes: str | None, wheelchair: bool = False, max_walk_m: float | None = None,
                 min_transfer_s: int | None = None,
                 profile: dict[str, Any] | None = None) -> store.SaleOptions:
    """The plan options a booking is sold with (POST /v1/bookings), as stored; `profile`: the
    planner Query's travel-profile fields (maas/api/plan.py `profile_options`)."""
    listed = tuple(sorted({m.strip() for m in modes.split(",") if m.strip()})) if modes else ()
    return store.SaleOptions(listed or None, wheelchair, max_walk_m, min_transfer_s,
                             {k: v for k, v in (profile or {}).items() if v})


def sold_connection_of(config: Any, options: store.SaleOptions
                       ) -> Callable[[BookedLeg, BookedLeg], int] | None:
    """The change time a sale stores per leg (None without a timetable: not stored)."""
    return None if config is None else connection_of(
        config, options.min_transfer_s, options.profile.get("extra_transfer_s", 0))


def _status_of(planner: Any, key_of: Callable[[Any], LegKey]) -> Callable[[Any], Status]:
    zone = planner_zones(planner)   # the event's times are written local to their stops

    def status_of(leg: Any) -> Status:
        key = key_of(leg)
        try:
            st = planner.leg_status(key)
        except LegNotFeasible:      # not in the active timetable (sold on an older version)
            st = Status(key.departure, key.arrival, False)
        return Status(local(st.departure, zone, key.from_stop), local(st.arrival, zone, key.to_stop),
                      st.cancelled)
    return status_of


def _extra(options: dict) -> int:
    return int((options.get("profile") or {}).get("extra_transfer_s") or 0)


def _judge(planner: Any, legs: Sequence[tuple[BookedLeg, dict]], options: dict,
           now: datetime) -> tuple[list[Disruption], Callable[[Any], Status]]:
    keys = {leg.leg_no: LegKey(**k) for leg, k in legs}
    status_of = _status_of(planner, lambda leg: keys[leg.leg_no])
    conn = connection_of(planner.config, options.get("min_transfer_s"), _extra(options))
    return disruptions([leg for leg, _ in legs], status_of, conn, now), status_of


async def judge_booking(conn: asyncpg.Connection, planner: Any, booking_id: str,
                        now: datetime) -> tuple[str, list[Disruption]]:
    """Check one booking (its row locked for this transaction); writes `disrupted` events for
    legs newly broken; a booking whose legs all work again has its refund offer withdrawn
    (`withdraw_offer`). ('ok' | 'disrupted' (new events) | 'known' (nothing new) | 'restored'
    (offer withdrawn) | 'not_confirmed', the broken legs)."""
    status, legs, options = await pstore.lock_booking(conn, booking_id)
    if status != "confirmed" or not legs or planner is None:
        return ("not_confirmed" if status != "confirmed" else "ok"), []
    found, _ = _judge(planner, legs, options, now)
    if not found:
        return ("restored" if await withdraw_offer(conn, booking_id, status, now) else "ok"), []
    known = await pstore.recorded_disruptions(conn, booking_id)
    new = [d for d in found if (d.leg_no, d.reason) not in known]
    for d in new:
        await pstore.add_event(conn, booking_id, "disrupted", status, d.leg_no, d.as_json(), now)
    return ("disrupted" if new else "known"), found


async def withdraw_offer(conn: asyncpg.Connection, booking_id: str, status: str,
                         now: datetime) -> bool:
    """A booking (row locked) whose legs all work again: if its protection is `rebook_failed`,
    the full-refund offer is withdrawn (state `restored`, event `restored`). The refund is the
    remedy for a connection the operator cannot provide; once the realtime state shows the
    journey as sold feasible again (the delay withdrawn, the train reinstated), the operator
    performs the contract as sold and the ordinary refund rules apply, as a rail operator
    judges the right to a fee-free refund by the delay expected when the passenger asks. A
    passenger who took the offer keeps it (those legs are cancelled); a later break offers it
    again. True when an offer was withdrawn."""
    prev = await pstore.protection_of(conn, booking_id) or {}
    if prev.get("state") != "rebook_failed":
        return False
    legs = list(prev.get("legs", ()))
    await pstore.add_event(conn, booking_id, "restored", status, min(legs, default=None), {
        "legs": legs, "refund_offer": "withdrawn",
        "withdrawn_refund_minor": prev.get("refund_minor")}, now)
    await pstore.set_protection(conn, booking_id, {"state": "restored", "at": now.isoformat(),
                                                   "legs": legs})
    return True


async def check_booking(conn: asyncpg.Connection, planner: Any, booking_id: str,
                        now: datetime) -> str:
    """`judge_booking`'s outcome."""
    return (await judge_booking(conn, planner, booking_id, now))[0]


def plan_journeys(planner: Any, plan: Replan) -> list[Any]:
    """The planner's itineraries from where the passenger will be (empty if it cannot plan:
    an unknown stop, a date out of the timetable)."""
    try:
        tz = ZoneInfo(planner.place_tz(plan.origin, {}))
        local = plan.at.astimezone(tz)
        q = Query(origin=plan.origin, destination=plan.destination, date=local.date(),
                  time_s=local.hour * 3600 + local.minute * 60 + local.second,
                  modes=plan.modes, wheelchair=plan.wheelchair, max_walk_m=plan.max_walk_m,
                  min_transfer_s=plan.min_transfer_s, limit=ALTERNATIVES, **dict(plan.profile))
        return [it for it in planner.plan(q) if it.key.legs]   # walk-only: nothing to book
    except RoutingError as exc:
        log.info("protection: no plan from %s to %s: %s", plan.origin, plan.destination, exc)
        return []


def _row_key(g: Any) -> LegKey:
    return LegKey(g["trip_id"], g["service_date"], g["board_pos"], g["alight_pos"],
                  g["from_stop"], g["to_stop"], g["departure"], g["arrival"])


def _new_legs(planner: Any, fares: Any, plan: Replan, kept: Sequence[Any],
              replaced: Sequence[Any], it: Any, categories: Sequence[str],
              change: Callable[[str, str], int]) -> tuple[list[store.NewLeg], int, int]:
    """The itinerary's legs as booked legs at no cost: (legs, their fare now, paid for the
    replaced legs). The fares count the kept legs for the linked discount."""
    net = planner.network
    resolved = resolve_legs(net, it.key.legs)
    units = [leg_unit_price(net, fares, g.span) for g in resolved]
    ops = [leg_operator(net, g.span) for g in resolved]
    quote = price_units(fares, [(g["unit_minor"], g["price_source"]) for g in kept] + units,
                        [g["agency_id"] for g in kept] + ops, categories)
    fare = [p.amount_minor for p in quote.legs[len(kept):]]
    paid = sum(g["price_minor"] for g in replaced)
    conns = sold_connections([BookedLeg(g.leg_no, g.departure, g.arrival, g.mode)
                              for g in resolved], lambda a, b: change(a.mode, b.mode))
    if plan.prev_mode is not None:
        gap = int((resolved[0].departure - plan.ready).total_seconds())
        conns[0] = max(0, min(change(plan.prev_mode, resolved[0].mode), gap))
    legs = [store.NewLeg.priced(g, u, src, price, c)
            for g, (u, src), price, c in zip(resolved, units, allocate(paid, fare), conns,
                                             strict=True)]
    return legs, sum(fare), paid


async def rebook_booking(app: web.Application, planner: Any, job_id: int, booking_id: str,
                         plans: Callable[[Any, Replan], Any]) -> str:
    """Rebook a disrupted booking (the job is 'rebooking'): under the booking's row lock, judge
    it again, plan from where the passenger will be, and swap the broken legs for the first
    alternative with seats (store.replace_legs; event `rebooked`), else record
    `rebook_failed` with the full refund offered. Finishes the job in the same transaction.
    'rebooked' | 'rebook_failed' | 'ok' (nothing broken any more) | 'restored' (nothing broken
    any more: a standing refund offer withdrawn) | 'not_confirmed'."""
    pool: asyncpg.Pool = app[DB]
    now = app[CLOCK].now
    svc = app[BOOKINGS]
    async with pool.acquire() as conn, conn.transaction():
        status, legs, options = await pstore.lock_booking(conn, booking_id)
        t = now()
        if status != "confirmed" or not legs or planner is None:
            outcome = "not_confirmed" if status != "confirmed" else "ok"
            await pstore.finish(conn, job_id, outcome, t)
            return outcome
        mts = options.get("min_transfer_s")
        found, _ = _judge(planner, legs, options, t)
        if not found:
            outcome = "restored" if await withdraw_offer(conn, booking_id, status, t) else "ok"
            await pstore.finish(conn, job_id, outcome, t)
            return outcome
        row, rows = await store.read_with_legs(conn, booking_id, None)
        confirmed = [g for g in rows if g["status"] == "confirmed"]
        first = min(d.leg_no for d in found)
        change = change_of(planner.config, mts, _extra(options))
        row_status = _status_of(planner, _row_key)
        plan = replan_for(confirmed, first, lambda g: row_status(g).arrival, options,
                          lead_of(planner.config, mts, _extra(options)), t)
        kept = [g for g in confirmed if g["leg_no"] < first]
        replaced = [g for g in confirmed if g["leg_no"] >= first]
        reason = "no_alternative"
        max_delay = timedelta(minutes=app[SETTINGS].protection.rebook_max_delay_min)
        zone = planner_zones(planner)
        for it in usable(plan, await plans(planner, plan), replaced, change, t, max_delay):
            try:
                new, fare, paid = _new_legs(planner, svc.config.fares, plan, kept, replaced, it,
                                            row["passenger_categories"], change)
            except (RoutingError, TicketingError):
                continue        # a leg the live network cannot price or resolve
            # times of stops local to them (as plan legs and `disrupted` events)
            detail = {"reasons": sorted({d.reason for d in found}), "from_stop": plan.origin,
                      "ready_at": local_iso(plan.ready, zone, plan.origin),
                      "old_arrival": local_iso(replaced[-1]["arrival"], zone, plan.destination),
                      "new_arrival": local_iso(new[-1].arrival, zone, new[-1].to_stop),
                      "fare_difference_minor": fare - paid, "charged_minor": 0}
            rep = store.Replacement(first, new, event="rebooked", detail=detail)

            async def decide(conn: Any, row: Any, legs: Any, t: datetime,
                             rep: store.Replacement = rep) -> store.Replacement:
                return rep
            try:
                async with conn.transaction():      # a savepoint: SeatsGone undoes only this try
                    view = await store.replace_legs(pool, booking_id, None, decide,
                                                    capacity=svc.config.capacity, now=now,
                                                    conn=conn)
            except SeatsGone:
                reason = "seats_gone"
                continue
            by = [g.leg_no for g in view.legs][-len(new):]
            await pstore.set_protection(conn, booking_id, {
                "state": "rebooked", "at": t.isoformat(), "legs": list(plan.replaced),
                "by": by})
            await pstore.finish(conn, job_id, "rebooked", t)
            return "rebooked"
        offered = list(plan.replaced)
        refund = full_refund(row, [store.leg_state(g) for g in rows], offered, FULL_REFUND, t,
                             only_offered=True).refund_minor
        prev = row["protection"] or {}
        if prev.get("state") != "rebook_failed" or prev.get("legs") != offered:
            await pstore.add_event(conn, booking_id, "rebook_failed", status, first, {
                "legs": offered, "reason": reason, "refund_minor": refund,
                "from_stop": plan.origin, "ready_at": local_iso(plan.ready, zone, plan.origin)}, t)
            await pstore.set_protection(conn, booking_id, {
                "state": "rebook_failed", "at": t.isoformat(), "legs": offered,
                "reason": reason, "refund_minor": refund})
        await pstore.finish(conn, job_id, "rebook_failed", t)
        return "rebook_failed"


async def enqueue(app: web.Application, feed: str, runs: Sequence[tuple[str, date]]) -> int:
    """Jobs for the confirmed bookings on `runs` (a stored realtime message); wakes this worker.
    How many bookings were named."""
    return len(await enqueue_jobs(app, feed, runs))


async def enqueue_jobs(app: web.Application, feed: str, runs: Sequence[tuple[str, date]]
                       ) -> list[int]:
    """`enqueue`, returning the ids of the jobs (`maas realtime delay --wait` waits for them)."""
    if not app[SETTINGS].protection.enabled or not runs:
        return []
    jobs = await pstore.enqueue_for_runs(app[DB], sorted(set(runs)),
                                         {"feed": feed, "trips": sorted({r[0] for r in runs})},
                                         app[CLOCK].now())
    if jobs and PROTECTOR in app:
        app[PROTECTOR].wake.set()
    return jobs


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
