"""GET /v1/plan?criteria=price: slower but cheaper journeys, priced as they are booked."""

from __future__ import annotations

import dataclasses
import sys
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from maas.appkeys import LIVE
from maas.clock import FrozenClock
from maas.live import Snapshot
from routing.planner import Planner
from tests.conftest import bearer

sys.path.insert(0, str(Path(__file__).parent.parent / "routing"))
from builders import timetable  # noqa: E402

DAY = date(2026, 12, 1)


@pytest.fixture
def clock():
    return FrozenClock(datetime(2026, 11, 28, 8, tzinfo=timezone.utc))


@pytest.fixture
async def priced(client, app):
    """A to B: a fast train, a slower coach, a slow bus via C (three operators; the default
    tariffs make each slower one cheaper)."""
    net = timetable('''
        T1 R1 rail  A@08:00 B@08:40
        T2 R2 bus   A@08:05 C@08:50 B@09:40
        T3 R3 coach A@08:10 B@09:20
    ''', base=DAY)
    obj = lambda xs: np.array(xs, dtype=object)  # noqa: E731
    net = dataclasses.replace(
        net, agency_id=obj(["t:rail", "t:bus", "t:coach"]),
        agency_name=obj(["Rail", "Bus", "Coach"]), agency_tz=np.zeros(3, np.int16),
        agency_feed=np.zeros(3, np.int16), route_agency=np.array([0, 1, 2], np.int32))
    app[LIVE].current = Snapshot(network=net, planner=Planner.build(net), loaded=True,
                                 versions=dict(zip(net.feeds, net.feed_versions)))
    return client


def cents(money: dict) -> int:
    return round(float(money["amount"]) * 100)


PARAMS = {"from": "t:A", "to": "t:B", "date": "2026-12-01", "time": "07:30"}


async def test_price_keeps_slower_cheaper_journeys(priced):
    r = await priced.get("/v1/plan", params=PARAMS)
    assert r.status == 200, await r.text()
    fast = (await r.json())["itineraries"]
    assert [it["legs"][0]["trip_id"] for it in fast] == ["t:T1"]
    for criteria in ("price", "arrival,transfers,price"):
        r = await priced.get("/v1/plan", params={**PARAMS, "criteria": criteria})
        assert r.status == 200, await r.text()
        its = (await r.json())["itineraries"]
        assert [it["legs"][0]["trip_id"] for it in its] == ["t:T1", "t:T3", "t:T2"]
        totals = [cents(it["total"]) for it in its]
        assert totals[0] > totals[1] > totals[2]        # each later arrival costs less
        assert its[0]["id"] == fast[0]["id"] and its[0]["total"] == fast[0]["total"]
    r = await priced.get("/v1/plan", params={**PARAMS, "criteria": "arrival,transfers"})
    assert [it["id"] for it in (await r.json())["itineraries"]] == [it["id"] for it in fast]


async def test_the_cheapest_books_at_the_price_planned(priced, make_account):
    r = await priced.get("/v1/plan", params={**PARAMS, "criteria": "price"})
    cheapest = min((await r.json())["itineraries"], key=cents_total)
    _, token = await make_account()
    r = await priced.post("/v1/bookings", json={"itinerary_id": cheapest["id"], "passengers": [
        {"name": "张三", "id_number": "11010519491231002X"}]},
        headers={**bearer(token), "Idempotency-Key": str(uuid.uuid4())})
    b = await r.json()
    assert r.status == 201, b
    assert b["total"] == cheapest["total"]


def cents_total(it: dict) -> int:
    return cents(it["total"])


@pytest.mark.parametrize("extra", [
    {"criteria": "cost"}, {"criteria": ""}, {"criteria": "price,fun"},
    {"criteria": "price", "arrive_by": "true"}, {"criteria": "price", "window_min": "60"},
    {"criteria": "price", "via": "t:B"},
])
async def test_bad_criteria_is_a_400_naming_the_parameter(priced, extra):
    r = await priced.get("/v1/plan", params={**PARAMS, **extra})
    assert r.status == 400, await r.text()
    assert r.content_type == "application/problem+json"
    body = await r.json()
    assert body["code"] == "invalid_query" and body["parameter"] == "criteria", body
