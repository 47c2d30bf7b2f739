"""Refund quotes, per-passenger categories checked against the ID number, child prices.

The live network is the sample network (ticketing/sample.py): city bus K5 and rail G.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from maas.appkeys import DB, LIVE
from maas.live import Snapshot
from routing.planner import Planner
from ticketing.sample import itinerary_id, leg_key
from ticketing.store import set_capacity
from ticketing.tokens import parse_qr
from tests.api.test_bookings import (  # noqa: F401  (fixtures)
    BUS, DAY, ID1, ITIN, NET, RAIL, T0, book, body, clock, user)
from tests.conftest import bearer



@pytest.fixture
def planned(app, user, client):
    """The client with the sample network live and plannable (after `user` made it live)."""
    app[LIVE].current = Snapshot(network=NET, planner=Planner.build(NET), loaded=True,
                                 versions=dict(zip(NET.feeds, NET.feed_versions)))
    return client

ADULT_1990 = "110105199001010011"   # born 1 January 1990
CHILD_2018 = "110105201801010019"   # born 1 January 2018: 8 on the day of travel
TURNS_14 = "110105201212010014"     # born 1 December 2012: 14 on 1 December 2026 (travel day)
SENIOR_1949 = ID1                   # born 31 December 1949


def _fix(number: str) -> str:
    """The number with its GB 11643 check character recomputed (the fixtures stay valid)."""
    from ticketing.passengers import prc_id_check_digit
    return number[:17] + prc_id_check_digit(number[:17])


def cents(money: dict) -> int:
    return int(money["amount"].replace(".", ""))


async def confirmed(client, user, pax=None) -> dict:
    r = await book(client, user, body(pax=pax) if pax is not None else None)
    assert r.status == 201, await r.text()
    b = await r.json()
    r = await client.post(f"/v1/bookings/{b['id']}/confirm", json={"payment_ref": "p"},
                          headers=user)
    assert r.status == 200, await r.text()
    return await r.json()


@pytest.mark.parametrize("hours_before", [48, 3, 0.5])
async def test_refund_quote_is_what_the_cancel_refunds(client, user, clock, hours_before):
    b = await confirmed(client, user)
    clock.set(RAIL.departure - timedelta(hours=hours_before))
    r = await client.get(f"/v1/bookings/{b['id']}/refund-quote", headers=user)
    assert r.status == 200, await r.text()
    q = await r.json()
    assert q["status_after"] == "cancelled" and [g["leg"] for g in q["legs"]] == [0, 1]
    assert sum(cents(g["refund"]) for g in q["legs"]) == cents(q["refund"])
    got = await (await client.get(f"/v1/bookings/{b['id']}", headers=user)).json()
    assert got["status"] == "confirmed"      # the quote wrote nothing
    x = await (await client.post(f"/v1/bookings/{b['id']}/cancel", headers=user)).json()
    assert x["status"] == "cancelled"
    assert cents(x["refund"]) == cents(q["refund"])
    assert [cents(g["refund"]) for g in x["legs"]] == [cents(g["refund"]) for g in q["legs"]]


async def test_refund_quote_of_one_leg_is_what_the_leg_cancel_refunds(client, user, clock):
    b = await confirmed(client, user)
    clock.set(RAIL.departure - timedelta(hours=3))
    q = await (await client.get(f"/v1/bookings/{b['id']}/refund-quote?leg=1",
                                headers=user)).json()
    assert q["status_after"] == "confirmed" and q["legs"][0]["new_price"] is not None
    x = await (await client.post(f"/v1/bookings/{b['id']}/legs/1/cancel", headers=user)).json()
    assert cents(x["refund"]) == cents(q["refund"]) and x["total"] == q["total_after"]
    assert cents(x["legs"][0]["price"]) == cents(q["legs"][0]["new_price"])
    r = await client.get(f"/v1/bookings/{b['id']}/refund-quote?leg=1", headers=user)
    assert r.status == 409 and (await r.json())["code"] == "leg_not_cancellable"


async def test_refund_quote_of_someone_elses_booking_is_404(client, user, make_account):
    b = await confirmed(client, user)
    _, token = await make_account()
    r = await client.get(f"/v1/bookings/{b['id']}/refund-quote", headers=bearer(token))
    assert r.status == 404 and (await r.json())["code"] == "booking_not_found"


@pytest.mark.parametrize("number,category", [
    (ADULT_1990, "child"), (TURNS_14, "child"), (ADULT_1990, "senior")])
async def test_category_contradicting_the_id_birth_date_is_422(client, user, number, category):
    pax = [{"name": "张三", "id_number": ID1, "category": "senior"},
           {"name": "李四", "id_number": _fix(number), "category": category}]
    r = await book(client, user, body(pax=pax))
    assert r.status == 422 and r.content_type == "application/problem+json"
    p = await r.json()
    assert p["code"] == "category_mismatch"
    assert p["field"] == "passengers[1].category" and p["passenger"] == 1
    listed = await (await client.get("/v1/bookings", headers=user)).json()
    assert listed["items"] == []


async def test_categories_the_id_allows(client, user):
    """A child under 14, a senior 60+, an adult child (paying full) and a passport child."""
    pax = [{"name": "张三", "id_number": SENIOR_1949, "category": "senior"},
           {"name": "李四", "id_number": CHILD_2018, "category": "child"},
           {"name": "王五", "id_number": _fix(TURNS_14[:12] + "02" + TURNS_14[14:]),
            "category": "child"},   # 14 only the day after travel
           {"name": "赵六", "id_number": CHILD_2018, "category": "adult"},
           {"name": "Kim", "id_number": "E12345678", "id_type": "passport", "category": "child"}]
    r = await book(client, user, body(pax=pax))
    assert r.status == 201, await r.text()
    assert [p["category"] for p in (await r.json())["passengers"]] == [
        "senior", "child", "child", "adult", "child"]


async def test_a_child_pays_the_child_concession(client, user, settings):
    """Leg price = sum over passengers of unit * (1 - concession) * (1 - linked discount)."""
    adult = await (await book(client, user, body(pax=[
        {"name": "赵六", "id_number": _fix(ADULT_1990), "category": "adult"}]))).json()
    child = await (await book(client, user, body(pax=[
        {"name": "李四", "id_number": CHILD_2018, "category": "child"}]))).json()
    both = await (await book(client, user, body(pax=[
        {"name": "赵六", "id_number": _fix(ADULT_1990), "category": "adult"},
        {"name": "李四", "id_number": CHILD_2018, "category": "child"}]))).json()
    discount = settings.bookings.concessions["child"]
    for a, c, ab in zip(adult["legs"], child["legs"], both["legs"], strict=True):
        assert abs(cents(c["price"]) - cents(a["price"]) * (1 - discount)) <= 1
        assert cents(c["price"]) < cents(a["price"])
        assert cents(ab["price"]) == cents(a["price"]) + cents(c["price"])


# --- exchange (改签) ---------------------------------------------------------------------------

async def _confirmed_live(client, user, itin: str = ITIN) -> dict:
    r = await client.post("/v1/bookings", json={"itinerary_id": itin, "passengers": [
        {"name": "赵六", "id_number": _fix(ADULT_1990), "category": "adult"}]},
        headers={**user, "Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 201, await r.text()
    bid = (await r.json())["id"]
    r = await client.post(f"/v1/bookings/{bid}/confirm", json={"payment_ref": "p"}, headers=user)
    assert r.status == 200, await r.text()
    return await r.json()


async def _offers(client, user, bid: str, leg: int, **when) -> list[dict]:
    r = await client.post(f"/v1/bookings/{bid}/legs/{leg}/exchange-offers", json=when,
                          headers=user)
    assert r.status == 200, await r.text()
    return (await r.json())["offers"]


def _exchange(client, user, bid: str, offer_id: str, key: str | None = None):
    return client.post(f"/v1/bookings/{bid}/exchange", json={"offer_id": offer_id},
                       headers={**user, "Idempotency-Key": key or str(uuid.uuid4())})


async def test_exchange_swaps_the_legs_and_the_gate_follows(planned, user, clock, make_key):
    client = planned
    b = await _confirmed_live(client, user)
    bid = b["id"]
    old_qr = (await (await client.get(f"/v1/bookings/{bid}/token", headers=user)).json())["qr"]
    offers = await _offers(client, user, bid, 1, time="08:50")
    assert offers and all(o["replaces_from_leg"] == 1 for o in offers)
    trips = [o["legs"][0]["trip_id"] for o in offers]
    assert trips == sorted(trips) and "rail:G-0800" not in trips and len(set(trips)) > 1
    offer = offers[0]
    trip = offer["legs"][0]["trip_id"]
    assert [(g["from_stop"], g["to_stop"], g["mode"]) for g in offer["legs"]] == [
        ("rail:R1", "rail:R4", "rail")]
    # same rail fare, more than 24 h before departure: no difference, no fee
    assert cents(offer["price_difference"]) == cents(offer["legs"][0]["price"]) - cents(
        b["legs"][1]["price"])
    assert cents(offer["fee"]) == 0 and cents(offer["due"]) == cents(offer["price_difference"])

    key = str(uuid.uuid4())
    r = await _exchange(client, user, bid, offer["offer_id"], key)
    assert r.status == 200, await r.text()
    x = await r.json()
    assert x["id"] == bid and x["status"] == "confirmed"
    assert [(g["leg"], g["status"], g["trip_id"]) for g in x["legs"]] == [
        (0, "confirmed", "bus:K5-0700"),
        (1, "replaced", "rail:G-0800"), (2, "confirmed", trip)]
    assert [(g["leg"], g["replaced_by"]) for g in x["legs"]] == [(0, None), (1, 2), (2, None)]
    assert [(t["leg"], t["status"]) for t in x["tickets"]] == [
        (0, "issued"), (1, "cancelled"), (2, "issued")]
    # local to the stops with the offset, as plans write them: the same in offer and booking
    assert (x["legs"][2]["departure"], x["legs"][2]["arrival"]) == (
        offer["legs"][0]["departure"], offer["legs"][0]["arrival"])
    assert offer["legs"][0]["departure"].endswith("+08:00")
    assert cents(x["total"]) == cents(b["legs"][0]["price"]) + cents(offer["legs"][0]["price"])
    # the same key again: the first answer; the offer again under another key: used
    again = await _exchange(client, user, bid, offer["offer_id"], key)
    assert again.status == 200 and await again.json() == x
    r = await _exchange(client, user, bid, offer["offer_id"])
    assert r.status == 409 and (await r.json())["code"] == "offer_used"
    got = await (await client.get(f"/v1/bookings/{bid}", headers=user)).json()
    assert got == x
    events = await planned.app[DB].fetch(
        "SELECT event, leg_no, detail FROM booking_events WHERE booking_id = $1 "
        "AND event = 'exchanged'", bid)
    assert len(events) == 1 and events[0]["leg_no"] == 1

    # the gate: the new leg admits with the booking's QR; the replaced one refuses
    new_qr = (await (await client.get(f"/v1/bookings/{bid}/token", headers=user)).json())["qr"]
    new_leg = next(g for g in parse_qr(new_qr).token.legs if g.index == 2)
    old_leg = next(g for g in parse_qr(old_qr).token.legs if g.index == 1)
    assert parse_qr(new_qr).token.booking == parse_qr(old_qr).token.booking == bid
    assert 1 not in {g.index for g in parse_qr(new_qr).token.legs}
    gate = await make_key("gate", gate="g-r1", station=new_leg.board)
    clock.set(old_leg.valid_from + timedelta(minutes=1))
    r = await client.post("/v1/gates/g-r1/validate", json={"qr": old_qr}, headers=bearer(gate))
    refused = await r.json()
    assert refused["result"] == "reject" and refused["code"] == "replaced", refused
    assert refused["replaced_by"] == {"leg": 2, "trip_id": trip, "station": "rail:R1",
                                      "departure": x["legs"][2]["departure"]}
    clock.set(new_leg.valid_from + timedelta(minutes=1))
    new_qr = (await (await client.get(f"/v1/bookings/{bid}/token", headers=user)).json())["qr"]
    r = await client.post("/v1/gates/g-r1/validate", json={"qr": new_qr}, headers=bearer(gate))
    assert await r.json() == {"result": "accept", "code": "ok", "booking": bid, "leg": 2,
                              "passengers": 1}


async def test_exchange_is_409_when_the_seats_went_meanwhile(planned, user, clock, make_account):
    client = planned
    b = await _confirmed_live(client, user)
    offer = (await _offers(client, user, b["id"], 1, time="08:50"))[0]
    trip = offer["legs"][0]["trip_id"]
    await set_capacity(planned.app[DB], "rail", "trip", trip, 1, None)
    # another passenger takes the only seat of that train
    _, token = await make_account()
    other = await _confirmed_live(client, bearer(token),
                                  itinerary_id(NET, [leg_key(NET, trip, DAY, 0, 3)]))
    assert other["status"] == "confirmed"
    r = await _exchange(client, user, b["id"], offer["offer_id"])
    assert r.status == 409 and r.content_type == "application/problem+json"
    p = await r.json()
    assert p["code"] == "seats_gone" and p["leg"] == 0
    got = await (await client.get(f"/v1/bookings/{b['id']}", headers=user)).json()
    assert [g["status"] for g in got["legs"]] == ["confirmed", "confirmed"]
    assert got["total"] == b["total"] and all(t["status"] == "issued" for t in got["tickets"])


async def test_exchange_offers_and_exchange_refusals(planned, user, clock, make_account):
    client = planned
    b = await _confirmed_live(client, user)
    offer = (await _offers(client, user, b["id"], 1, time="08:50"))[0]
    # not the owner
    _, token = await make_account()
    r = await client.post(f"/v1/bookings/{b['id']}/legs/1/exchange-offers", json={},
                          headers=bearer(token))
    assert r.status == 404 and (await r.json())["code"] == "booking_not_found"
    r = await _exchange(client, bearer(token), b["id"], offer["offer_id"])
    assert r.status == 404
    # no Idempotency-Key
    r = await client.post(f"/v1/bookings/{b['id']}/exchange", json={"offer_id": offer["offer_id"]},
                          headers=user)
    assert r.status == 400
    # unknown offer; expired offer
    r = await _exchange(client, user, b["id"], "xo_nope")
    assert r.status == 404 and (await r.json())["code"] == "offer_not_found"
    clock.advance(minutes=11)
    r = await _exchange(client, user, b["id"], offer["offer_id"])
    assert r.status == 410 and (await r.json())["code"] == "offer_expired"
    # no such leg; a departed leg
    r = await client.post(f"/v1/bookings/{b['id']}/legs/7/exchange-offers", json={}, headers=user)
    assert r.status == 409 and (await r.json())["code"] == "leg_not_exchangeable"
    clock.set(BUS.departure + timedelta(minutes=1))
    r = await client.post(f"/v1/bookings/{b['id']}/legs/0/exchange-offers", json={}, headers=user)
    assert r.status == 409 and (await r.json())["code"] == "leg_not_exchangeable"
