"""Times on the wire: a booking's legs are local to their stops with the offset, as plans are."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timezone

import pytest

from maas.appkeys import LIVE
from maas.clock import FrozenClock
from routing.planner import Planner
from tests.conftest import bearer
from tests.routing.builders import timetable


@pytest.fixture
def clock():
    return FrozenClock(datetime(2026, 11, 24, 8, tzinfo=timezone.utc))


@pytest.fixture
async def planned(client, app, make_account):
    net = timetable("""
        F1 KE846 air TAO@10:00 ICN@11:30
        B2 6001 bus ICN@13:30 SEL@14:40
    """, stop_tz={"ICN": "Asia/Seoul", "SEL": "Asia/Seoul"}, trip_tz={"B2": "Asia/Seoul"},
        n_days=3)
    holder = app[LIVE]
    holder.current = dataclasses.replace(
        holder.current, planner=Planner.build(net), network=net, loaded=True,
        versions=dict(zip(net.feeds, net.feed_versions)))
    _, token = await make_account()
    return client, bearer(token)


async def _plan_and_book(client, user):
    r = await client.get("/v1/plan", params={"from": "t:TAO", "to": "t:SEL",
                                             "date": "2026-11-25", "time": "08:00"})
    assert r.status == 200, await r.text()
    [it] = (await r.json())["itineraries"]
    r = await client.post("/v1/bookings", headers={**user, "Idempotency-Key": str(uuid.uuid4())},
                          json={"itinerary_id": it["id"], "passengers": [
                              {"name": "张三", "id_number": "11010519491231002X",
                               "category": "adult"}]})
    assert r.status == 201, await r.text()
    return it, await r.json()


async def test_booking_legs_read_as_the_plan_legs(planned):
    client, user = planned
    it, booking = await _plan_and_book(client, user)
    assert len(booking["legs"]) == len(it["legs"]) == 2
    for planned_leg, booked in zip(it["legs"], booking["legs"], strict=True):
        assert booked["departure"] == planned_leg["departure"]
        assert booked["arrival"] == planned_leg["arrival"]
    flight = booking["legs"][0]
    assert flight["mode"] == "air"
    assert flight["departure"] == "2026-11-25T10:00:00+08:00"   # Qingdao
    assert flight["arrival"] == "2026-11-25T12:30:00+09:00"     # Seoul (11:30 in Qingdao)
    # the same on a read and in the list
    got = await (await client.get(f"/v1/bookings/{booking['id']}", headers=user)).json()
    assert got["legs"] == booking["legs"]
    page = await (await client.get("/v1/bookings", headers=user)).json()
    assert page["items"][0]["legs"] == booking["legs"]


async def test_a_stop_the_network_no_longer_knows_reads_in_utc(planned, app):
    client, user = planned
    _, booking = await _plan_and_book(client, user)
    other = timetable("T1 R1 bus A@08:00 B@08:30", n_days=3)
    app[LIVE].current = dataclasses.replace(app[LIVE].current, planner=Planner.build(other),
                                            network=other)
    got = await (await client.get(f"/v1/bookings/{booking['id']}", headers=user)).json()
    for before, after in zip(booking["legs"], got["legs"], strict=True):
        for field in ("departure", "arrival"):
            then, now = datetime.fromisoformat(before[field]), datetime.fromisoformat(after[field])
            assert now == then and after[field].endswith("+00:00")
