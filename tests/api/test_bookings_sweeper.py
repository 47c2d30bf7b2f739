"""The hold-expiry sweeper runs in the app (cleanup_ctx) and writes expiries on its own."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from maas.api.bookings import BOOKINGS
from maas.appkeys import DB, LIVE
from maas.clock import FrozenClock
from maas.live import Snapshot
from maas.settings import BookingSettings
from ticketing.sample import itinerary_id, leg_key, sample_network
from tests.conftest import bearer
from tests.polling import eventually

NET = sample_network()
RAIL = leg_key(NET, "rail:G-0800", datetime(2026, 12, 1).date(), 0, 3)


@pytest.fixture
def clock():
    return FrozenClock(datetime(2026, 11, 28, 8, tzinfo=timezone.utc))


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"bookings": BookingSettings(sweeper_interval_s=0.05)})


def count_sweeps(svc) -> list[int]:
    """Each sweep the app's sweeper completes from now on (it calls `svc.sweep()`)."""
    done: list[int] = []
    sweep = svc.sweep

    async def counted() -> int:
        n = await sweep()
        done.append(n)
        return n

    svc.sweep = counted
    return done


async def _expired(app, booking: str) -> bool:
    return await app[DB].fetchval("SELECT status FROM bookings WHERE id=$1", booking) == "expired"


async def test_sweeper_expires_holds_without_any_request(client, app, clock, make_account):
    app[LIVE].current = Snapshot(network=NET, loaded=True,
                                 versions=dict(zip(NET.feeds, NET.feed_versions)))
    _, token = await make_account()
    r = await client.post("/v1/bookings", json={
        "itinerary_id": itinerary_id(NET, [RAIL]),
        "passengers": [{"name": "张三", "id_number": "11010519491231002X"}]},
        headers={**bearer(token), "Idempotency-Key": str(uuid.uuid4())})
    booking = (await r.json())["id"]
    sweeps = count_sweeps(app[BOOKINGS])
    await eventually(lambda: len(sweeps) >= 3)     # several sweeps: the hold is still valid
    assert await app[DB].fetchval("SELECT status FROM bookings WHERE id=$1", booking) == "held"
    clock.advance(minutes=16)
    await eventually(lambda: _expired(app, booking), interval=0.05)
    events = await app[DB].fetch("SELECT event FROM booking_events WHERE booking_id=$1 ORDER BY id",
                                 booking)
    assert [e["event"] for e in events] == ["hold", "expire"]
