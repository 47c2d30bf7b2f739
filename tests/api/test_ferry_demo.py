"""The demo's ferry operator (bohai-ferry) end to end, published through the real feed path:
plan Yantai -> Dalian by ferry, book, confirm, and the boat e-ticket (电子船票) is accepted at
a gate of the Yantai port passenger terminal."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from maas.appkeys import DB, LIVE
from maas.clock import FrozenClock
from maas.demo import load_demo
from ticketing.tokens import parse_qr
from tests.conftest import bearer

pytestmark = pytest.mark.slow

DAY = date(2026, 11, 28)


@pytest.fixture
def clock():
    return FrozenClock(datetime(2026, 11, 27, 22, tzinfo=timezone.utc))   # 06:00 in Beijing


async def test_plan_book_and_board_the_yantai_dalian_ferry(client, app, settings, make_account,
                                                           make_key, clock):
    await load_demo(app[DB], settings, scale=0.2, start_date=DAY - timedelta(days=1))
    snap = await app[LIVE].reload()
    assert "bohai-ferry" in snap.versions
    r = await client.get("/v1/plan", params={"from": "bohai-ferry:YTP", "to": "bohai-ferry:DLP",
                                             "date": DAY.isoformat(), "time": "08:00",
                                             "modes": "ferry"})
    assert r.status == 200, await r.text()
    its = (await r.json())["itineraries"]
    assert its
    it = its[0]
    (leg,) = [g for g in it["legs"] if g["mode"] != "walk"]
    assert leg["mode"] == "ferry" and leg["feed"] == "bohai-ferry" and leg["price"]
    assert leg["from"]["id"] == "bohai-ferry:YTP" and leg["to"]["id"] == "bohai-ferry:DLP"
    dep = datetime.fromisoformat(leg["departure"])
    arr = datetime.fromisoformat(leg["arrival"])
    assert timedelta(hours=6) <= arr - dep <= timedelta(hours=7)    # across the Bohai strait

    _, tok = await make_account()
    user = bearer(tok)
    r = await client.post("/v1/bookings", json={"itinerary_id": it["id"], "passengers": [
        {"name": "张三", "id_number": "11010519491231002X"}]},
        headers={**user, "Idempotency-Key": str(uuid.uuid4())})
    b = await r.json()
    assert r.status == 201, b
    assert [g["trip_id"] for g in b["legs"]] == [leg["trip_id"]]
    assert b["legs"][0]["operator"] == "bohai-ferry:bohai-ferry"     # feed:agency_id
    r = await client.post(f"/v1/bookings/{b['id']}/confirm", json={"payment_ref": "demo"},
                          headers=user)
    c = await r.json()
    assert r.status == 200 and c["status"] == "confirmed", c
    assert len(c["tickets"]) == 1                                 # one passenger, one leg

    async def qr() -> str:
        r = await client.get(f"/v1/bookings/{b['id']}/token", headers=user)
        assert r.status == 200, await r.text()
        return (await r.json())["qr"]

    token = parse_qr(await qr()).token
    (ferry_leg,) = token.legs
    assert ferry_leg.board == "bohai-ferry:YTP"
    gate = await make_key("gate", gate="ytp-1", station="bohai-ferry:YTP")
    clock.set(ferry_leg.valid_from + timedelta(minutes=1))
    r = await client.post("/v1/gates/ytp-1/validate", json={"qr": await qr()}, headers=bearer(gate))
    assert await r.json() == {"result": "accept", "code": "ok", "booking": b["id"], "leg": 0,
                              "passengers": 1}
