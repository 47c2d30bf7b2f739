"""Holds, confirms and cancels in batches (store.Batches over ticketing/batcher.py) on real
PostgreSQL: concurrent requests of one worker share statements, each caller gets the
booking a read returns, and a batch that fails runs its items alone (concurrent holds in
batches: test_bookings_store.py's crossing trips).

The sample network's scenarios of test_bookings_store.py (its `env` fixture)."""

from __future__ import annotations

import asyncio

import asyncpg

from ticketing import store
from ticketing.service import Bookings, PassengerInput
from tests.polling import eventually
from tests.ticketing.test_bookings_store import (  # noqa: F401 — env is a fixture
    BUS, CONFIG, ID1, LIVE as NET_LIVE, NET, RAIL, env, leg_key, DAY,
)


def shared(sizes) -> int:
    """How many items went in batches of more than one."""
    return sum(n * k for n, k in sizes.items() if n > 1)


async def test_concurrent_confirms_and_cancels_share_statements(env):
    held = [await env.hold(BUS, RAIL, pax=2) for _ in range(10)]
    env.svc.batches.memo = store.Memo()     # as if held on another worker: the confirms read
    confirmed = await asyncio.gather(*(env.svc.confirm(env.account, b.id, f"pay-{i}")
                                       for i, b in enumerate(held)))
    for b, c in zip(held, confirmed):
        assert c.status == "confirmed" and c.payment_ref.startswith("pay-") and len(c.tickets) == 4
        assert await env.svc.get(env.account, b.id) == c
    assert await env.pool.fetchval("SELECT count(*) FROM tickets") == 40
    cancelled = await asyncio.gather(*(env.svc.cancel(env.account, b.id) for b in held))
    for (view, out), c in zip(cancelled, confirmed):
        assert view.status == "cancelled" and out.refund_minor == c.paid_minor
        assert await env.svc.get(env.account, c.id) == view
    assert [await env.seats("rail:G-0800", s) for s in range(3)] == [0, 0, 0]
    events = await env.pool.fetch("SELECT event, count(*) AS n FROM booking_events GROUP BY event")
    assert {e["event"]: e["n"] for e in events} == {"hold": 10, "confirm": 10, "cancel": 10}
    b = env.svc.batches
    assert shared(b.reads.sizes) >= 2 and shared(b.confirms.sizes) >= 2
    assert shared(b.cancels.sizes) >= 2
    assert b.reads.fallbacks == b.confirms.fallbacks == b.cancels.fallbacks == 0


async def _waiting(pool, n: int) -> None:
    async def count() -> bool:
        return await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()") >= n
    await eventually(count, message=f"{n} statements wait for a lock")


async def test_two_workers_batches_of_confirms_take_their_segments_in_one_order(env,
                                                                                monkeypatch):
    """Worker A confirms p (segment 0) and q (segment 2) as one batch, worker B r (segment 2)
    and s (segment 0): taking each item's locks in turn, A would hold segment 0 and wait for
    2 while B held 2 and waited for 0 (PostgreSQL fails one batch after its deadlock
    timeout; run again item by item). Each batch's first item takes all of its segments,
    ascending: B waits for A or A for B, and both batches go through whole."""
    seg0, seg2 = (leg_key(NET, "rail:G-0800", DAY, s, s + 1) for s in (0, 2))
    ids = iter(["bk_a1", "bk_a2", "bk_b1", "bk_b2"])
    monkeypatch.setattr(store, "new_booking_id", lambda: next(ids))
    p, q, r, s = [await env.hold(g) for g in (seg0, seg2, seg2, seg0)]
    a, b = env.svc, Bookings(env.pool, CONFIG, env.svc.keyring, env.clock.now)
    async with env.pool.acquire() as conn:      # segment 2 held elsewhere: both batches queue
        tx = conn.transaction()
        await tx.start()
        await conn.execute("SELECT pg_advisory_xact_lock(1651, $1)",
                           store._lock_id(("rail:G-0800", DAY, 2)))
        on_b = [asyncio.create_task(b.confirm(env.account, x.id, "p")) for x in (r, s)]
        await _waiting(env.pool, 1)             # B first in the queue for segment 2
        on_a = [asyncio.create_task(a.confirm(env.account, x.id, "p")) for x in (p, q)]
        await _waiting(env.pool, 2)
        await tx.commit()
    done = await asyncio.gather(*on_a, *on_b)
    assert {c.status for c in done} == {"confirmed"}
    assert a.batches.confirms.sizes[2] == b.batches.confirms.sizes[2] == 1
    assert a.batches.confirms.fallbacks == b.batches.confirms.fallbacks == 0


async def test_a_failing_batch_runs_each_item_alone(env, monkeypatch):
    """A batch is one transaction: when one of its holds fails (here a booking id that is
    taken), nothing of the batch is kept and each item runs alone, getting its own outcome."""
    taken = (await env.hold(RAIL)).id
    ids = iter([store.new_booking_id(), store.new_booking_id(), taken])
    monkeypatch.setattr(store, "new_booking_id", lambda: next(ids))
    first, good, dup = await asyncio.gather(env.hold(RAIL), env.hold(RAIL), env.hold(RAIL),
                                            return_exceptions=True)
    assert isinstance(first, store.BookingView) and isinstance(good, store.BookingView)
    assert isinstance(dup, asyncpg.UniqueViolationError)
    assert await env.pool.fetchval("SELECT count(*) FROM bookings") == 3
    assert await env.pool.fetchval("SELECT count(*) FROM booking_events WHERE booking_id = $1",
                                   good.id) == 1
    holds = env.svc.batches.holds
    assert holds.sizes[3] == 1 and holds.fallbacks == 3     # the three went as one batch


async def test_close_logs_the_batch_sizes(env, caplog):
    held = [await env.hold(RAIL) for _ in range(3)]
    await asyncio.gather(*(env.svc.cancel(env.account, b.id) for b in held))
    with caplog.at_level("INFO", logger="ticketing.service"):
        env.svc.close()
    logged = {r.getMessage(): r for r in caplog.records}
    assert sum(n * k for n, k in logged["cancel write batches"].sizes.items()) == 3
    assert logged["hold batches"].sizes == {1: 3} and "confirm write batches" not in logged


async def test_a_lone_duplicate_key_deadlocked_with_a_batch_is_run_again(env, database_url,
                                                                         monkeypatch):
    """Worker A holds bk_a1 (key k1) and bk_a2 (key k2) as one batch; worker B holds bk_b with
    k2 again (a client's retry elsewhere), alone. B claims k2 first; A's batch takes every
    segment lock of RAIL with its first item and then waits for k2; B then waits for a
    segment: a cycle. PostgreSQL fails B (its deadlock_timeout is the shorter); B's hold runs
    again, waits for the batch and replays it: one booking for k2, no error."""
    from maas.db import create_pool
    pool_b = await create_pool(database_url, min_size=1, max_size=1)
    try:
        await pool_b.execute("SET deadlock_timeout = '10ms'")
        b = Bookings(pool_b, CONFIG, env.svc.keyring, env.clock.now)
        ids = iter(["bk_b", "bk_a1", "bk_a2"])
        monkeypatch.setattr(store, "new_booking_id", lambda: next(ids))
        scope = "account:" + env.account

        def key(k: str) -> store.Idempotent:
            return store.Idempotent(scope, k, b"h" * 32, lambda v: v.id.encode())

        async def hold(svc: Bookings, k: str):
            return await svc.hold(env.account, "itin", env.key(RAIL), NET, dict(NET_LIVE),
                                  [PassengerInput("张三", ID1)], idempotent=key(k))
        async with env.pool.acquire() as conn:        # k2 claimed elsewhere: B queues first
            tx = conn.transaction()
            await tx.start()
            await conn.execute("SELECT pg_advisory_xact_lock(1652, hashtext($1 || E'\\n' || $2))",
                               scope, "k2")
            on_b = asyncio.create_task(hold(b, "k2"))
            await _waiting(env.pool, 1)
            on_a = [asyncio.create_task(hold(env.svc, k)) for k in ("k1", "k2")]
            await _waiting(env.pool, 2)
            await tx.commit()
        got = await asyncio.gather(*on_a, on_b, return_exceptions=True)
    finally:
        await pool_b.close()
    assert isinstance(got[0], store.BookingView) and got[0].id == "bk_a1"
    won = [r for r in got[1:] if isinstance(r, store.BookingView)]
    replayed = [r for r in got[1:] if isinstance(r, store.Replayed)]
    assert len(won) == 1 and len(replayed) == 1, got
    assert bytes(replayed[0].row["body"]) == won[0].id.encode()
    assert await env.pool.fetchval("SELECT count(*) FROM bookings") == 2


async def test_a_batch_of_holds_sends_its_segment_locks_once(env, monkeypatch):
    """The first hold of a batch takes every item's segment locks (ascending); the others send
    none (held already by the batch's transaction), yet each leg keeps its own lock keys and
    every hold counts its seats after the locks."""
    sent = []
    fetchmany = asyncpg.Connection.fetchmany

    async def spy(self, query, args, *rest, **kw):
        sent.append(list(args))
        return await fetchmany(self, query, args, *rest, **kw)

    monkeypatch.setattr(asyncpg.Connection, "fetchmany", spy)
    segs = [leg_key(NET, "rail:G-0800", DAY, s, s + 1) for s in (0, 1, 2)]
    held = await asyncio.gather(*(env.hold(g, pax=2) for g in segs))
    assert env.svc.batches.holds.sizes[3] == 1
    (items,) = sent
    own = [store._lock_id(("rail:G-0800", DAY, s)) for s in (0, 1, 2)]
    assert items[0][store._HOLD_LOCKS] == sorted(own)
    assert [a[store._HOLD_LOCKS] for a in items[1:]] == [[], []]
    stored = await env.pool.fetch("SELECT booking_id, lock_ids FROM booking_legs")
    by_booking = {r["booking_id"]: r["lock_ids"] for r in stored}
    assert [by_booking[b.id] for b in held] == [[k] for k in own]
    assert [await env.seats("rail:G-0800", s) for s in range(3)] == [2, 2, 2]
    assert env.svc.batches.holds.fallbacks == 0
