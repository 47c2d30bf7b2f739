"""Refund quotes, per-passenger categories checked against the ID number, child prices.

The live network is the sample network (ticketing/sample.py): city bus K5 and rail G.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.test_bookings import (  # noqa: F401  (fixtures)
    BUS, ID1, ITIN, RAIL, T0, book, body, clock, user)

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
    from tests.conftest import bearer
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
