"""The gate's accepts in batches (ticketing/batcher.py, checkin_store.record_taps, migrations
0839, 0854) on real PostgreSQL: queueing while a batch is in flight, the cap, one item per booking
in a batch, the fallback to one statement per item when a batch fails, each item's outcome
what it would be alone; and concurrent validations through the API."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import pytest

from maas.api.checkin import CHECKIN
from maas.clock import FrozenClock
from ticketing import checkin_store as store
from ticketing.batcher import Batcher
from ticketing.checkin_errors import AlreadyUsed, CodeExpired
from tests.api.checkin_fixtures import T0, cancel_booking, cancel_leg, insert_booking
from tests.conftest import bearer
from tests.polling import eventually

NOW = T0 + timedelta(hours=1, minutes=35)   # bus (qdbus:1001) and rail (crh:QDN) both admit
RAIL, BUS = "crh:QDN", "qdbus:1001"
STEP = 1000


@pytest.fixture
def clock():
    return FrozenClock(NOW)


def tap(booking: str, leg: int = 1, step: int | None = STEP, station: str = RAIL) -> store.QrTap:
    return store.QrTap(booking, leg, "g-1", station, step, NOW)


async def bookings(db, make_account, n: int) -> list[str]:
    acc, _ = await make_account()
    return [await insert_booking(db, acc) for _ in range(n)]


class Gated:
    """run_batch / run_one over the real store, each batch held until `release` (so a test
    decides what is in flight), counting what each batch carried."""

    def __init__(self, db: asyncpg.Pool) -> None:
        self.db = db
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.batches: list[list[store.QrTap]] = []
        self.ones: list[store.QrTap] = []

    async def run_batch(self, taps):
        self.batches.append(list(taps))
        self.started.set()
        await self.release.wait()
        async with self.db.acquire() as conn:
            return await store.record_taps(conn, taps)

    async def run_one(self, t):
        self.ones.append(t)
        async with self.db.acquire() as conn:
            return await store.record_qr_tap(conn, t)

    def batcher(self, cap: int = 64) -> Batcher:
        return Batcher(self.run_batch, self.run_one, key=lambda t: t.booking,
                       order=lambda t: (t.booking, t.leg), cap=cap)

    async def in_flight(self, first: store.QrTap, cap: int = 64) -> tuple[Batcher, asyncio.Task]:
        """A batcher whose first item (`first`, alone) is in flight and held: its task."""
        b = self.batcher(cap)
        task = asyncio.create_task(b.submit(first))
        await self.started.wait()
        return b, task


async def settled(tasks) -> list:
    return await asyncio.gather(*tasks, return_exceptions=True)


async def until_queued(b: Batcher, n: int) -> None:
    """Until n submitters wait in `b`'s queue (each queues at its task's first step)."""
    await eventually(lambda: len(b._queue) >= n, message=f"{n} submitters queued")


async def taps_of(db, booking: str) -> list[int]:
    """The legs of `booking` entered, each tap's id a new uuid in its canonical text."""
    rows = await db.fetch("SELECT leg_no, tap_id FROM gate_taps WHERE booking_id = $1", booking)
    assert all(str(uuid.UUID(r["tap_id"])) == r["tap_id"] for r in rows)
    assert len({r["tap_id"] for r in rows}) == len(rows)
    return sorted(r["leg_no"] for r in rows)


async def test_first_item_goes_alone_then_the_queued_ones_as_one_batch(client, db, make_account):
    bids = await bookings(db, make_account, 6)
    g = Gated(db)
    b, first = await g.in_flight(tap(bids[0]))       # the first is in flight, alone
    items = [tap(x) for x in bids[1:]]
    rest = [asyncio.create_task(b.submit(t)) for t in items]
    await until_queued(b, len(rest))  # every submitter waits
    assert [len(x) for x in g.batches] == [1]
    g.release.set()
    got = await settled([first, *rest])
    assert [len(x) for x in g.batches] == [1, 5]
    assert [t.booking for t in g.batches[1]] == sorted(bids[1:])     # sorted: a stable lock order
    assert got[1:] == [True] * len(items)
    assert dict(b.sizes) == {1: 1, 5: 1}
    for bid in bids:
        assert len(await taps_of(db, bid)) == 1
    assert not b.busy


async def test_cap_splits_the_queue(client, db, make_account):
    bids = await bookings(db, make_account, 8)
    g = Gated(db)
    b, first = await g.in_flight(tap(bids[0]), cap=3)
    rest = [asyncio.create_task(b.submit(tap(x))) for x in bids[1:]]
    await until_queued(b, len(rest))  # every submitter waits
    g.release.set()
    got = await settled([first, *rest])
    assert [len(x) for x in g.batches] == [1, 3, 3, 1]
    assert got == [True] * 8
    assert await db.fetchval("SELECT count(*) FROM gate_taps WHERE booking_id = ANY ($1)", bids) == 8


async def test_two_items_of_one_booking_never_share_a_batch(client, db, make_account):
    a, other = await bookings(db, make_account, 2)
    g = Gated(db)
    b, first = await g.in_flight(tap(other, leg=0))
    same = [tap(a, leg=1), tap(a, leg=1), tap(other, leg=1, step=STEP + 1)]
    rest = [asyncio.create_task(b.submit(t)) for t in same]
    await until_queued(b, len(rest))  # every submitter waits
    g.release.set()
    got = await settled([first, *rest])
    # batch 2: a's first and other's (booking order); batch 3: a's second, which finds the leg entered
    assert [t.booking for t in g.batches[1]] == sorted([a, other])
    assert {id(t) for t in g.batches[1]} == {id(same[0]), id(same[2])}
    assert [id(t) for t in g.batches[2]] == [id(same[1])]
    assert got[0] is True and got[1] is True and got[3] is True
    assert isinstance(got[2], AlreadyUsed)
    assert await taps_of(db, a) == [1]


async def test_each_outcome_as_alone_in_one_batch(client, db, make_account):
    """Entered, leg already entered, booking cancelled, leg cancelled, a replayed step on
    another leg, no step (nothing burned): one batch, each what record_tap alone gives."""
    fresh, used, cancelled, leg_gone, replayed, stepless = await bookings(db, make_account, 6)
    async with db.acquire() as conn:
        await store.record_qr_tap(conn, tap(used))
        await store.record_qr_tap(conn, tap(replayed, leg=0))     # burns STEP for the booking
    await cancel_booking(db, cancelled)
    await cancel_leg(db, leg_gone, 1)
    items = [tap(fresh), tap(used), tap(cancelled), tap(leg_gone), tap(replayed, leg=1),
             tap(stepless, step=None)]
    async with db.acquire() as conn:
        got = await store.record_taps(conn, items)
    assert got[0] is True and got[5] is True
    assert isinstance(got[1], AlreadyUsed) and got[1].extra.get("leg") == 1
    assert got[2] is False and got[3] is False
    assert isinstance(got[4], CodeExpired)
    assert await taps_of(db, cancelled) == [] and await taps_of(db, leg_gone) == []
    assert await taps_of(db, replayed) == [0]
    assert await taps_of(db, fresh) == [1] and await taps_of(db, stepless) == [1]
    row = await db.fetchrow("SELECT gate_id, station, method, online, totp_step, burned_step,"
                            " tapped_at, recorded_at FROM gate_taps WHERE booking_id = $1", fresh)
    assert tuple(row) == ("g-1", RAIL, "qr", True, STEP, STEP, NOW, NOW)
    assert await db.fetchval("SELECT (totp_step, burned_step) IS NULL FROM gate_taps"
                             " WHERE booking_id = $1", stepless)
    # the same items again, each alone: what the batch said
    again = [tap(fresh), tap(used), tap(cancelled), tap(leg_gone), tap(replayed, leg=1)]
    for t, want in zip(again, ["used", "used", False, False, "expired"]):
        async with db.acquire() as conn:
            try:
                one = await store.record_qr_tap(conn, t)
            except AlreadyUsed:
                one = "used"
            except CodeExpired:
                one = "expired"
        assert one == want


async def test_one_booking_twice_in_one_array_is_one_after_the_other(client, db, make_account):
    (bid,) = await bookings(db, make_account, 1)
    items = [tap(bid, leg=1), tap(bid, leg=1), tap(bid, leg=0)]   # same step: burned by the first
    async with db.acquire() as conn:
        got = await store.record_taps(conn, items)
    assert got[0] is True
    assert isinstance(got[1], AlreadyUsed) and isinstance(got[2], CodeExpired)
    assert await taps_of(db, bid) == [1]


async def test_a_failing_batch_falls_back_to_one_statement_per_item(client, db, make_account):
    """A text PostgreSQL cannot store (a NUL byte) fails the whole batch's statement: each
    item then runs alone; only the bad one fails, the others are entered."""
    bids = await bookings(db, make_account, 4)
    g = Gated(db)
    b, first = await g.in_flight(tap(bids[0]))
    items = [tap(bids[1]), tap(bids[2], station="bad\x00station"), tap(bids[3])]
    rest = [asyncio.create_task(b.submit(t)) for t in items]
    await until_queued(b, len(rest))  # every submitter waits
    g.release.set()
    got = await settled([first, *rest])
    assert got[0] is True
    assert got[1] is True and got[3] is True
    assert isinstance(got[2], asyncpg.PostgresError)
    assert sorted(t.booking for t in g.ones) == sorted(t.booking for t in items)
    assert b.fallbacks == 3
    assert await taps_of(db, bids[2]) == []
    for bid in (bids[1], bids[3]):
        assert len(await taps_of(db, bid)) == 1


async def test_a_batch_of_one_failing_raises_its_own_error(client, db, make_account):
    (bid,) = await bookings(db, make_account, 1)
    g = Gated(db)
    g.release.set()
    b = g.batcher()
    with pytest.raises(asyncpg.PostgresError):
        await b.submit(tap(bid, station="bad\x00"))
    assert g.ones == [] and not b.busy
    assert await b.submit(tap(bid)) is True      # the batcher still works


async def test_a_cancelled_caller_is_not_sent(client, db, make_account):
    a, c = await bookings(db, make_account, 2)
    g = Gated(db)
    b, first = await g.in_flight(tap(a, leg=0))
    gone = asyncio.create_task(b.submit(tap(c)))
    kept = asyncio.create_task(b.submit(tap(a, leg=1, step=STEP + 1)))
    await until_queued(b, 2)  # every submitter waits
    gone.cancel()
    g.release.set()
    got = await settled([first, gone, kept])
    assert isinstance(got[1], asyncio.CancelledError)
    assert got[0] is True and got[2] is True
    assert await taps_of(db, c) == []


# --- through the API: one worker's concurrent validations ----------------------------------


async def token_qr(client, tok: str, bid: str) -> str:
    r = await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))
    assert r.status == 200, await r.text()
    return (await r.json())["qr"]


async def validate(client, key: str, gate: str, qr: str):
    r = await client.post(f"/v1/gates/{gate}/validate", json={"qr": qr}, headers=bearer(key))
    assert r.status == 200, await r.text()
    return await r.json()


async def test_concurrent_validations_of_one_ticket_accept_exactly_once(client, db, app, make_key,
                                                                         make_account):
    acc, tok = await make_account()
    bid = await insert_booking(db, acc)
    qr = await token_qr(client, tok, bid)
    keys = [(f"rail-{i}", await make_key("gate", gate=f"rail-{i}", station=RAIL)) for i in range(16)]
    got = await asyncio.gather(*(validate(client, k, g, qr) for g, k in keys))
    codes = sorted(d["code"] for d in got)
    assert codes == ["already_used"] * 15 + ["ok"]
    assert await db.fetchval("SELECT count(*) FROM gate_taps WHERE booking_id = $1", bid) == 1
    assert sum(app[CHECKIN].taps.sizes.values()) >= 1     # the accepts went through the batcher


async def test_concurrent_validations_of_different_tickets_all_accept(client, db, app, make_key,
                                                                      make_account):
    acc, tok = await make_account()
    bids = [await insert_booking(db, acc) for _ in range(20)]
    qrs = [await token_qr(client, tok, bid) for bid in bids]
    key = await make_key("gate", gate="rail-1", station=RAIL)
    got = await asyncio.gather(*(validate(client, key, "rail-1", qr) for qr in qrs))
    assert [(d["result"], d["booking"], d["leg"]) for d in got] == [("accept", b, 1) for b in bids]
    rows = await db.fetch("SELECT booking_id, leg_no FROM gate_taps WHERE booking_id = ANY ($1)", bids)
    assert sorted((r["booking_id"], r["leg_no"]) for r in rows) == sorted((b, 1) for b in bids)
    again = await asyncio.gather(*(validate(client, key, "rail-1", qr) for qr in qrs))
    assert {d["code"] for d in again} == {"already_used"}
    sizes = app[CHECKIN].taps.sizes
    assert sum(n * k for n, k in sizes.items()) == 40       # every accept and replay: one item


async def test_a_cancelled_ticket_among_concurrent_ones_is_refused_alone(client, db, make_key,
                                                                        make_account):
    acc, tok = await make_account()
    bids = [await insert_booking(db, acc) for _ in range(6)]
    qrs = [await token_qr(client, tok, bid) for bid in bids]
    await cancel_booking(db, bids[2])
    key = await make_key("gate", gate="rail-1", station=RAIL)
    got = await asyncio.gather(*(validate(client, key, "rail-1", qr) for qr in qrs))
    assert [d["code"] for d in got] == ["ok", "ok", "cancelled", "ok", "ok", "ok"]
    assert await db.fetchval("SELECT count(*) FROM gate_taps WHERE booking_id = $1", bids[2]) == 0


# --- the token's read in batches ----------------------------------------------------------


async def test_token_sources_answer_each_ask_as_alone(client, db, app, make_account):
    """First tokens (a secret stored), a booking with its secret already, another account's
    booking, a cancelled one, an unknown id and one booking asked twice in one array: one
    statement, each what token_source alone gives."""
    acc, _ = await make_account()
    other, _ = await make_account()
    keys = app[CHECKIN].data_keys
    fresh, known, foreign, cancelled, twice = [await insert_booking(db, acc) for _ in range(5)]
    await cancel_booking(db, cancelled)
    async with db.acquire() as conn:
        await store.create_secret(conn, known, keys, NOW)
    news = {b: store.new_sealed_secret(keys, b, NOW) for b in (fresh, known, foreign, cancelled)}
    twice_a, twice_b = (store.new_sealed_secret(keys, twice, NOW) for _ in range(2))
    asks = [store.TokenAsk(fresh, acc, news[fresh]), store.TokenAsk(known, acc, news[known]),
            store.TokenAsk(foreign, other, news[foreign]),
            store.TokenAsk(cancelled, acc, news[cancelled]), store.TokenAsk("bk_nope", acc, None),
            store.TokenAsk(twice, acc, twice_a), store.TokenAsk(twice, acc, twice_b),
            store.TokenAsk(known, acc, None)]
    async with db.acquire() as conn:
        got = await store.token_sources(conn, asks)
    assert got[0].created and got[0].sealed_secret == news[fresh].sealed and len(got[0].legs) == 3
    assert not got[1].created and got[1].sealed_secret not in (None, news[known].sealed)
    assert not got[2].created and got[2].account_id == acc and got[2].sealed_secret is None
    assert not got[3].created and got[3].status == "cancelled" and got[3].legs == ()
    assert got[4] is None
    assert got[5].created and got[5].sealed_secret == twice_a.sealed
    assert not got[6].created and got[6].sealed_secret is None     # read before the first's insert
    assert got[7] == got[1]
    stored = dict(await db.fetch("SELECT booking_id, sealed_secret FROM booking_secrets"))
    assert stored == {fresh: news[fresh].sealed, known: got[1].sealed_secret, twice: twice_a.sealed}
    # each alone, now: the state the batch left
    async with db.acquire() as conn:
        for a, want in zip(asks[:5], got[:5]):
            alone = await store.token_source(conn, a.booking, a.account, None)
            assert (alone is None) == (want is None)
            if alone is not None:
                assert (alone.account_id, alone.status, alone.legs) == (want.account_id, want.status, want.legs)


async def test_concurrent_first_tokens_share_statements(client, db, app, make_account):
    acc, tok = await make_account()
    bids = [await insert_booking(db, acc) for _ in range(12)]
    qrs = await asyncio.gather(*(token_qr(client, tok, b) for b in bids + bids))
    assert len(set(qrs[:12])) == 12
    assert await db.fetchval("SELECT count(*) FROM booking_secrets WHERE booking_id = ANY ($1)",
                             bids) == 12
    sources = app[CHECKIN].sources
    assert sum(n * k for n, k in sources.sizes.items()) == 24
    # every token of a booking carries one secret: the codes of both fetches agree
    for b, q1, q2 in zip(bids, qrs[:12], qrs[12:]):
        assert q1 == q2, b


async def test_a_batcher_cancelled_mid_batch_leaves_no_caller_waiting(client, db, make_account):
    a, b2, c = await bookings(db, make_account, 3)
    g = Gated(db)
    b, first = await g.in_flight(tap(a))
    queued = [asyncio.create_task(b.submit(tap(x))) for x in (b2, c)]
    await until_queued(b, len(queued))  # every submitter waits
    b._task.cancel()                                  # a worker shutting down
    got = await settled([first, *queued])
    assert all(isinstance(x, asyncio.CancelledError) for x in got)
    assert not b.busy
    g.release.set()
    assert await b.submit(tap(c)) is True             # a later submit starts afresh
