"""Fixtures of the protection tests: a small generated feed with one change, a frozen clock, an
operator key, and a helper that books and pays an itinerary.

Line feed (Asia/Shanghai), every day 2026-11-20 .. 2026-12-31:

    R1  T1  A 08:00 -> B 08:20
    R2  U1  B 08:40 -> C 09:10        (the change sold at B: 20 min; rail boarding asks 15)
        U2  B 09:10 -> C 09:40
        U3  B 09:40 -> C 10:10        (what a second rebooking finds)
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from feeds.ingest import import_feed
from maas.appkeys import DB, LIVE
from maas.clock import FrozenClock
from tests.conftest import bearer
from tests.realtime.rt_messages import _zip, utc

LINE_OP = "line-op"


def line_zip(tmp: Path) -> Path:
    times = ("T1,08:00:00,08:00:00,A,1\nT1,08:20:00,08:20:00,B,2\n"
             "U1,08:40:00,08:40:00,B,1\nU1,09:10:00,09:10:00,C,2\n"
             "U2,09:10:00,09:10:00,B,1\nU2,09:40:00,09:40:00,C,2\n"
             "U3,09:40:00,09:40:00,B,1\nU3,10:10:00,10:10:00,C,2\n")
    return _zip(tmp, "line", {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
                      "L,Line Rail,http://line.example.cn,Asia/Shanghai\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"
                     "A,Anting,31.00,121.00\nB,Baoshan,31.10,121.10\nC,Chongming,31.20,121.20\n",
        "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\n"
                      "R1,L,1,Line 1,2\nR2,L,2,Line 2,2\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                        "start_date,end_date\nD,1,1,1,1,1,1,1,20261120,20261231\n",
        "trips.txt": "route_id,service_id,trip_id\nR1,D,T1\nR2,D,U1\nR2,D,U2\nR2,D,U3\n",
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n" + times,
    })


async def push(client, key: str, body: bytes, feed: str = "line") -> dict:
    """POST a GTFS-RT message as the feed's operator; its outcome."""
    r = await client.post("/v1/realtime", params={"feed": feed}, data=body,
                          headers={**bearer(key), "Content-Type": "application/x-protobuf"})
    got = await r.json()
    assert r.status == 200, got
    return got


@pytest.fixture
def clock():
    return FrozenClock(utc("07:30"))       # 07:30 local, Monday 2026-11-23


@pytest.fixture
async def line(app, client, tmp_path):
    result = await import_feed(app[DB], line_zip(tmp_path), feed="line", operator_id=LINE_OP,
                               activate=True, today=utc("07:30").date())
    assert not result.rejected, result.report
    await app[LIVE].reload()
    return client


@pytest.fixture
async def line_key(make_key):
    return await make_key("operator", operator=LINE_OP)


@pytest.fixture
def book(line, make_account):
    """book(frm, to) -> (booking id, account token, the itinerary's trips): held and paid."""
    async def make(frm: str = "line:A", to: str = "line:C", token: str | None = None,
                   **sold):
        client = line
        if token is None:
            _, token = await make_account()
        r = await client.get("/v1/plan", params={"from": frm, "to": to, "date": "2026-11-23",
                                                 "time": "07:30", "limit": 1})
        (it,) = (await r.json())["itineraries"]
        r = await client.post("/v1/bookings", json={"itinerary_id": it["id"], "passengers": [
            {"name": "张三", "id_number": "11010519491231002X"}], **sold},
            headers={**bearer(token), "Idempotency-Key": str(uuid.uuid4())})
        assert r.status == 201, await r.text()
        bid = (await r.json())["id"]
        r = await client.post(f"/v1/bookings/{bid}/confirm", json={"payment_ref": "pay"},
                              headers=bearer(token))
        assert (await r.json())["status"] == "confirmed"
        return bid, token, [leg["trip_id"] for leg in it["legs"] if leg["trip_id"]]
    return make
