"""Prices on /v1/plan, and booking what the planner returned (plan -> book -> confirm)."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from maas.clock import FrozenClock
from routing.itinerary import decode_id
from tests.conftest import bearer


@pytest.fixture
def clock():
    return FrozenClock(datetime(2026, 11, 28, 8, tzinfo=timezone.utc))


def cents(money: dict) -> int:
    return round(float(money["amount"]) * 100)


async def test_every_itinerary_has_leg_prices_and_a_total(live):
    r = await live.get("/v1/plan", params={"from": "bus:B1", "to": "rail:R4",
                                           "date": "2026-12-01", "time": "06:30"})
    assert r.status == 200, await r.text()
    its = (await r.json())["itineraries"]
    assert its
    for it in its:
        transit = [leg for leg in it["legs"] if leg["mode"] != "walk"]
        assert [leg["mode"] for leg in transit] == ["bus", "rail"]
        assert all(leg["price"]["currency"] == "CNY" for leg in transit)
        assert all(leg["price"] is None for leg in it["legs"] if leg["mode"] == "walk")
        assert cents(it["total"]) == sum(cents(leg["price"]) for leg in transit)
        # Jinan West -> Qingdao has a GTFS fare (118.50), less the 5 % linked discount
        assert cents(transit[1]["price"]) == round(11850 * 0.95)


async def test_single_operator_itinerary_has_no_linked_discount(live):
    r = await live.get("/v1/plan", params={"from": "rail:R1", "to": "rail:R4",
                                           "date": "2026-12-01", "time": "07:00"})
    [leg] = (await r.json())["itineraries"][0]["legs"]
    assert cents(leg["price"]) == 11850


async def test_book_what_was_planned(live, make_account):
    r = await live.get("/v1/plan", params={"from": "bus:B1", "to": "rail:R4",
                                           "date": "2026-12-01", "time": "06:30"})
    it = (await r.json())["itineraries"][0]
    _, token = await make_account()
    r = await live.post("/v1/bookings", json={"itinerary_id": it["id"], "passengers": [
        {"name": "张三", "id_number": "11010519491231002X"}]},
        headers={**bearer(token), "Idempotency-Key": str(uuid.uuid4())})
    b = await r.json()
    assert r.status == 201, b
    assert b["total"] == it["total"]                 # the offer is what gets held
    assert [g["trip_id"] for g in b["legs"]] == [leg.trip_id for leg in decode_id(it["id"]).legs]
    r = await live.post(f"/v1/bookings/{b['id']}/confirm", json={"payment_ref": "p"},
                        headers=bearer(token))
    assert (await r.json())["status"] == "confirmed"
