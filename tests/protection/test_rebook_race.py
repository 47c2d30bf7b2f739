"""Rebooking is durable and single: two protectors rebooking one booking at the same moment
rebook it once (one writer per booking: its row lock), and a worker that died mid-rebook
leaves its job 'rebooking', which the next claim after the lease resumes.

The protector of the app under test is off (protection.enabled false: no job is made by a
push, none runs in the background); the tests drive `Protector`s themselves."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from tests.conftest import bearer
from tests.polling import eventually
from tests.protection.conftest import push
from tests.realtime.rt_messages import message, trip_update

from maas.appkeys import DB, LIVE
from maas.protection import Protector, judge_booking, rebook_booking
from ticketing import protection_store as pstore
from ticketing import store

RUN = [("line:T1", date(2026, 11, 23))]


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"protection": settings.protection.model_copy(
        update={"enabled": False})})


async def late_by_10_min(app, line, line_key):
    """T1 10 min late at B (U1 missed); returns once this worker's snapshot has it."""
    before = app[LIVE].current.realtime
    await push(line, line_key, message(trip_update("e1", "T1", delays=[(2, "B", 600)])))
    await eventually(lambda: app[LIVE].current.realtime is not before)


async def kinds(app, bid) -> list[str]:
    return [r["event"] for r in await app[DB].fetch(
        "SELECT event FROM booking_events WHERE booking_id = $1 ORDER BY id", bid)]


async def taken(app, clock, trip: str) -> int:
    key = (trip, date(2026, 11, 23), 0)
    return (await store.occupancy(app[DB], [key], clock.now()))[key]


async def test_two_protectors_rebooking_one_booking_at_once_rebook_it_once(
        app, line, line_key, book, clock):
    bid, _, _ = await book()
    await late_by_10_min(app, line, line_key)
    a, b = Protector(app), Protector(app)
    pa, pb = await a._planner_now(), await b._planner_now()
    got = await asyncio.gather(rebook_booking(app, pa, 0, bid, a.plans),
                               rebook_booking(app, pb, 0, bid, b.plans))
    assert sorted(got) == ["ok", "rebooked"]        # the second saw the swap under the lock
    assert (await kinds(app, bid)).count("rebooked") == 1
    legs = await app[DB].fetch("SELECT leg_no, status, trip_id FROM booking_legs "
                               "WHERE booking_id = $1 ORDER BY leg_no", bid)
    assert [(r["leg_no"], r["status"], r["trip_id"]) for r in legs] == [
        (0, "confirmed", "line:T1"), (1, "replaced", "line:U1"), (2, "confirmed", "line:U2")]
    assert [await taken(app, clock, t) for t in ("line:U1", "line:U2", "line:U3")] == [0, 1, 0]


async def test_a_crash_mid_rebook_is_resumed_after_the_lease(app, line, line_key, book, clock,
                                                             settings):
    bid, _, _ = await book()
    await late_by_10_min(app, line, line_key)
    pool, lease = app[DB], settings.protection.job_lease_s
    dead = Protector(app)
    planner = await dead._planner_now()
    await pstore.enqueue_for_runs(pool, RUN, {"feed": "line"}, clock.now())
    job = await pstore.claim(pool, clock.now(), lease)
    assert not job["rebook"]
    async with pool.acquire() as conn, conn.transaction():        # the check
        assert (await judge_booking(conn, planner, bid, clock.now()))[0] == "disrupted"
        await pstore.start_rebooking(conn, job["id"], clock.now())
    # an update meanwhile merges into the open job (no second job for the booking)
    assert await pstore.enqueue_for_runs(pool, RUN, {"feed": "line"}, clock.now()) == [job["id"]]
    assert await pstore.open_jobs(pool) == 1 and await pstore.open_jobs(pool, [job["id"]]) == 1
    # a worker claims the rebooking and dies before its swap commits
    took = await pstore.claim(pool, clock.now(), lease)
    assert (took["id"], took["rebook"]) == (job["id"], True)
    assert await pool.fetchval("SELECT state FROM protection_jobs WHERE id = $1",
                               job["id"]) == "rebooking"
    assert await pstore.claim(pool, clock.now(), lease) is None      # within the lease: left
    clock.advance(lease + 1)
    worker = Protector(app)
    assert await worker.run_one()
    row = await pool.fetchrow("SELECT state, attempts, outcome FROM protection_jobs WHERE id = $1",
                              job["id"])
    assert (row["state"], row["attempts"], row["outcome"]) == ("done", 3, "rebooked")
    assert not await worker.run_one() and await pstore.open_jobs(pool) == 0
    assert await kinds(app, bid) == ["hold", "confirm", "disrupted", "rebooked"]
    assert [await taken(app, clock, t) for t in ("line:U1", "line:U2")] == [0, 1]


async def test_checks_are_claimed_before_rebookings(app, line, book, clock, settings):
    first, _, _ = await book()
    pool, lease = app[DB], settings.protection.job_lease_s
    await pstore.enqueue_for_runs(pool, RUN, {"feed": "line"}, clock.now())
    job = await pstore.claim(pool, clock.now(), lease)
    await pstore.start_rebooking(pool, job["id"], clock.now())
    second, _, _ = await book()
    await pstore.enqueue_for_runs(pool, RUN, {"feed": "line"}, clock.now())
    nxt = await pstore.claim(pool, clock.now(), lease)
    assert (nxt["booking_id"], nxt["rebook"]) == (second, False)
    last = await pstore.claim(pool, clock.now(), lease)
    assert (last["booking_id"], last["rebook"]) == (first, True)
