"""The whole journey over HTTP with the bookings area's real endpoints: plan -> book ->
confirm -> one QR token -> the gates of every leg -> cancel -> refused."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from maas.clock import FrozenClock
from ticketing.tokens import parse_qr
from tests.conftest import bearer


@pytest.fixture
def clock():
    return FrozenClock(datetime(2026, 11, 28, 8, tzinfo=timezone.utc))


async def book(client, tok: str, itinerary: str, passengers: list[dict]) -> str:
    r = await client.post("/v1/bookings", json={"itinerary_id": itinerary, "passengers": passengers},
                          headers={**bearer(tok), "Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 201, await r.text()
    bid = (await r.json())["id"]
    r = await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))
    assert r.status == 409                                   # held, not paid yet
    r = await client.post(f"/v1/bookings/{bid}/confirm", json={"payment_ref": "pay"}, headers=bearer(tok))
    assert (await r.json())["status"] == "confirmed"
    return bid


async def test_one_token_through_every_gate_of_a_booked_journey(live, make_account, make_key, clock):
    client = live
    r = await client.get("/v1/plan", params={"from": "bus:B1", "to": "rail:R4",
                                             "date": "2026-12-01", "time": "06:30"})
    it = (await r.json())["itineraries"][0]
    _, tok = await make_account()
    other = await book(client, tok, it["id"], [{"name": "王五", "id_number": "11010519491231002X"}])
    bid = await book(client, tok, it["id"], [
        {"name": "张三", "id_number": "11010519491231002X"},
        {"name": "李四", "id_number": "110105201801010019", "category": "child"}])

    async def qr(booking: str = bid) -> str:
        r = await client.get(f"/v1/bookings/{booking}/token", headers=bearer(tok))
        assert r.status == 200, await r.text()
        return (await r.json())["qr"]

    token = parse_qr(await qr()).token
    assert token.booking == bid and dict(token.passengers) == {"adult": 1, "child": 1}
    assert len(token.legs) == 2                              # bus, then rail
    gates = []
    for leg in token.legs:
        gates.append(await make_key("gate", gate=f"g-{leg.index}", station=leg.board))
    # too early at the bus stop
    r = await client.post("/v1/gates/g-0/validate", json={"qr": await qr()}, headers=bearer(gates[0]))
    assert (await r.json())["code"] == "not_yet_valid"
    # the other booking is cancelled through the bookings API at the bus stop: refused
    clock.set(token.legs[0].valid_from + timedelta(minutes=1))
    shown = await qr(other)
    r = await client.post(f"/v1/bookings/{other}/cancel", json={}, headers={
        **bearer(tok), "Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 200, await r.text()
    r = await client.post("/v1/gates/g-0/validate", json={"qr": shown}, headers=bearer(gates[0]))
    assert (await r.json())["code"] == "cancelled"
    # board the bus, then the train, with the same token
    for leg, key in zip(token.legs, gates):
        clock.set(max(leg.valid_from + timedelta(minutes=1), clock.now()))
        r = await client.post(f"/v1/gates/g-{leg.index}/validate", json={"qr": await qr()}, headers=bearer(key))
        assert await r.json() == {"result": "accept", "code": "ok", "booking": bid,
                                  "leg": leg.index, "passengers": 2}
        clock.advance(15)
    # the same code again at the train gate: the leg is entered
    r = await client.post("/v1/gates/g-1/validate", json={"qr": await qr()}, headers=bearer(gates[1]))
    assert (await r.json())["code"] == "already_used"
