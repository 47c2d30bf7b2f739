"""Bookings on real PostgreSQL: hold, sold out, segments, expiry, confirm, cancel, sweeper.

Scenarios on the sample network (ticketing/sample.py): city bus K5 (B1..B5) and rail G
(R1 Jinan West, R2 Zibo, R3 Weifang, R4 Qingdao), one trip run on 2026-12-01.
"""

from __future__ import annotations

import asyncio
import os
from datetime import date, datetime, timedelta, timezone

import pytest

from maas import auth
from maas.clock import FrozenClock
from maas.db import create_pool
from ticketing import store
from ticketing.bookings import RefundPolicy, RefundRule
from ticketing.errors import (
    BookingCancelled, BookingNotFound, HoldExpired, InvalidTransition, ItineraryInvalid,
    ItineraryStale, InvalidPassenger, SoldOut,
)
from ticketing.fares import FareConfig, Tariff
from ticketing.inventory import CapacityConfig
from ticketing.pii import Keyring, pii_aad
from ticketing.sample import leg_key, sample_network
from ticketing.service import BookingConfig, Bookings, PassengerInput
from tests.polling import eventually

NET = sample_network()
LIVE = dict(zip(NET.feeds, NET.feed_versions))
DAY = date(2026, 12, 1)
T0 = datetime(2026, 11, 28, 8, tzinfo=timezone.utc)   # > 24 h before every trip
ID1, ID2 = "11010519491231002X", "440524188001010014"
CHILD = "110105201801010019"
CONFIG = BookingConfig(
    fares=FareConfig(mode_tariffs={"bus": Tariff(0.1, 2.0, 1.0), "rail": Tariff(0.45, 10.0)},
                     concessions={"child": 0.5}, linked_discount=0.05),
    refunds=RefundPolicy(default=RefundRule(full_until_h=24, before_departure=0.8)),
    capacity=CapacityConfig(by_mode={"bus": 80, "rail": 600}),
    hold_ttl=timedelta(minutes=15),
)


class Env:
    def __init__(self, pool, clock: FrozenClock, svc: Bookings, account: str) -> None:
        self.pool, self.clock, self.svc, self.account = pool, clock, svc, account

    def key(self, *legs):
        from routing.itinerary import ItineraryKey
        return ItineraryKey(tuple(LIVE.items()), tuple(legs))

    async def hold(self, *legs, pax: int = 1, account: str | None = None, cats=None):
        cats = cats or ["adult"] * pax   # a child travels on a child's ID (born 2018)
        people = [PassengerInput("张三", CHILD if cats[i] == "child" else ID1 if i % 2 == 0
                                 else ID2, cats[i]) for i in range(pax)]
        return await self.svc.hold(account or self.account, "itin", self.key(*legs), NET, LIVE,
                                   people)

    async def seats(self, trip: str, seg: int) -> int:
        taken = await store.occupancy(self.pool, [(trip, DAY, seg)], self.clock.now())
        return taken[(trip, DAY, seg)]


@pytest.fixture
async def env(database_url):
    pool = await create_pool(database_url, min_size=2, max_size=20)
    clock = FrozenClock(T0)
    account, _ = await auth.create_account(pool)
    svc = Bookings(pool, CONFIG, Keyring({"k1": os.urandom(32)}, "k1"), clock.now)
    try:
        yield Env(pool, clock, svc, account)
    finally:
        await pool.close()


BUS = leg_key(NET, "bus:K5-0700", DAY, 0, 4)      # B1 -> B5 Jinan West
RAIL = leg_key(NET, "rail:G-0800", DAY, 0, 3)     # Jinan West -> Qingdao


async def set_seats(env: Env, trip: str, seats: int) -> None:
    await store.set_capacity(env.pool, trip.split(":")[0], "trip", trip, seats, None)


async def test_hold_two_legs_two_operators(env):
    b = await env.hold(BUS, RAIL, pax=2, cats=["adult", "child"])
    assert b.status == "held" and b.expires_at == T0 + timedelta(minutes=15)
    assert [(g.leg_no, g.agency_id, g.status) for g in b.legs] == [
        (0, "bus:JNBUS", "held"), (1, "rail:CR", "held")]
    assert b.legs[1].price_minor == round(11850 * 0.95) + round(11850 * 0.5 * 0.95)
    assert b.total_minor == sum(g.price_minor for g in b.legs)
    assert [(p.name_masked, p.id_masked) for p in b.passengers] == [
        ("张*", "110*************2X"), ("张*", "110*************19")]
    assert await env.seats("rail:G-0800", 2) == 2 and await env.seats("bus:K5-0700", 3) == 2
    # at rest: ciphertext only, readable with the key and this row's AAD
    row = await env.pool.fetchrow("SELECT * FROM booking_passengers WHERE booking_id = $1 "
                                  "AND passenger_no = 0", b.id)
    assert ID1.encode() not in row["id_number_ct"] and "张三".encode() not in row["name_ct"]
    assert env.svc.keyring.decrypt(row["key_id"], row["id_number_ct"],
                                   pii_aad(b.id, 0, "id_number")) == ID1
    events = await env.pool.fetch("SELECT event, to_status FROM booking_events WHERE booking_id=$1",
                                  b.id)
    assert [tuple(e) for e in events] == [("hold", "held")]


async def test_sold_out_leg_is_named_and_nothing_is_held(env):
    await set_seats(env, "rail:G-0800", 3)
    await env.hold(BUS, RAIL, pax=2)
    with pytest.raises(SoldOut) as err:
        await env.hold(BUS, RAIL, pax=2)
    assert err.value.extra["leg"] == 1 and err.value.status == 409
    assert await env.seats("bus:K5-0700", 0) == 2          # the bus leg was not kept
    assert await env.pool.fetchval("SELECT count(*) FROM bookings") == 1
    assert (await env.hold(RAIL, pax=1)).status == "held"   # the last seat is still there


async def test_overlapping_segments_share_seats(env):
    await set_seats(env, "rail:G-0800", 1)
    seg = lambda b, a: leg_key(NET, "rail:G-0800", DAY, b, a)  # noqa: E731
    await env.hold(seg(0, 1))                     # Jinan West -> Zibo
    await env.hold(seg(1, 3))                     # Zibo -> Qingdao: the seat is free again
    for b, a in ((0, 1), (0, 2), (2, 3), (1, 2), (0, 3)):
        with pytest.raises(SoldOut):
            await env.hold(seg(b, a))
    other_day = leg_key(NET, "rail:G-0800", date(2026, 12, 2), 0, 3)
    assert (await env.hold(other_day)).status == "held"   # per service date


async def test_expired_hold_frees_seats_without_the_sweeper_and_cannot_confirm(env):
    await set_seats(env, "rail:G-0800", 1)
    first = await env.hold(RAIL)
    with pytest.raises(SoldOut):
        await env.hold(RAIL)
    env.clock.advance(minutes=15)                  # exactly at expires_at: expired
    assert (await env.svc.get(env.account, first.id)).status == "expired"
    second = await env.hold(RAIL)                  # sweeper never ran
    with pytest.raises(HoldExpired) as err:
        await env.svc.confirm(env.account, first.id, "pay-1")
    assert err.value.status == 409
    rows = await env.pool.fetch("SELECT event FROM booking_events WHERE booking_id=$1 ORDER BY id",
                                first.id)
    assert [r["event"] for r in rows] == ["hold", "expire"]
    assert (await env.svc.confirm(env.account, second.id, "pay-2")).status == "confirmed"


async def test_confirm_issues_one_ticket_per_leg_per_passenger(env):
    b = await env.hold(BUS, RAIL, pax=3)
    c = await env.svc.confirm(env.account, b.id, "alipay-123")
    assert c.status == "confirmed" and c.payment_ref == "alipay-123" and c.paid_minor == b.total_minor
    assert sorted((t.leg_no, t.passenger_no) for t in c.tickets) == [
        (leg, p) for leg in range(2) for p in range(3)]
    assert len({t.id for t in c.tickets}) == 6
    assert {g.status for g in c.legs} == {"confirmed"}
    with pytest.raises(InvalidTransition):
        await env.svc.confirm(env.account, b.id, "again")
    env.clock.advance(hours=1)                     # a confirmed booking never expires
    assert (await env.svc.get(env.account, b.id)).status == "confirmed"
    assert await env.svc.sweep() == 0


async def test_cancel_refunds_and_returns_seats(env):
    await set_seats(env, "rail:G-0800", 2)
    b = await env.hold(RAIL, pax=2)
    await env.svc.confirm(env.account, b.id, "p")
    env.clock.set(RAIL.departure - timedelta(hours=2))     # < 24 h: 80 %
    view, out = await env.svc.cancel(env.account, b.id)
    assert view.status == "cancelled" and out.refund_minor == round(b.total_minor * 0.8)
    assert view.refund_minor == out.refund_minor and {t.status for t in view.tickets} == {"cancelled"}
    assert await env.seats("rail:G-0800", 0) == 0
    assert (await env.hold(RAIL, pax=2)).status == "held"
    with pytest.raises(BookingCancelled):
        await env.svc.confirm(env.account, b.id, "p")
    with pytest.raises(BookingCancelled):
        await env.svc.cancel(env.account, b.id)


async def test_cancel_one_leg_reprices_the_rest(env):
    b = await env.hold(BUS, RAIL)
    await env.svc.confirm(env.account, b.id, "p")
    bus_paid, rail_paid = b.legs[0].price_minor, b.legs[1].price_minor
    view, out = await env.svc.cancel(env.account, b.id, leg_no=1)   # > 24 h before: full rule
    assert view.status == "confirmed"
    assert [g.status for g in view.legs] == ["confirmed", "cancelled"]
    bus_alone = view.legs[0].price_minor
    assert bus_alone > bus_paid                       # the linked discount is gone
    assert view.total_minor == bus_alone
    assert out.refund_minor == bus_paid + rail_paid - bus_alone == view.legs[1].refund_minor
    assert await env.seats("rail:G-0800", 0) == 0 and await env.seats("bus:K5-0700", 0) == 1
    issued = [t for t in view.tickets if t.status == "issued"]
    assert [t.leg_no for t in issued] == [0]
    view2, _ = await env.svc.cancel(env.account, b.id, leg_no=0)
    assert view2.status == "cancelled"


async def test_sweeper_writes_expiry_once(env):
    b1 = await env.hold(RAIL)
    env.clock.advance(minutes=5)
    b2 = await env.hold(RAIL)
    env.clock.advance(minutes=11)
    assert await env.svc.sweep() == 1
    assert await env.svc.sweep() == 0
    assert (await env.pool.fetchval("SELECT status FROM bookings WHERE id=$1", b1.id)) == "expired"
    assert (await env.pool.fetchval("SELECT status FROM bookings WHERE id=$1", b2.id)) == "held"


async def test_stale_and_invalid_itineraries(env):
    from routing.itinerary import ItineraryKey
    stale = ItineraryKey((("bus", "bus-v0"), ("rail", "rail-v1")), (RAIL,))
    with pytest.raises(ItineraryStale) as err:
        await env.svc.hold(env.account, "x", stale, NET, LIVE, [PassengerInput("A", ID1)])
    assert err.value.status == 410 and err.value.extra["feeds"] == ["bus"]
    wrong = leg_key(NET, "rail:G-0800", DAY, 0, 3).__class__(
        "rail:G-0800", DAY, 0, 2, "rail:R1", "rail:R4", RAIL.departure, RAIL.arrival)
    with pytest.raises(ItineraryInvalid):
        await env.hold(wrong)
    with pytest.raises(ItineraryInvalid):
        await env.hold(leg_key(NET, "rail:G-0800", date(2028, 1, 1), 0, 3))   # not running
    env.clock.set(BUS.departure)
    with pytest.raises(ItineraryInvalid) as gone:
        await env.hold(BUS, RAIL)                  # the bus leaves now: too late for it
    assert gone.value.extra["leg"] == 0
    assert (await env.hold(RAIL)).status == "held"   # the rail leg alone is still bookable
    await env.pool.execute("DELETE FROM bookings")
    env.clock.set(T0)
    with pytest.raises(InvalidPassenger) as perr:
        await env.svc.hold(env.account, "x", env.key(RAIL), NET, LIVE,
                           [PassengerInput("A", ID1), PassengerInput("B", "123")])
    assert perr.value.extra["field"] == "passengers[1].id_number"
    assert await env.pool.fetchval("SELECT count(*) FROM bookings") == 0


async def test_only_the_owner_sees_a_booking_and_lists_are_newest_first(env):
    other, _ = await auth.create_account(env.pool)
    ids = []
    for _ in range(5):
        ids.append((await env.hold(RAIL)).id)
        env.clock.advance(seconds=1)
    await env.hold(RAIL, account=other)
    with pytest.raises(BookingNotFound):
        await env.svc.get(other, ids[0])
    with pytest.raises(BookingNotFound):
        await env.svc.confirm(other, ids[0], "p")
    with pytest.raises(BookingNotFound):
        await env.svc.cancel(other, ids[0])
    page1 = await env.svc.list(env.account, 3)
    page2 = await env.svc.list(env.account, 3, (page1[-1].created_at, page1[-1].id))
    assert [b.id for b in page1 + page2] == ids[::-1]


async def test_key_rotation_moves_ciphertexts(env):
    b = await env.hold(RAIL, pax=2)
    new = Keyring({"k1": env.svc.keyring.keys["k1"], "k2": os.urandom(32)}, "k2")
    env.svc.keyring = new
    assert await env.svc.rotate_keys() == 2
    rows = await env.pool.fetch("SELECT * FROM booking_passengers WHERE booking_id=$1", b.id)
    assert {r["key_id"] for r in rows} == {"k2"}
    assert new.decrypt("k2", rows[0]["name_ct"], pii_aad(b.id, rows[0]["passenger_no"], "name")) \
        == "张三"


# --- concurrency ---------------------------------------------------------------------------

async def test_200_concurrent_holds_for_the_last_5_seats(env):
    await set_seats(env, "rail:G-0800", 10)
    for _ in range(5):
        await env.hold(RAIL)                     # 5 of 10 sold: 5 left
    accounts = [(await auth.create_account(env.pool))[0] for _ in range(20)]
    results = await asyncio.gather(
        *(env.hold(RAIL, account=accounts[i % 20]) for i in range(200)), return_exceptions=True)
    won = [r for r in results if isinstance(r, store.BookingView)]
    lost = [r for r in results if isinstance(r, SoldOut)]
    assert len(won) == 5 and len(lost) == 195
    assert await env.seats("rail:G-0800", 1) == 10
    assert await env.pool.fetchval("SELECT count(*) FROM bookings") == 10


async def test_concurrent_holds_on_crossing_trips_never_deadlock(env):
    # Bookings take the two trips' segments in opposite journey order; locks are ordered.
    await set_seats(env, "rail:G-0800", 30)
    await set_seats(env, "bus:K5-0700", 30)
    back = leg_key(NET, "bus:K5-0700", DAY, 1, 4)
    jobs = [env.hold(BUS, RAIL) if i % 2 else env.hold(RAIL, back) for i in range(60)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    won = [r for r in results if isinstance(r, store.BookingView)]
    assert len(won) == 30
    assert all(isinstance(r, (store.BookingView, SoldOut)) for r in results)
    assert [await env.seats("rail:G-0800", s) for s in range(3)] == [30, 30, 30]
    for b in won:          # what a hold answered is what a read returns
        assert await env.svc.get(env.account, b.id) == b
    holds = env.svc.batches.holds       # a worker's concurrent holds shared statements
    assert sum(n * k for n, k in holds.sizes.items() if n > 1) >= 2 and holds.fallbacks == 0


async def test_concurrent_confirm_and_cancel_one_wins_consistently(env):
    outcomes = set()
    for _ in range(12):
        b = await env.hold(BUS, RAIL, pax=2)
        conf, canc = await asyncio.gather(
            env.svc.confirm(env.account, b.id, "p"), env.svc.cancel(env.account, b.id),
            return_exceptions=True)
        assert not isinstance(canc, Exception)    # cancel is allowed from held and confirmed
        view = await env.svc.get(env.account, b.id)
        assert view.status == "cancelled" and {g.status for g in view.legs} == {"cancelled"}
        if isinstance(conf, Exception):           # cancel first: confirm refused, no tickets
            assert isinstance(conf, BookingCancelled) and view.tickets == () and view.paid_minor == 0
            outcomes.add("cancel first")
        else:                                     # confirm first: tickets issued then cancelled
            assert len(view.tickets) == 4 and {t.status for t in view.tickets} == {"cancelled"}
            assert view.refund_minor == view.paid_minor
            outcomes.add("confirm first")
        events = await env.pool.fetch("SELECT event FROM booking_events WHERE booking_id=$1 "
                                      "ORDER BY id", b.id)
        assert [e["event"] for e in events] in (["hold", "cancel"], ["hold", "confirm", "cancel"])
    assert outcomes  # at least one ordering observed; both are checked when they occur


async def _until_waiting_for_a_lock(pool) -> None:
    await eventually(lambda: pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database()"), message="the second writer waits for the booking's lock")


async def test_a_writer_that_waited_for_the_booking_sees_what_the_other_committed(env):
    """confirm and cancel read the legs in the statement that locks the booking: after
    waiting for another writer they must act on (and answer with) that writer's legs and
    tickets, not on what the statement's snapshot held before the wait."""
    b = await env.hold(BUS, RAIL, pax=2)
    async with env.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await store.cancel(env.pool, b.id, env.account, 1, fares=CONFIG.fares,
                           refunds=CONFIG.refunds, now=env.clock.now, conn=conn)
        confirming = asyncio.create_task(env.svc.confirm(env.account, b.id, "p"))
        await _until_waiting_for_a_lock(env.pool)
        await tx.commit()
    view = await confirming
    assert [g.status for g in view.legs] == ["confirmed", "cancelled"]
    assert {t.leg_no for t in view.tickets} == {0} and len(view.tickets) == 2
    assert view == await env.svc.get(env.account, b.id)

    b = await env.hold(BUS, RAIL, pax=2)
    async with env.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await store.confirm(env.pool, b.id, env.account, "p", now=env.clock.now, conn=conn)
        cancelling = asyncio.create_task(env.svc.cancel(env.account, b.id))
        await _until_waiting_for_a_lock(env.pool)
        await tx.commit()
    view, out = await cancelling
    assert view.status == "cancelled" and out.refund_minor == view.paid_minor > 0
    assert len(view.tickets) == 4 and {t.status for t in view.tickets} == {"cancelled"}
    assert view == await env.svc.get(env.account, b.id)


async def test_refunds_never_exceed_what_was_paid(env):
    """Cancelling the cheap leg of a linked booking leaves the other at its full price, more
    than was paid for it; cancelling that one too refunds what was paid, not more."""
    b = await env.hold(BUS, RAIL)                     # two operators: the linked discount
    paid = (await env.svc.confirm(env.account, b.id, "p")).paid_minor
    view, out = await env.svc.cancel(env.account, b.id, 0)
    assert out.refund_minor == 0 and view.total_minor > paid      # the rail leg alone costs more
    view, out = await env.svc.cancel(env.account, b.id, 1)        # > 24 h ahead: a full refund
    assert view.status == "cancelled" and view.refund_minor == out.refund_minor == paid
    assert sum(g.refund_minor for g in view.legs) == paid


async def _advisory_segment_locks(conn) -> set[int]:
    rows = await conn.fetch("SELECT objid FROM pg_locks WHERE locktype = 'advisory' "
                            "AND classid = 1651 AND objsubid = 2 AND pid = pg_backend_pid()")
    return {int(r["objid"]) for r in rows}


@pytest.mark.parametrize("stored", [True, False])
async def test_confirm_takes_the_segment_locks_of_its_held_legs(env, stored):
    """The hold stores each leg's segment lock keys (lock_ids) and confirm's locking read takes
    them; held legs without them (written before they were stored) are locked by the caller.
    Either way confirm holds every segment lock of the legs it confirms, before its clock."""
    b = await env.hold(BUS, RAIL, pax=2)
    keys = [("bus:K5-0700", DAY, s) for s in range(4)] + [("rail:G-0800", DAY, s) for s in range(3)]
    want = {store._lock_id(k) & 0xFFFFFFFF for k in keys}
    legs = await env.pool.fetch("SELECT lock_ids FROM booking_legs WHERE booking_id = $1 "
                                "ORDER BY leg_no", b.id)
    assert {k & 0xFFFFFFFF for g in legs for k in g["lock_ids"]} == want
    if not stored:
        await env.pool.execute("UPDATE booking_legs SET lock_ids = NULL WHERE booking_id = $1",
                               b.id)
    async with env.pool.acquire() as conn, conn.transaction():
        assert await _advisory_segment_locks(conn) == set()
        view = await store.confirm(env.pool, b.id, env.account, "p", now=env.clock.now, conn=conn)
        assert view.status == "confirmed"
        assert await _advisory_segment_locks(conn) == want


async def test_a_used_idempotency_key_replays_and_writes_nothing_more(env):
    """With an Idempotency-Key the response is stored with the writes; the same key again
    raises Replayed with it (hold, confirm, cancel), and nothing else is written."""
    rendered: list[bytes] = []

    def key(name: str, status: int = 200) -> store.Idempotent:
        def render(v: store.BookingView) -> bytes:
            rendered.append(f"{v.id} {v.status}".encode())
            return rendered[-1]
        return store.Idempotent("account:" + env.account, name, b"h" * 32, render, status)

    people = [PassengerInput("张三", ID1)]
    b = await env.svc.hold(env.account, "itin", env.key(RAIL), NET, LIVE, people,
                           idempotent=key("k-hold", 201))
    with pytest.raises(store.Replayed) as again:
        await env.svc.hold(env.account, "itin", env.key(RAIL), NET, LIVE, people,
                           idempotent=key("k-hold", 201))
    assert (again.value.row["status"], bytes(again.value.row["body"])) == (201, f"{b.id} held".encode())
    c = await env.svc.confirm(env.account, b.id, "p", idempotent=key("k-confirm"))
    with pytest.raises(store.Replayed) as again:
        await env.svc.confirm(env.account, b.id, "p", idempotent=key("k-confirm"))
    assert bytes(again.value.row["body"]) == f"{c.id} confirmed".encode()
    view, _ = await env.svc.cancel(env.account, b.id, idempotent=key("k-cancel"))
    with pytest.raises(store.Replayed) as again:
        await env.svc.cancel(env.account, b.id, idempotent=key("k-cancel"))
    assert bytes(again.value.row["body"]) == f"{view.id} cancelled".encode()
    # a used key replays even where the request itself would now fail (departed)
    env.clock.set(RAIL.departure + timedelta(minutes=1))
    with pytest.raises(store.Replayed):
        await env.svc.hold(env.account, "itin", env.key(RAIL), NET, LIVE, people,
                           idempotent=key("k-hold", 201))
    assert await env.pool.fetchval("SELECT count(*) FROM bookings") == 1
    events = await env.pool.fetch("SELECT event FROM booking_events ORDER BY id")
    assert [e["event"] for e in events] == ["hold", "confirm", "cancel"]
    assert await env.pool.fetchval("SELECT count(*) FROM idempotency_keys") == 3


async def test_concurrent_cancels_write_once_and_duplicates_replay(env):
    """Cancel reads without a lock and writes only if the booking is still the version it
    read (else cancels the locking way): of concurrent cancels one writes, the others see
    it cancelled; duplicates of one Idempotency-Key all answer with the one stored response."""
    b = await env.hold(BUS, RAIL, pax=2)
    paid = (await env.svc.confirm(env.account, b.id, "p")).paid_minor
    results = await asyncio.gather(*(env.svc.cancel(env.account, b.id) for _ in range(6)),
                                   return_exceptions=True)
    won = [r for r in results if not isinstance(r, Exception)]
    assert len(won) == 1 and all(isinstance(r, BookingCancelled) for r in results
                                 if isinstance(r, Exception))
    view = await env.svc.get(env.account, b.id)
    assert view == won[0][0] and view.refund_minor == won[0][1].refund_minor == paid
    events = await env.pool.fetch("SELECT event FROM booking_events WHERE booking_id = $1", b.id)
    assert [e["event"] for e in events] == ["hold", "confirm", "cancel"]

    b = await env.hold(BUS, RAIL, pax=2)
    await env.svc.confirm(env.account, b.id, "p")
    key = store.Idempotent("account:" + env.account, "k-dup", b"h" * 32,
                           lambda v: f"{v.id} {v.status} {v.refund_minor}".encode())
    results = await asyncio.gather(*(env.svc.cancel(env.account, b.id, idempotent=key)
                                     for _ in range(6)), return_exceptions=True)
    won = [r for r in results if not isinstance(r, Exception)]
    assert len(won) == 1
    body = f"{b.id} cancelled {won[0][0].refund_minor}".encode()
    assert all(isinstance(r, store.Replayed) and bytes(r.row["body"]) == body
               for r in results if isinstance(r, Exception))
    assert await env.pool.fetchval("SELECT count(*) FROM booking_events WHERE booking_id = $1 "
                                   "AND event = 'cancel'", b.id) == 1


async def test_cancel_writes_nothing_over_a_booking_changed_since_its_read(env):
    """The two-round-trip cancel's write (maas_cancel_write) is refused when the booking row
    is no longer the version read; the cancel then acts on what is there now."""
    b = await env.hold(BUS, RAIL, pax=2)
    version = await env.pool.fetchval("SELECT xmin FROM bookings WHERE id = $1", b.id)
    await env.svc.confirm(env.account, b.id, "p")
    stale = await env.pool.fetchval(
        "SELECT maas_cancel_write($1, $2, $3, '{0,1}', '{0,0}', '{NULL,NULL}', '{0,1}', "
        "'cancelled', 0, 0, true, 'cancel', 'held', NULL, '{}', NULL, NULL, NULL, NULL, NULL, "
        "NULL)", b.id, version, env.clock.now())
    assert stale is False
    view = await env.svc.get(env.account, b.id)
    assert view.status == "confirmed" and {t.status for t in view.tickets} == {"issued"}
    view, out = await env.svc.cancel(env.account, b.id)
    assert view.status == "cancelled" and out.refund_minor == view.paid_minor > 0
    assert view == await env.svc.get(env.account, b.id)


async def test_a_confirm_racing_a_hold_that_counted_it_expired_sees_it_expired(env):
    """Confirm reads its clock before its write (two round trips): a hold whose clock is
    already past this booking's expiry may have sold its seats meanwhile. Under the segment
    locks the confirm counts the seats again, finds the segment over capacity, and confirms
    the locking way, reading the clock after the locks: the hold expired, nothing oversold."""
    await set_seats(env, "rail:G-0800", 2)
    b = await env.hold(RAIL, pax=2)
    later = FrozenClock(b.expires_at + timedelta(minutes=1))
    rival = Bookings(env.pool, CONFIG, env.svc.keyring, later.now)
    people = [PassengerInput("李四", ID1), PassengerInput("王五", ID2)]
    async with env.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        held = await rival.hold(env.account, "itin", env.key(RAIL), NET, LIVE, people, conn=conn)
        confirming = asyncio.create_task(env.svc.confirm(env.account, b.id, "p"))
        await _until_waiting_for_a_lock(env.pool)      # our clock read: before the expiry
        env.clock.set(later.now())
        await tx.commit()
    with pytest.raises(HoldExpired):
        await confirming
    assert (await env.svc.get(env.account, b.id)).status == "expired"
    assert (await env.svc.get(env.account, held.id)).status == "held"
    assert await env.seats("rail:G-0800", 0) == 2
    assert await env.pool.fetchval("SELECT count(*) FROM tickets") == 0


async def test_confirm_writes_nothing_over_a_booking_changed_since_its_read(env):
    """The two-round-trip confirm's write (maas_confirm_rows) is refused when the booking row
    is no longer the version read; the confirm then acts on what is there now (here: the
    booking confirmed by another request meanwhile, so this one is refused)."""
    b = await env.hold(BUS, pax=1)
    version = await env.pool.fetchval("SELECT xmin FROM bookings WHERE id = $1", b.id)
    first = await env.svc.confirm(env.account, b.id, "p")
    stale = await env.pool.fetchval(
        store._CONFIRM_WRITE, b.id, version, env.clock.now(), "confirmed", "q",
        [(0, "t", DAY, 0, 1, "r", 1)], [], [("tk_x", 0, 0, "adult")], {}, None, None, None,
        None, None, None)
    assert stale is False
    assert await env.pool.fetchval("SELECT count(*) FROM tickets WHERE booking_id = $1",
                                   b.id) == 1
    assert await env.svc.get(env.account, b.id) == first
    with pytest.raises(InvalidTransition):
        await env.svc.confirm(env.account, b.id, "p")


async def test_confirm_counts_segments_not_the_whole_span(env):
    """The confirm's re-count judges each segment: legs that overlap the confirmed leg's span
    but not one another fill no segment past capacity, and the booking confirms."""
    await set_seats(env, "rail:G-0800", 2)
    b = await env.hold(RAIL, pax=1)                                   # Jinan West -> Qingdao
    await env.hold(leg_key(NET, "rail:G-0800", DAY, 0, 1))            # -> Zibo
    await env.hold(leg_key(NET, "rail:G-0800", DAY, 2, 3))            # Weifang ->
    assert (await env.svc.confirm(env.account, b.id, "p")).status == "confirmed"
    assert [await env.seats("rail:G-0800", s) for s in range(3)] == [2, 1, 2]


async def test_two_legs_of_one_booking_on_one_trip_add_up(env):
    """The hold counts the seats a booking needs per segment from all its legs: two legs on
    one run that share a segment need twice the passengers there."""
    from dataclasses import replace
    await set_seats(env, "rail:G-0800", 3)
    b = await env.hold(leg_key(NET, "rail:G-0800", DAY, 0, 2), pax=2)
    row = await env.pool.fetchrow("SELECT * FROM booking_legs WHERE booking_id = $1", b.id)
    leg = store.NewLeg(0, 0, row["feed"], row["agency_id"], row["agency_name"], row["mode"],
                       row["route_id"], row["trip_id"], DAY, 0, 2, row["from_stop"],
                       row["to_stop"], row["departure"], row["arrival"], 100, "test", 100)
    people = (await env.pool.fetch("SELECT * FROM booking_passengers WHERE booking_id = $1 "
                                   "ORDER BY passenger_no", b.id))
    pax = [store.NewPassenger(p["passenger_no"], p["category"], p["id_type"], p["key_id"],
                              p["name_ct"], p["id_number_ct"], p["name_masked"], p["id_masked"])
           for p in people][:1]

    def booking(*legs: store.NewLeg) -> store.NewBooking:
        return store.NewBooking(store.new_booking_id(), env.account, "itin", LIVE, "CNY", 200,
                                legs, pax)
    # 2 taken on segments 0-1; one passenger on 0-2 and again on 1-3 needs 2 seats on segment 1
    with pytest.raises(SoldOut) as err:
        await store.hold(env.pool, booking(leg, replace(leg, leg_no=1, board_pos=1, alight_pos=3)),
                         capacity=CONFIG.capacity, ttl=CONFIG.hold_ttl, now=env.clock.now)
    assert err.value.extra["leg"] == 0
    await store.hold(env.pool, booking(replace(leg, board_pos=2, alight_pos=3),
                                       replace(leg, leg_no=1, board_pos=2, alight_pos=3)),
                     capacity=CONFIG.capacity, ttl=CONFIG.hold_ttl, now=env.clock.now)
    assert [await env.seats("rail:G-0800", s) for s in range(3)] == [2, 2, 2]


async def test_the_hold_reads_seats_and_capacity_once_per_leg(env):
    """The hold's seat count (0841) reads the seats taken on each leg's span and its capacity
    once per leg, not once per segment: a two-leg hold over seven segments scans booking_legs
    twice and seat_capacity three times a leg (the trip's override, its GTFS trip's, its
    route's), where 0836 scanned them 7 and 21 times."""
    people = [PassengerInput("张三", ID1, "adult")]
    async with env.pool.acquire() as conn, conn.transaction():
        await env.svc.hold(env.account, "itin", env.key(BUS, RAIL), NET, LIVE, people, conn=conn)
        scans = await conn.fetch("SELECT relname, seq_scan + idx_scan AS n "
                                 "FROM pg_stat_xact_user_tables "
                                 "WHERE relname IN ('booking_legs', 'seat_capacity')")
    assert {r["relname"]: r["n"] for r in scans} == {"booking_legs": 2, "seat_capacity": 6}


async def test_a_legs_capacity_is_its_trips_else_its_gtfs_trips_else_its_routes(env):
    """The hold judges each leg against one capacity, looked up once per leg: its trip's
    override (a realtime trip, "trip@run"), else its GTFS trip's, else its route's, else the
    settings' for its mode; every one of its segments against it."""
    from dataclasses import replace
    b = await env.hold(leg_key(NET, "rail:G-0800", DAY, 1, 3))          # 1 seat on 1-2
    row = await env.pool.fetchrow("SELECT * FROM booking_legs WHERE booking_id = $1", b.id)
    pax = [store.NewPassenger(p["passenger_no"], p["category"], p["id_type"], p["key_id"],
                              p["name_ct"], p["id_number_ct"], p["name_masked"], p["id_masked"])
           for p in await env.pool.fetch("SELECT * FROM booking_passengers WHERE booking_id = $1",
                                         b.id)]
    run = store.NewLeg(0, 0, row["feed"], row["agency_id"], row["agency_name"], row["mode"],
                       row["route_id"], "rail:G-0800@2", DAY, 0, 3, row["from_stop"],
                       row["to_stop"], row["departure"], row["arrival"], 100, "test", 100)
    gtfs = replace(run, trip_id="rail:G-0800")

    async def fits(leg: store.NewLeg) -> bool:
        try:
            await store.hold(env.pool, store.NewBooking(store.new_booking_id(), env.account,
                                                        "itin", LIVE, "CNY", 100, [leg], pax),
                             capacity=CONFIG.capacity, ttl=CONFIG.hold_ttl, now=env.clock.now)
        except SoldOut:
            return False
        return True
    await store.set_capacity(env.pool, "rail", "route", row["route_id"], 1, None)
    assert not await fits(gtfs)                       # the route's 1: segment 1 is taken
    await set_seats(env, "rail:G-0800", 2)
    assert await fits(gtfs) and not await fits(gtfs)  # the GTFS trip's 2
    assert await fits(run) and await fits(run)        # the run counts its own seats, of the
    assert not await fits(run)                        # GTFS trip's 2
    await set_seats(env, "rail:G-0800@2", 3)
    assert await fits(run) and not await fits(run)    # the run's own 3
