"""End to end on the Shandong demo feeds, published through the real feed path: the live
network's versions, the planner's itinerary ids and the booking's stale check agree;
a bus -> rail journey of two operators is planned, priced, held, confirmed, one leg
cancelled and the booking read back."""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from maas.appkeys import DB, LIVE
from maas.demo import load_demo
from tests.conftest import bearer

pytestmark = pytest.mark.slow


def _near(net, s: int, feed: str, radius_m: float = 400.0) -> int | None:
    lat, lon = net.stop_lat[s], net.stop_lon[s]
    d = np.hypot((net.stop_lat - lat) * 111_000, (net.stop_lon - lon) * 111_000 * np.cos(np.radians(lat)))
    cands = [i for i in np.argsort(d)[:50] if d[i] <= radius_m
             and str(net.stop_id[i]).startswith(feed + ":") and net.stop_location_type[i] == 0]
    return int(cands[0]) if cands else None


async def test_plan_book_confirm_on_the_demo_feeds(client, app, settings, make_account):
    # tomorrow where the demo runs (Asia/Shanghai is up to 8 h ahead of the machine's UTC date)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    day = today + timedelta(days=1)
    await load_demo(app[DB], settings, scale=0.2, start_date=today - timedelta(days=1))
    snap = await app[LIVE].reload()
    net = snap.network
    assert set(snap.versions) >= {"jinan-bus", "china-railway"}
    # a rail trip, a Jinan bus line passing its first station, and a bus stop a few stops
    # before the station as the origin (far enough that walking does not win)
    origin = None
    for t in (t for t in range(net.n_trips) if str(net.trip_id[t]).startswith("china-railway:")):
        a, b = int(net.trip_st_start[t]), int(net.trip_st_start[t + 1])
        at_station = _near(net, int(net.st_stop[a]), "jinan-bus")
        if at_station is None:
            continue
        rows = np.nonzero(net.st_stop == at_station)[0]
        for row in rows:
            bt = int(np.searchsorted(net.trip_st_start, row, side="right") - 1)
            if row - int(net.trip_st_start[bt]) >= 4:
                origin = int(net.st_stop[row - 4])
                break
        if origin is not None:
            break
    if origin is None:
        pytest.skip("no Jinan bus line to a rail station in this demo build")
    bus_stop = origin
    params = {"from": str(net.stop_id[bus_stop]), "to": str(net.stop_id[int(net.st_stop[b - 1])]),
              "date": day.isoformat(), "time": "07:00", "limit": "10"}
    r = await client.get("/v1/plan", params=params)
    assert r.status == 200, await r.text()
    its = (await r.json())["itineraries"]
    linked = [it for it in its if len({leg["feed"] for leg in it["legs"] if leg["feed"]}) >= 2]
    assert linked, [[leg["mode"] for leg in it["legs"]] for it in its]
    it = linked[0]
    transit = [leg for leg in it["legs"] if leg["mode"] != "walk"]
    assert all(leg["price"] for leg in transit) and it["total"]

    _, token = await make_account()
    user = bearer(token)
    r = await client.post("/v1/bookings", json={"itinerary_id": it["id"], "passengers": [
        {"name": "张三", "id_number": "11010519491231002X"},
        {"name": "Kim Minsu", "id_number": "M12345678", "id_type": "passport", "category": "senior"}]},
        headers={**user, "Idempotency-Key": str(uuid.uuid4())})
    b = await r.json()
    assert r.status == 201, b
    assert [g["trip_id"] for g in b["legs"]] == [leg["trip_id"] for leg in transit]
    assert len({g["operator"] for g in b["legs"]}) >= 2
    r = await client.post(f"/v1/bookings/{b['id']}/confirm", json={"payment_ref": "demo"},
                          headers=user)
    c = await r.json()
    assert c["status"] == "confirmed" and len(c["tickets"]) == 2 * len(b["legs"])
    r = await client.post(f"/v1/bookings/{b['id']}/legs/0/cancel", headers=user)
    x = await r.json()
    assert r.status == 200 and x["legs"][0]["status"] == "cancelled"
    got = await (await client.get(f"/v1/bookings/{b['id']}", headers=user)).json()
    assert got == x
