"""`protection.rebook` false: a disrupted booking gets its `disrupted` event and nothing else."""

from __future__ import annotations

import pytest

from tests.polling import eventually
from tests.protection.conftest import push
from tests.realtime.rt_messages import message, trip_update

from maas.appkeys import DB
from ticketing import protection_store as pstore


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"protection": settings.protection.model_copy(
        update={"rebook": False})})


async def test_with_rebooking_off_a_disruption_is_only_reported(app, line, line_key, book):
    bid, _, _ = await book()
    await push(line, line_key, message(trip_update("e1", "T1", delays=[(2, "B", 600)])))

    async def done():
        return await app[DB].fetchrow("SELECT state, outcome FROM protection_jobs "
                                      "WHERE booking_id = $1 AND state = 'done'", bid)
    job = await eventually(done)
    assert job["outcome"] == "disrupted" and await pstore.open_jobs(app[DB]) == 0
    evs = [r["event"] for r in await app[DB].fetch(
        "SELECT event FROM booking_events WHERE booking_id = $1 ORDER BY id", bid)]
    assert evs == ["hold", "confirm", "disrupted"]
    assert await app[DB].fetchval("SELECT protection FROM bookings WHERE id = $1", bid) is None
