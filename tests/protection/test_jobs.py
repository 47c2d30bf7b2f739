"""The protection job queue: one open job per booking, two workers racing on one booking write
its event once, and a job a crashed worker left behind runs again after its lease."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from tests.conftest import bearer
from tests.polling import eventually
from tests.protection.conftest import push
from tests.realtime.rt_messages import message, trip_update

from maas.app import create_app
from maas.appkeys import DB, LIVE
from maas.protection import PROTECTOR
from ticketing import protection_store as pstore

RUN = [("line:T1", date(2026, 11, 23))]


async def disrupted(client, bid, token) -> list[dict]:
    r = await client.get(f"/v1/bookings/{bid}/events", headers=bearer(token))
    return [e for e in (await r.json())["items"] if e["event"] == "disrupted"]


async def test_two_updates_at_once_on_two_workers_disrupt_the_booking_once(
        app, line, line_key, book, aiohttp_client, settings, clock):
    bid, token, _ = await book()
    other = create_app(settings, clock=clock)
    other_client = await aiohttp_client(other)
    other[LIVE].current = app[LIVE].current
    cancel = message(trip_update("e1", "T1", canceled=True))
    late = message(trip_update("e1", "T1", delays=[(2, "B", 1200)]))
    await asyncio.gather(push(line, line_key, cancel), push(other_client, line_key, late),
                         push(line, line_key, cancel))

    async def idle():
        return await pstore.open_jobs(app[DB]) == 0
    await eventually(idle)
    evs = await disrupted(line, bid, token)
    # whichever update was stored last decides; each (leg, reason) is written once
    assert len({(e["leg_no"], e["detail"]["reason"]) for e in evs}) == len(evs) >= 1


async def test_one_open_job_per_booking_and_a_crashed_job_runs_again(app, line, book, clock, settings):
    bid, token, _ = await book()
    pool = app[DB]
    app[PROTECTOR].wake.clear()
    lease = settings.protection.job_lease_s
    async with pool.acquire() as conn, conn.transaction():     # (unseen by the protector meanwhile)
        jobs = await pstore.enqueue_for_runs(conn, RUN, {"feed": "line"}, clock.now())
        assert len(jobs) == 1      # a second update merges into the open job: the same id
        assert await pstore.enqueue_for_runs(conn, RUN, {"feed": "line"}, clock.now()) == jobs
        assert await conn.fetchval("SELECT count(*) FROM protection_jobs WHERE booking_id = $1", bid) == 1

    async def crashed_claim():
        # a worker claims the job and dies before finishing it
        return await pool.fetchrow("SELECT id, state, attempts FROM protection_jobs "
                                   "WHERE booking_id = $1 AND state <> 'pending'", bid)
    first = await eventually(crashed_claim)            # this worker's protector ran it...
    await eventually(lambda: idle(pool))
    row = await pool.fetchrow("SELECT state, attempts, outcome FROM protection_jobs WHERE id = $1", first["id"])
    assert (row["state"], row["attempts"], row["outcome"]) == ("done", 1, "ok")
    # ...now play the crash: put it back to 'running', claimed long ago
    await pool.execute("UPDATE protection_jobs SET state = 'running', claimed_at = $2, again = false "
                       "WHERE id = $1", first["id"], clock.now() - timedelta(seconds=lease + 1))
    app[PROTECTOR].wake.set()

    async def rerun():
        r = await pool.fetchrow("SELECT state, attempts FROM protection_jobs WHERE id = $1", first["id"])
        return r if r["state"] == "done" and r["attempts"] == 2 else None
    assert await eventually(rerun)
    # a running job within its lease is left alone
    await pool.execute("UPDATE protection_jobs SET state = 'running', claimed_at = $2 WHERE id = $1",
                       first["id"], clock.now())
    assert await pstore.claim(pool, clock.now(), lease) is None


async def idle(pool) -> bool:
    return await pstore.open_jobs(pool) == 0


async def test_a_job_that_errs_is_retried_then_left_failed(app, line, book, clock, settings):
    bid, _, _ = await book()
    lease = settings.protection.job_lease_s
    async with app[DB].acquire() as conn, conn.transaction():     # (unseen by the protector meanwhile)
        await pstore.enqueue_for_runs(conn, RUN, {"feed": "line"}, clock.now())
        job = await pstore.claim(conn, clock.now(), lease)
        assert (job["booking_id"], job["attempts"]) == (bid, 1)
        await pstore.finish(conn, job["id"], "error: X", clock.now(), retry=True)
        again = await pstore.claim(conn, clock.now(), lease)
        assert (again["id"], again["attempts"]) == (job["id"], 2)
        await pstore.finish(conn, job["id"], "error: X", clock.now(), failed=True, retry=True)
        assert await conn.fetchval("SELECT state FROM protection_jobs WHERE id = $1", job["id"]) == "failed"
        assert await pstore.claim(conn, clock.now(), lease) is None
