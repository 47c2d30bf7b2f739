"""A worker's memory of the bookings it has just held or confirmed (store.Memo) on real
PostgreSQL: the next confirm or cancel on that worker starts from it instead of the read
(`maas_booking_current`), answers what it would after the read, and a stale memory never
writes over a booking changed elsewhere nor refuses what the booking allows.

The sample network's scenarios of test_bookings_store.py (its `env` fixture); another
worker is another `Bookings` over the same pool (its own batches and memory)."""

from __future__ import annotations

from typing import Any

import pytest

from maas import auth
from ticketing import store
from ticketing.bookings import Status
from ticketing.errors import BookingCancelled, BookingNotFound
from ticketing.service import Bookings
from tests.ticketing.test_bookings_store import (  # noqa: F401 — env is a fixture
    BUS, CONFIG, RAIL, env,
)


def _plain(row: Any) -> dict[str, Any]:
    """maas_booking_current's row (or a remembered one) as plain dicts and lists."""
    out = {k: v for k, v in dict(row).items() if k != "replay"}
    for k in ("legs", "pax", "tickets"):
        out[k] = [dict(r) for r in out[k]] if out[k] else None
    return out


async def _read(env, booking_id: str) -> dict[str, Any]:
    return _plain(await env.pool.fetchrow(store._CURRENT, booking_id, env.account, None, None))


def _remembered(env, booking_id: str) -> dict[str, Any]:
    return _plain(env.svc.batches.memo._rows[booking_id][3]())


def _other_worker(env) -> Bookings:
    return Bookings(env.pool, CONFIG, env.svc.keyring, env.clock.now)


async def test_a_held_and_a_confirmed_booking_are_remembered_as_the_read_returns_them(env):
    held = await env.hold(BUS, RAIL, pax=2)
    assert _remembered(env, held.id) == await _read(env, held.id)
    await env.svc.confirm(env.account, held.id, "pay")
    assert _remembered(env, held.id) == await _read(env, held.id)


async def test_confirm_and_cancel_after_this_workers_hold_skip_the_read(env):
    held = await env.hold(BUS, RAIL, pax=2)
    confirmed = await env.svc.confirm(env.account, held.id, "pay")
    assert confirmed.status == "confirmed" and len(confirmed.tickets) == 4
    assert await env.svc.get(env.account, held.id) == confirmed
    view, out = await env.svc.cancel(env.account, held.id)
    assert view.status == "cancelled" and out.refund_minor == confirmed.paid_minor
    assert await env.svc.get(env.account, held.id) == view
    assert not env.svc.batches.reads.sizes          # no read: both started from memory
    assert held.id not in env.svc.batches.memo._rows
    events = await env.pool.fetch("SELECT event FROM booking_events WHERE booking_id = $1 "
                                  "ORDER BY id", held.id)
    assert [e["event"] for e in events] == ["hold", "confirm", "cancel"]


async def test_a_stale_memory_writes_nothing_and_the_booking_decides(env):
    held = await env.hold(BUS, RAIL, pax=2)
    await _other_worker(env).cancel(env.account, held.id)     # remembered here as held
    with pytest.raises(BookingCancelled):
        await env.svc.confirm(env.account, held.id, "pay")
    assert await env.pool.fetchval("SELECT count(*) FROM tickets") == 0

    other = await env.hold(BUS, RAIL, pax=2)
    await env.svc.confirm(env.account, other.id, "pay")        # remembered as confirmed
    await _other_worker(env).cancel(env.account, other.id)
    with pytest.raises(BookingCancelled):
        await env.svc.cancel(env.account, other.id)
    events = await env.pool.fetch("SELECT event FROM booking_events WHERE booking_id = $1 "
                                  "ORDER BY id", other.id)
    assert [e["event"] for e in events] == ["hold", "confirm", "cancel"]


async def test_a_booking_held_here_and_confirmed_elsewhere_is_read_before_its_cancel(env,
                                                                                    monkeypatch):
    """This worker's memory of the hold is stale once another worker confirmed it: the
    cancel reads the booking (no write over the memory, no locking way)."""
    locking = []
    monkeypatch.setattr(store, "_locked_for", lambda *a, **k: locking.append(a))
    held = await env.hold(BUS, RAIL, pax=2)
    confirmed = await _other_worker(env).confirm(env.account, held.id, "pay")
    view, out = await env.svc.cancel(env.account, held.id)
    assert view.status == "cancelled" and out.refund_minor == confirmed.paid_minor
    b = env.svc.batches
    assert sum(b.reads.sizes.values()) == sum(b.cancels.sizes.values()) == 1 and not locking
    assert await env.svc.get(env.account, held.id) == view


async def test_a_memory_that_would_refuse_asks_the_read(env):
    held = await env.hold(BUS, pax=1)
    memo = env.svc.batches.memo
    row = memo.take(held.id, env.account, Status.HELD)
    memo.put(held.id, env.account, Status.HELD, lambda: {**row, "status": "cancelled"})  # wrong
    confirmed = await env.svc.confirm(env.account, held.id, "pay")
    assert confirmed.status == "confirmed"
    assert await env.svc.get(env.account, held.id) == confirmed


async def test_a_memory_is_only_the_owners(env):
    held = await env.hold(BUS, pax=1)
    stranger, _ = await auth.create_account(env.pool)
    with pytest.raises(BookingNotFound):
        await env.svc.confirm(stranger, held.id, "pay")
    assert (await env.svc.confirm(env.account, held.id, "pay")).status == "confirmed"


def test_the_memory_forgets_the_oldest_and_the_old():
    held, make = Status.HELD, lambda: {"id": "bk_0"}
    memo = store.Memo(size=2, ttl_s=-1.0)
    for i in range(3):
        memo.put(f"bk_{i}", "a", held, make)
    assert list(memo._rows) == ["bk_1", "bk_2"]
    assert memo.take("bk_2", "a", held) is None            # past its ttl
    memo = store.Memo(size=2)
    memo.put("bk_0", "a", held, make)
    assert memo.take("bk_0", "a", held) == {"id": "bk_0"} and memo.take("bk_0", "a", held) is None
    for who, status in (("b", held), ("a", Status.CONFIRMED)):   # not b's; not confirmed
        memo.put("bk_0", "a", held, make)
        assert memo.take("bk_0", who, status) is None and memo.take("bk_0", "a", held) is None
