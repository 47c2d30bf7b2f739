"""GET /v1/events across workers: an event written through one app wakes a reader of the SSE
stream of another app over the same database at once (NOTIFY maas_events, maas/event_wakeups.py).

Both apps poll every hour, and the reader's app runs no protection jobs: only the cross-worker
wake-up can deliver the event before read_events' bound (30 s)."""

from __future__ import annotations

import pytest

from maas.app import create_app
from maas.appkeys import LIVE
from maas.event_wakeups import Wakeups
from tests.conftest import bearer
from tests.protection.conftest import push
from tests.protection.test_events_stream import read_events
from tests.realtime.rt_messages import message, trip_update

HOUR = 3600.0


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"protection": settings.protection.model_copy(
        update={"poll_s": HOUR})})


@pytest.fixture
async def reader(settings, clock, app, line, aiohttp_client):
    """A second app (another worker or instance) over the same database, no protection jobs."""
    quiet = settings.model_copy(update={"protection": settings.protection.model_copy(
        update={"enabled": False})})
    other = create_app(quiet, clock=clock)
    client = await aiohttp_client(other)
    other[LIVE].current = app[LIVE].current
    return client


async def test_an_event_written_by_one_worker_wakes_the_stream_of_another(
        settings, line, line_key, book, reader):
    assert settings.protection.poll_s == HOUR
    bid, token, _ = await book()
    async with reader.get("/v1/events", headers=bearer(token)) as resp:
        assert resp.status == 200
        held, confirmed = await read_events(resp, 2)
        assert (held["event"], confirmed["event"]) == ("held", "confirmed")
        # the realtime push goes to the first app; its protection job writes `disrupted`
        await push(line, line_key, message(trip_update("e1", "T1", canceled=True)))
        (disrupted,) = await read_events(resp, 1)
        assert disrupted["event"] == "disrupted" and f'"booking_id":"{bid}"' in disrupted["data"]
        # a passenger's own change through the first app (not a protection job) wakes it too
        # (after rebook's answer to the cancelled train: no other train A -> B)
        (protected,) = await read_events(resp, 1)
        assert protected["event"] == "rebook_failed", protected       # T1 is the only A -> B
        r = await line.post(f"/v1/bookings/{bid}/cancel", headers=bearer(token))
        assert r.status == 200, await r.text()
        (cancelled,) = await read_events(resp, 1)
        assert cancelled["event"] == "cancelled"


async def test_wakeups_are_per_account_and_all_on_reconnect():
    a = Wakeups()
    with a.waiter("acc-1") as one, a.waiter("acc-2") as two, a.waiter("acc-2") as three:
        a.on_notify(None, 0, "maas_events", "acc-2")       # what the LISTEN connection calls
        assert (one.is_set(), two.is_set(), three.is_set()) == (False, True, True)
        a.wake_all()
        assert one.is_set()
    assert a._waiting == {}                                # nothing kept once readers leave
