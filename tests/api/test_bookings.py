"""Bookings over HTTP: hold, confirm, cancel, read; Idempotency-Key; bad input; capacity.

The live network is the sample network (ticketing/sample.py): city bus K5 and rail G.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from maas.api.bookings import BOOKINGS
from maas.app import create_app
from maas.appkeys import DB, LIVE
from maas.clock import FrozenClock
from maas.live import Snapshot
from ticketing.sample import itinerary_id, leg_key, sample_network
from tests.conftest import bearer

NET = sample_network()
DAY = date(2026, 12, 1)
T0 = datetime(2026, 11, 28, 8, tzinfo=timezone.utc)
ID1, ID2 = "11010519491231002X", "440524188001010014"
BUS = leg_key(NET, "bus:K5-0700", DAY, 0, 4)
RAIL = leg_key(NET, "rail:G-0800", DAY, 0, 3)
ITIN = itinerary_id(NET, [BUS, RAIL])


@pytest.fixture
def clock():
    return FrozenClock(T0)


def go_live(app, versions=None) -> None:
    app[LIVE].current = Snapshot(network=NET, versions=versions or dict(zip(NET.feeds,
                                                                              NET.feed_versions)),
                                 loaded=True)


@pytest.fixture
async def user(client, app, make_account):
    go_live(app)
    _, token = await make_account()
    return bearer(token)


def body(itin: str = ITIN, pax=None) -> dict:
    return {"itinerary_id": itin,
            "passengers": pax if pax is not None else [{"name": "张三", "id_number": ID1, "category": "adult"},
                                  {"name": "李四", "id_number": ID2, "category": "senior"}]}


async def book(client, user, payload=None, key=None):
    headers = {**user, "Idempotency-Key": key or str(uuid.uuid4())}
    return await client.post("/v1/bookings", json=payload or body(), headers=headers)


async def test_hold_confirm_cancel_end_to_end(client, user, clock):
    r = await book(client, user)
    assert r.status == 201, await r.text()
    b = await r.json()
    assert b["status"] == "held"
    assert datetime.fromisoformat(b["expires_at"]) == T0 + timedelta(minutes=15)
    assert [(g["leg"], g["operator"], g["from_stop"], g["to_stop"]) for g in b["legs"]] == [
        (0, "bus:JNBUS", "bus:B1", "bus:B5"), (1, "rail:CR", "rail:R1", "rail:R4")]
    assert b["legs"][1]["price_source"] == "fare:rail:F-JN-QD"
    cents = sum(round(float(g["price"]["amount"]) * 100) for g in b["legs"])
    assert round(float(b["total"]["amount"]) * 100) == cents and b["total"]["currency"] == "CNY"
    assert [(p["name"], p["id_number"]) for p in b["passengers"]] == [
        ("张*", "110*************2X"), ("李*", "440*************14")]
    text = await r.text()
    assert ID1 not in text and "张三" not in text

    r = await client.post(f"/v1/bookings/{b['id']}/confirm", json={"payment_ref": "wx-1"},
                          headers=user)
    c = await r.json()
    assert r.status == 200 and c["status"] == "confirmed" and len(c["tickets"]) == 4
    assert c["paid"] == c["total"]

    got = await (await client.get(f"/v1/bookings/{b['id']}", headers=user)).json()
    assert got == c

    clock.set(RAIL.departure - timedelta(hours=3))   # rail < 24 h: 80 %; bus full until departure
    r = await client.post(f"/v1/bookings/{b['id']}/cancel", headers=user)
    x = await r.json()
    assert r.status == 200 and x["status"] == "cancelled"
    bus, rail = (round(float(g["price"]["amount"]) * 100) for g in c["legs"])
    assert round(float(x["refund"]["amount"]) * 100) == round(rail * 0.8) + bus
    assert {t["status"] for t in x["tickets"]} == {"cancelled"}
    r = await client.post(f"/v1/bookings/{b['id']}/confirm", json={"payment_ref": "wx-2"},
                          headers=user)
    assert r.status == 409 and (await r.json())["code"] == "booking_cancelled"


async def test_cancel_one_leg_reprices_the_rest(client, user):
    b = await (await book(client, user)).json()
    await client.post(f"/v1/bookings/{b['id']}/confirm", json={"payment_ref": "p"}, headers=user)
    r = await client.post(f"/v1/bookings/{b['id']}/legs/1/cancel", headers=user)
    x = await r.json()
    assert r.status == 200 and x["status"] == "confirmed"
    assert [g["status"] for g in x["legs"]] == ["confirmed", "cancelled"]
    assert float(x["legs"][0]["price"]["amount"]) > float(b["legs"][0]["price"]["amount"])
    assert x["total"] == x["legs"][0]["price"]
    r = await client.post(f"/v1/bookings/{b['id']}/legs/1/cancel", headers=user)
    assert r.status == 409 and (await r.json())["code"] == "leg_not_cancellable"
    r = await client.post(f"/v1/bookings/{b['id']}/legs/x/cancel", headers=user)
    assert r.status == 400


async def test_every_write_answers_what_a_read_then_returns(client, user, clock):
    """confirm and cancel build their response from the rows they locked and wrote (no
    read after the write): it must be the booking exactly as GET then returns it."""
    async def same_as_read(r, bid):
        assert r.status in (200, 201), await r.text()
        got = await client.get(f"/v1/bookings/{bid}", headers=user)
        assert await r.json() == await got.json()
        assert r.headers["Content-Type"] == got.headers["Content-Type"] == \
            "application/json; charset=utf-8"
        return await got.json()

    def post(path):
        return client.post(path, json={"payment_ref": "p-1"}, headers=user)

    # confirmed, then one leg cancelled (the rest re-priced), then the rest cancelled
    a = await same_as_read(r := await book(client, user), (await r.json())["id"])
    clock.advance(minutes=1)
    await same_as_read(await post(f"/v1/bookings/{a['id']}/confirm"), a["id"])
    clock.set(RAIL.departure - timedelta(hours=3))
    x = await same_as_read(await post(f"/v1/bookings/{a['id']}/legs/0/cancel"), a["id"])
    assert [t["status"] for t in x["tickets"]] == ["cancelled", "cancelled", "issued", "issued"]
    x = await same_as_read(await post(f"/v1/bookings/{a['id']}/cancel"), a["id"])
    assert x["cancelled_at"] is not None and int(x["refund"]["amount"].replace(".", "")) > 0

    # held: one leg cancelled, then confirmed (tickets for the other leg only), then cancelled
    clock.set(T0)
    b = (await (await book(client, user)).json())
    x = await same_as_read(await post(f"/v1/bookings/{b['id']}/legs/1/cancel"), b["id"])
    assert x["status"] == "held" and [g["status"] for g in x["legs"]] == ["held", "cancelled"]
    x = await same_as_read(await post(f"/v1/bookings/{b['id']}/confirm"), b["id"])
    assert {t["leg"] for t in x["tickets"]} == {0} and x["paid"] == x["total"]
    await same_as_read(await post(f"/v1/bookings/{b['id']}/cancel"), b["id"])

    # held, cancelled as a whole
    c = (await (await book(client, user)).json())
    x = await same_as_read(await post(f"/v1/bookings/{c['id']}/cancel"), c["id"])
    assert x["status"] == "cancelled" and x["refund"]["amount"] == "0.00"


async def test_expired_hold_cannot_be_confirmed(client, user, clock):
    b = await (await book(client, user)).json()
    clock.advance(minutes=15)
    got = await (await client.get(f"/v1/bookings/{b['id']}", headers=user)).json()
    assert got["status"] == "expired" and {g["status"] for g in got["legs"]} == {"expired"}
    r = await client.post(f"/v1/bookings/{b['id']}/confirm", json={"payment_ref": "p"},
                          headers=user)
    assert r.status == 409 and (await r.json())["code"] == "hold_expired"


async def test_someone_elses_booking_is_404(client, user, make_account):
    b = await (await book(client, user)).json()
    _, other = await make_account()
    for method, path, payload in [
        ("GET", f"/v1/bookings/{b['id']}", None),
        ("POST", f"/v1/bookings/{b['id']}/confirm", {"payment_ref": "p"}),
        ("POST", f"/v1/bookings/{b['id']}/cancel", None),
        ("POST", f"/v1/bookings/{b['id']}/legs/0/cancel", None),
        ("GET", "/v1/bookings/bk_nope", None),
    ]:
        r = await client.request(method, path, json=payload, headers=bearer(other))
        assert r.status == 404, path
        assert (await r.json())["code"] == "booking_not_found"
    page = await (await client.get("/v1/bookings", headers=bearer(other))).json()
    assert page == {"items": [], "next_cursor": None}


async def test_list_is_own_newest_first_and_paged(client, user, clock):
    ids = []
    for _ in range(5):
        ids.append((await (await book(client, user)).json())["id"])
        clock.advance(seconds=1)
    seen, cursor = [], None
    while True:
        q = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await (await client.get("/v1/bookings" + q, headers=user)).json()
        seen += [b["id"] for b in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    r = await client.get("/v1/bookings?cursor=%%%", headers=user)
    assert r.status == 400


async def test_missing_idempotency_key_is_400(client, user):
    r = await client.post("/v1/bookings", json=body(), headers=user)
    assert r.status == 400 and (await r.json())["code"] == "idempotency_key_missing"
    assert await client.app[DB].fetchval("SELECT count(*) FROM bookings") == 0


@pytest.mark.parametrize("pax,field", [
    ([{"name": "", "id_number": ID1}], "passengers[0].name"),
    ([{"name": "A", "id_number": ID1}, {"name": "B", "id_number": "110105194912310021"}],
     "passengers[1].id_number"),
    ([{"name": "A", "id_number": "E12", "id_type": "passport"}], "passengers[0].id_number"),
    ([{"name": "A", "id_number": ID1, "category": "student"}], "passengers[0].category"),
    ([], "passengers"),
])
async def test_invalid_passenger_is_422_naming_the_field(client, user, pax, field, caplog):
    caplog.set_level(logging.DEBUG)
    r = await book(client, user, body(pax=pax))
    problem = await r.json()
    assert r.status == 422 and problem["field"] == field, problem
    assert "110105194912310021" not in await r.text()
    assert "110105194912310021" not in caplog.text


async def test_sold_out_names_the_leg_and_holds_nothing(client, user, app):
    await app[BOOKINGS].pool.execute(
        "INSERT INTO seat_capacity (scope, ref_id, feed, seats) VALUES ('trip', 'rail:G-0800', 'rail', 3)")
    assert (await book(client, user)).status == 201
    r = await book(client, user)
    problem = await r.json()
    assert r.status == 409 and problem["code"] == "sold_out" and problem["leg"] == 1
    assert await app[DB].fetchval("SELECT count(*) FROM bookings") == 1


async def test_itinerary_from_another_timetable_is_410(client, user, app):
    go_live(app, {"bus": "bus-v2", "rail": "rail-v1"})
    r = await book(client, user)
    assert r.status == 410 and (await r.json())["code"] == "itinerary_stale"
    r = await book(client, user, body(itin=ITIN[:-3] + "AAA"))
    assert r.status == 400


async def test_same_key_same_body_replays_also_after_restart(client, user, settings, clock,
                                                            aiohttp_client):
    key = str(uuid.uuid4())
    first = await book(client, user, key=key)
    again = await book(client, user, key=key)
    assert again.status == 201 and await again.json() == await first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = await book(client, user, body(pax=[{"name": "王五", "id_number": ID1}]), key=key)
    assert other.status == 422 and (await other.json())["code"] == "idempotency_key_reused"
    # a second process over the same database (a restart) answers the same
    app2 = create_app(settings, clock=clock)
    client2 = await aiohttp_client(app2)
    go_live(app2)
    replay = await client2.post("/v1/bookings", json=body(), headers={**user, "Idempotency-Key": key})
    assert replay.status == 201 and await replay.json() == await first.json()
    assert await client.app[DB].fetchval("SELECT count(*) FROM bookings") == 1


async def test_concurrent_requests_with_one_key_make_one_booking(client, user, app):
    key = str(uuid.uuid4())
    rs = await asyncio.gather(*(book(client, user, key=key) for _ in range(8)))
    bodies = [await r.json() for r in rs]
    assert {r.status for r in rs} == {201}
    assert len({b["id"] for b in bodies}) == 1
    assert await app[DB].fetchval("SELECT count(*) FROM bookings") == 1
    assert await app[DB].fetchval("SELECT count(*) FROM booking_events") == 1


async def test_confirm_with_idempotency_key_replays(client, user):
    b = await (await book(client, user)).json()
    h = {**user, "Idempotency-Key": "confirm-" + b["id"]}
    r1 = await client.post(f"/v1/bookings/{b['id']}/confirm", json={"payment_ref": "p"}, headers=h)
    r2 = await client.post(f"/v1/bookings/{b['id']}/confirm", json={"payment_ref": "p"}, headers=h)
    assert r1.status == r2.status == 200 and await r1.json() == await r2.json()
    r3 = await client.post(f"/v1/bookings/{b['id']}/confirm", json={"payment_ref": "p"},
                           headers=user)
    assert r3.status == 409


async def test_capacity_by_the_owning_operator(client, user, app, make_key):
    await app[DB].execute("INSERT INTO feeds (name, operator_id) VALUES ('rail', 'op-cr')")
    own = bearer(await make_key("operator", operator="op-cr"))
    other = bearer(await make_key("operator", operator="op-bus"))
    r = await client.put("/v1/feeds/rail/capacity", json={"trip_id": "G-0800", "seats": 2},
                         headers=other)
    assert r.status == 403
    r = await client.put("/v1/feeds/rail/capacity", json={"trip_id": "G-0800", "seats": 2},
                         headers=own)
    assert r.status == 200 and await r.json() == {"feed": "rail", "route_id": None,
                                                  "trip_id": "rail:G-0800", "seats": 2}
    for payload in ({"seats": 2}, {"route_id": "G", "trip_id": "G-0800", "seats": 2},
                    {"route_id": "nope", "seats": 2}, {"route_id": "G", "seats": -1}):
        r = await client.put("/v1/feeds/rail/capacity", json=payload, headers=own)
        assert r.status == 422, payload
    assert (await client.put("/v1/feeds/nofeed/capacity", json={"route_id": "G", "seats": 1},
                             headers=own)).status == 404
    assert (await client.put("/v1/feeds/rail/capacity", json={"route_id": "G", "seats": 1},
                             headers=user)).status == 403
    assert (await book(client, user)).status == 201                # 2 passengers, 2 seats
    r = await book(client, user, body(pax=[{"name": "A", "id_number": ID1}]))
    assert r.status == 409 and (await r.json())["leg"] == 1


async def test_rotating_the_data_key_keeps_passengers_readable(client, user, app, settings):
    from maas.services import keyring_of, rotate_personal_data
    from maas.settings import DataKeys
    from ticketing.pii import pii_aad
    b = await (await book(client, user)).json()
    rotated = settings.model_copy(update={
        "secret_keys": DataKeys.generate_text("k2") + "," + settings.secret_keys})
    assert await rotate_personal_data(app[DB], rotated) == 2
    assert await rotate_personal_data(app[DB], rotated) == 0
    row = await app[DB].fetchrow("SELECT * FROM booking_passengers WHERE booking_id=$1 "
                                 "AND passenger_no=1", b["id"])
    assert row["key_id"] == "k2"
    assert keyring_of(rotated).decrypt("k2", row["id_number_ct"],
                                       pii_aad(b["id"], 1, "id_number")) == ID2


def test_the_body_is_byte_for_byte_what_the_model_gives():
    from maas.api.bookings import render, render_json, stop_zones, utc_zone
    from ticketing.store import BookingView, LegView, PassengerView, TicketView
    cst = timezone(timedelta(hours=8))
    t = datetime(2026, 11, 28, 8, 0, 0, 123456, tzinfo=timezone.utc)
    legs = (LegView(0, "confirmed", "bus", "bus:JNBUS", "济南公交 \"K\"", "bus", "bus:K5",
                    "bus:K5-0700", DAY, "bus:B1", "bus:B5", t, t + timedelta(minutes=40), 350, 0,
                    "tariff:bus"),
            LegView(1, "cancelled", "rail", "rail:CR", "CR", "rail", "rail:G", "rail:G-0800@08:00:00",
                    DAY, "rail:R1", "rail:R4", t.astimezone(cst), t + timedelta(hours=3), 11258,
                    9006, "fare:rail:F-JN-QD"))
    pax = (PassengerView(0, "adult", "prc_id", "张*", "110*************2X"),
           PassengerView(1, "child", "passport", "李*", "E1*****8"))
    tickets = (TicketView("tk_1", 0, 0, "issued"), TicketView("tk_2", 1, 1, "cancelled"))
    views = [
        BookingView("bk_1", "held", "itin-1", "CNY", 11608, 0, 0, t + timedelta(minutes=15), t,
                    None, None, None, legs, pax),
        BookingView("bk_2", "confirmed", "itin-2", "CNY", 350, 11608, 9006, t, t, t,
                    t + timedelta(seconds=1), "wx \u2603 1", legs, pax, tickets),
        BookingView("bk_3", "cancelled", "", "EUR", 0, 0, 0, t, t, None, t, "", (), (), ()),
        BookingView("bk_4", "confirmed", "itin-4", "CNY", 350, 11608, 9006, t, t, t, None, "p",
                    legs, pax, tickets, {"state": "rebook_failed", "at": t.isoformat(),
                                         "legs": [0, 1], "refund_minor": 350}),
        BookingView("bk_5", "confirmed", "itin-5", "CNY", 350, 11608, 0, t, t, t, None, "p",
                    legs, pax, tickets, {"state": "rebooked", "at": t.isoformat(), "legs": [1],
                                         "by": [2]}),
    ]
    for v in views:
        for zone in (utc_zone, stop_zones(Snapshot(network=NET))):
            assert (render_json(v, zone)
                    == render(v, zone).model_dump_json(by_alias=True).encode())


async def test_a_used_key_replays_even_where_the_request_would_now_fail(client, user, app):
    key = str(uuid.uuid4())
    first = await book(client, user, key=key)
    go_live(app, {"bus": "bus-v2", "rail": "rail-v1"})    # the itinerary is stale now
    again = await book(client, user, key=key)
    assert again.status == 201 and await again.json() == await first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    go_live(app)
    other = await book(client, user, body(pax=[{"name": "王五", "id_number": ID1}]), key=key)
    assert other.status == 422 and (await other.json())["code"] == "idempotency_key_reused"


async def test_cancel_with_idempotency_key_replays_and_keys_are_per_request(client, user, app):
    b = await (await book(client, user)).json()
    h = {**user, "Idempotency-Key": "cancel-" + b["id"]}
    r1 = await client.post(f"/v1/bookings/{b['id']}/cancel", json={}, headers=h)
    r2 = await client.post(f"/v1/bookings/{b['id']}/cancel", json={}, headers=h)
    assert r1.status == r2.status == 200 and await r1.json() == await r2.json()
    assert (await r1.json())["status"] == "cancelled"
    assert r2.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in r1.headers
    # the same key on another endpoint is another request
    r3 = await client.post(f"/v1/bookings/{b['id']}/confirm", json={"payment_ref": "p"}, headers=h)
    assert r3.status == 422 and (await r3.json())["code"] == "idempotency_key_reused"
    events = await app[DB].fetch("SELECT event FROM booking_events WHERE booking_id = $1 "
                                 "ORDER BY id", b["id"])
    assert [e["event"] for e in events] == ["hold", "cancel"]
