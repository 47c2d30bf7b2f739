"""GET /v1/events wake-ups are sent only for accounts with an open stream (migration 0838,
maas/event_wakeups.py `Streams`): a worker's row per such account, written before the stream's
first read under the account's lock, which booking_events' trigger takes too, so no wake-up is
lost to a write racing the stream's opening; deleted when the account's last stream closes;
expired rows (a killed worker's) deleted by any worker's refresh."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from maas import event_streams_store as store
from maas.appkeys import DB
from maas.event_wakeups import CHANNEL, WAKEUPS, Streams
from tests.conftest import bearer
from tests.polling import eventually
from tests.protection.test_events_stream import read_events


@pytest.fixture
async def heard(settings, app):
    """The payloads of every maas_events notification from now on, in commit order."""
    got: list[str] = []
    conn = await asyncpg.connect(settings.database_url)
    await conn.add_listener(CHANNEL, lambda c, pid, ch, payload: got.append(payload))
    yield got
    await conn.close()


async def _account(db, bid: str) -> str:
    return await db.fetchval("SELECT account_id FROM bookings WHERE id = $1", bid)


async def test_a_cancel_notifies_only_while_its_account_has_a_stream_open(app, line, book, heard):
    db = app[DB]
    quiet, quiet_token, _ = await book()
    bid, token, _ = await book()
    later, _, _ = await book(token=token)
    r = await line.post(f"/v1/bookings/{quiet}/cancel", headers=bearer(quiet_token))
    assert r.status == 200                                  # nobody listens for this account
    async with line.get("/v1/events", headers=bearer(token)) as resp:
        await read_events(resp, 4)                          # its two bookings, held + confirmed
        mine = app[WAKEUPS].streams.listener
        assert await store.listening(db) == [(await _account(db, bid), mine)]
        r = await line.post(f"/v1/bookings/{later}/cancel", headers=bearer(token))
        assert r.status == 200
        (cancelled,) = await read_events(resp, 1)
        assert cancelled["event"] == "cancelled"
        await eventually(lambda: heard)
        # notifications arrive in commit order: the quiet account's cancel sent none
        assert heard == [await _account(db, later)]
    await eventually(_no_rows(db), message="the row is deleted once the stream closes")


def _no_rows(db):
    async def check() -> bool:
        return await store.listening(db) == []
    return check


async def test_registering_waits_for_a_write_in_flight_and_a_later_write_notifies(
        app, line, book, heard):
    db = app[DB]
    bid, _, _ = await book()
    account = await _account(db, bid)
    writer = await db.acquire()
    try:
        tx = writer.transaction()
        await tx.start()
        # an event written (its trigger has looked: nobody listened) but not yet committed
        await writer.execute("INSERT INTO booking_events (booking_id, event, from_status, "
                             "to_status, occurred_at) VALUES ($1, 'disrupted', 'confirmed', "
                             "'confirmed', now())", bid)
        opening = asyncio.ensure_future(store.open_stream(db, account, "worker-x", 60))

        async def waiting_for_the_lock() -> bool:
            return await db.fetchval("SELECT count(*) FROM pg_stat_activity "
                                     "WHERE wait_event = 'advisory' AND datname = "
                                     "current_database()") == 1
        await eventually(waiting_for_the_lock)
        assert not opening.done()              # a stream's first read cannot come before it
        await tx.commit()
        await opening                          # ... so that read sees the event above
    finally:
        await db.release(writer)
    assert heard == []
    await db.execute("INSERT INTO booking_events (booking_id, event, from_status, to_status, "
                     "occurred_at) VALUES ($1, 'disrupted', 'confirmed', 'confirmed', now())", bid)
    await eventually(lambda: heard == [account])


async def test_an_accounts_rows_follow_its_streams_in_order(app, line):
    db = app[DB]
    s = Streams(db, "worker-y")
    await s.opened("acc-1")
    await s.opened("acc-1")                     # a second stream of it: one row
    s.closed("acc-1")
    assert await store.listening(db) == [("acc-1", "worker-y")]
    s.closed("acc-1")
    await s.opened("acc-1")                     # reopened before the removal ran: kept
    await eventually(lambda: not s._ops)
    assert await store.listening(db) == [("acc-1", "worker-y")]
    s.closed("acc-1")
    await eventually(_no_rows(db))


async def test_expired_rows_of_a_killed_worker_are_deleted_by_a_refresh(app, line):
    db = app[DB]
    await store.refresh(db, "killed", ["acc-2"], -1)      # its last refresh, long ago
    await store.refresh(db, "alive", ["acc-3"], 60)
    assert await store.listening(db) == [("acc-3", "alive")]
