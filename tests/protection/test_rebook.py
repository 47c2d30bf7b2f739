"""Automatic rebooking (issue 11): a disrupted booking is re-planned from where the passenger
will be and its broken legs swapped at no cost (`rebooked`), or, with no alternative or no
seats, `rebook_failed` with the full refund of the broken legs offered and taken by a cancel.

Line feed (tests/protection/conftest.py): T1 A 08:00 -> B 08:20; U1 B 08:40, U2 B 09:10,
U3 B 09:40 -> C (+30 min); rail boarding asks 15 min.
"""

from __future__ import annotations

import asyncio
from datetime import date

from tests.conftest import bearer
from tests.polling import eventually
from tests.protection.conftest import push
from tests.realtime.rt_messages import message, trip_update

from maas.appkeys import DB
from ticketing import protection_store as pstore
from ticketing import store


async def events(client, bid: str, token: str) -> list[dict]:
    r = await client.get(f"/v1/bookings/{bid}/events", headers=bearer(token))
    body = await r.json()
    assert r.status == 200, body
    return body["items"]


async def booking(client, bid: str, token: str) -> dict:
    r = await client.get(f"/v1/bookings/{bid}", headers=bearer(token))
    body = await r.json()
    assert r.status == 200, body
    return body


async def settled(app, client, bid, token, event: str) -> list[dict]:
    """The booking's events once `event` is among them and no job is open."""
    async def done():
        evs = await events(client, bid, token)
        idle = await pstore.open_jobs(app[DB]) == 0
        return evs if idle and any(e["event"] == event for e in evs) else None
    try:
        return await eventually(done)
    except AssertionError:
        print("DEBUG", await events(client, bid, token))
        print("DEBUG", [dict(r) for r in await app[DB].fetch("SELECT * FROM protection_jobs")])
        raise


async def taken(app, clock, trip: str) -> int:
    key = (trip, date(2026, 11, 23), 0)
    return (await store.occupancy(app[DB], [key], clock.now()))[key]


async def test_a_missed_connection_is_rebooked_onto_the_next_train_at_no_cost(
        app, line, line_key, book, clock):
    bid, token, trips = await book()
    assert trips == ["line:T1", "line:U1"]
    before = await booking(line, bid, token)
    # T1 arrives at B 10 min late (08:30): U1 at 08:40 leaves 10 min after, 15 are asked
    await push(line, line_key, message(trip_update("e1", "T1", delays=[(2, "B", 600)])))
    evs = await settled(app, line, bid, token, "rebooked")
    assert [e["event"] for e in evs] == ["held", "confirmed", "disrupted", "rebooked"]
    ev = evs[-1]
    assert ev["leg_no"] == 1 and ev["status"] == "confirmed"
    d = ev["detail"]
    assert (d["replaced"], d["by"], d["from_stop"]) == ([1], [2], "line:B")
    assert d["old_arrival"] == "2026-11-23T09:10:00+08:00"           # U1 at C, local to C
    assert d["new_arrival"] == "2026-11-23T09:40:00+08:00"           # U2 at C
    assert d["ready_at"] == "2026-11-23T08:30:00+08:00"              # T1 at B, 10 min late
    assert d["charged_minor"] == 0 and "fare_difference_minor" in d

    after = await booking(line, bid, token)
    legs = {g["leg"]: g for g in after["legs"]}
    assert [legs[n]["status"] for n in (0, 1, 2)] == ["confirmed", "replaced", "confirmed"]
    assert (legs[0]["trip_id"], legs[2]["trip_id"]) == ("line:T1", "line:U2")
    assert legs[2]["from_stop"] == "line:B" and legs[2]["to_stop"] == "line:C"
    # no cost: the new leg is recorded at what the old one was paid, nothing charged or refunded
    assert legs[2]["price"] == before["legs"][1]["price"]
    assert (after["total"], after["paid"], after["refund"]) == \
        (before["total"], before["paid"], before["refund"])
    tickets = {(t["leg"], t["status"]) for t in after["tickets"]}
    assert tickets == {(0, "issued"), (1, "cancelled"), (2, "issued")}
    assert after["protection"]["state"] == "rebooked" and after["protection"]["legs"] == [1]
    assert after["protection"]["refund_offer"] is None
    # the seats moved through the inventory: U1 free again, U2 taken
    assert (await taken(app, clock, "line:U1"), await taken(app, clock, "line:U2")) == (0, 1)
    # the new leg keeps the connection it was sold with: not disrupted by the same state again
    row = await app[DB].fetchrow("SELECT connection_s FROM booking_legs WHERE booking_id = $1 "
                                 "AND leg_no = 2", bid)
    assert row["connection_s"] == 900


async def test_a_rebooked_leg_that_is_disrupted_again_is_rebooked_again(app, line, line_key,
                                                                        book, clock):
    bid, token, _ = await book()
    await push(line, line_key, message(trip_update("e1", "T1", delays=[(2, "B", 600)])))
    await settled(app, line, bid, token, "rebooked")
    await push(line, line_key, message(trip_update("e1", "T1", delays=[(2, "B", 600)]),
                                       trip_update("e2", "U2", canceled=True)))

    async def twice():
        evs = await events(line, bid, token)
        return evs if [e["event"] for e in evs].count("rebooked") == 2 else None
    evs = await eventually(twice)
    assert [e["event"] for e in evs] == ["held", "confirmed", "disrupted", "rebooked",
                                         "disrupted", "rebooked"]
    assert (evs[4]["leg_no"], evs[4]["detail"]["reason"]) == (2, "cancelled")
    assert (evs[5]["detail"]["replaced"], evs[5]["detail"]["by"]) == ([2], [3])
    after = await booking(line, bid, token)
    active = [(g["leg"], g["trip_id"]) for g in after["legs"] if g["status"] == "confirmed"]
    assert active == [(0, "line:T1"), (3, "line:U3")]
    assert [await taken(app, clock, t) for t in ("line:U1", "line:U2", "line:U3")] == [0, 0, 1]


async def test_no_alternative_fails_and_offers_the_broken_legs_in_full(app, line, line_key,
                                                                       book, clock):
    bid, token, _ = await book()
    paid = (await booking(line, bid, token))["paid"]
    # T1 is the only way out of A: nothing replaces it
    await push(line, line_key, message(trip_update("e1", "T1", canceled=True)))
    evs = await settled(app, line, bid, token, "rebook_failed")
    assert [e["event"] for e in evs] == ["held", "confirmed", "disrupted", "rebook_failed"]
    d = evs[-1]["detail"]
    assert (d["legs"], d["reason"], d["from_stop"]) == ([0, 1], "no_alternative", "line:A")
    b = await booking(line, bid, token)
    assert b["status"] == "confirmed"
    assert b["protection"]["state"] == "rebook_failed"
    offer = b["protection"]["refund_offer"]
    assert offer == {"legs": [0, 1], "refund": paid}
    assert d["refund_minor"] > 0
    # the quote of a cancel shows the full refund, where the rules alone keep a fee (< 24 h)
    r = await line.get(f"/v1/bookings/{bid}/refund-quote", headers=bearer(token))
    assert (await r.json())["refund"] == paid
    # a second update that changes nothing new writes no second rebook_failed
    await push(line, line_key, message(trip_update("e1", "T1", canceled=True)))
    evs = await settled(app, line, bid, token, "rebook_failed")
    assert [e["event"] for e in evs].count("rebook_failed") == 1
    # legs the offer does not name are refused
    r = await line.post(f"/v1/bookings/{bid}/cancel", json={"legs": [5]}, headers=bearer(token))
    assert r.status == 409 and (await r.json())["code"] == "no_refund_offer"
    assert r.content_type == "application/problem+json"
    r = await line.post(f"/v1/bookings/{bid}/cancel", json={"legs": [0, 1]}, headers=bearer(token))
    body = await r.json()
    assert r.status == 200, body
    assert body["status"] == "cancelled" and body["refund"] == paid
    assert body["protection"]["refund_offer"] is None
    assert await taken(app, clock, "line:T1") == 0


async def test_the_offer_is_withdrawn_when_the_connection_works_again(app, line, line_key,
                                                                      book):
    bid, token, _ = await book()
    paid = (await booking(line, bid, token))["paid"]
    r = await line.get(f"/v1/bookings/{bid}/refund-quote", headers=bearer(token))
    by_the_rules = (await r.json())["refund"]
    assert by_the_rules != paid                    # (< 24 h: the rules keep a fee)
    await push(line, line_key, message(trip_update("e1", "T1", canceled=True)))
    await settled(app, line, bid, token, "rebook_failed")
    assert (await booking(line, bid, token))["protection"]["refund_offer"]["legs"] == [0, 1]
    # the operator reinstates T1 (on time): the journey as sold works again
    await push(line, line_key, message(trip_update("e1", "T1", delays=[(1, None, 0)])))
    evs = await settled(app, line, bid, token, "restored")
    assert [e["event"] for e in evs] == ["held", "confirmed", "disrupted", "rebook_failed",
                                         "restored"]
    assert evs[-1]["detail"]["legs"] == [0, 1]
    assert evs[-1]["detail"]["refund_offer"] == "withdrawn"
    b = await booking(line, bid, token)
    assert (b["status"], b["protection"]["state"], b["protection"]["refund_offer"]) == (
        "confirmed", "restored", None)
    r = await line.get(f"/v1/bookings/{bid}/refund-quote", headers=bearer(token))
    assert (await r.json())["refund"] == by_the_rules
    r = await line.post(f"/v1/bookings/{bid}/cancel", json={"legs": [0, 1]}, headers=bearer(token))
    assert r.status == 409 and (await r.json())["code"] == "no_refund_offer"
    # broken again: offered again
    await push(line, line_key, message(trip_update("e1", "T1", canceled=True)))
    evs = await eventually(lambda: _events_ending(line, bid, token, "rebook_failed"))
    assert [e["event"] for e in evs][-3:] == ["rebook_failed", "restored", "rebook_failed"]
    assert (await booking(line, bid, token))["protection"]["refund_offer"]["legs"] == [0, 1]


async def _events_ending(client, bid: str, token: str, event: str) -> list[dict] | None:
    evs = await events(client, bid, token)
    return evs if evs[-1]["event"] == event else None


async def test_without_an_offer_a_cancel_keeps_the_rules_fee(line, book):
    bid, token, _ = await book()
    b = await booking(line, bid, token)
    r = await line.post(f"/v1/bookings/{bid}/cancel", json={"legs": [0]}, headers=bearer(token))
    assert r.status == 409 and (await r.json())["code"] == "no_refund_offer"
    r = await line.post(f"/v1/bookings/{bid}/cancel", headers=bearer(token))
    body = await r.json()
    assert r.status == 200 and body["protection"] is None
    assert float(body["refund"]["amount"]) < float(b["paid"]["amount"])    # 80 % < 24 h before


async def test_when_the_only_alternative_is_full_rebooking_fails_and_sells_nothing(
        app, line, line_key, book, clock, make_key):
    bid, token, _ = await book()
    admin = await make_key("admin")
    for trip in ("line:U2", "line:U3"):
        r = await line.put("/v1/feeds/line/capacity", json={"trip_id": trip, "seats": 0},
                           headers=bearer(admin))
        assert r.status == 200, await r.text()
    await push(line, line_key, message(trip_update("e1", "T1", delays=[(2, "B", 600)])))
    evs = await settled(app, line, bid, token, "rebook_failed")
    assert evs[-1]["detail"]["reason"] == "seats_gone"
    assert evs[-1]["detail"]["legs"] == [1]
    b = await booking(line, bid, token)
    assert [(g["leg"], g["status"], g["trip_id"]) for g in b["legs"]] == [
        (0, "confirmed", "line:T1"), (1, "confirmed", "line:U1")]
    assert {t["status"] for t in b["tickets"]} == {"issued"}
    assert [await taken(app, clock, t) for t in ("line:U1", "line:U2", "line:U3")] == [1, 0, 0]
    assert b["protection"]["refund_offer"]["legs"] == [1]
    # the broken leg alone, in full; the kept leg stays booked at its price
    r = await line.post(f"/v1/bookings/{bid}/cancel", json={"legs": [1]}, headers=bearer(token))
    body = await r.json()
    assert r.status == 200, body
    assert body["status"] == "confirmed" and body["refund"] == b["legs"][1]["price"]
    assert body["total"] == b["legs"][0]["price"]


async def test_the_connection_time_is_the_one_sold(app, line, line_key, book):
    # sold with the passenger's own 10 min: a 10 min delay keeps the change (no event)
    bid, token, _ = await book(min_transfer_s=600)
    conns = await app[DB].fetch("SELECT connection_s FROM booking_legs WHERE booking_id = $1 "
                                "ORDER BY leg_no", bid)
    assert [r["connection_s"] for r in conns] == [0, 600]
    opts = await app[DB].fetchrow("SELECT modes, wheelchair, min_transfer_s FROM bookings "
                                  "WHERE id = $1", bid)
    assert (opts["modes"], opts["wheelchair"], opts["min_transfer_s"]) == (None, False, 600)
    other, other_token, _ = await book()                      # the default: rail's 15 min
    await push(line, line_key, message(trip_update("e1", "T1", delays=[(2, "B", 600)])))
    await settled(app, line, other, other_token, "rebooked")
    assert [e["event"] for e in await events(line, bid, token)] == ["held", "confirmed"]


async def test_two_updates_at_once_on_two_workers_rebook_the_booking_once(
        app, line, line_key, book, aiohttp_client, settings, clock):
    from maas.app import create_app
    from maas.appkeys import LIVE
    bid, token, _ = await book()
    other = create_app(settings, clock=clock)
    other_client = await aiohttp_client(other)
    other[LIVE].current = app[LIVE].current
    late = message(trip_update("e1", "T1", delays=[(2, "B", 600)]))
    later = message(trip_update("e1", "T1", delays=[(2, "B", 660)]))
    await asyncio.gather(push(line, line_key, late), push(other_client, line_key, later))
    evs = await settled(app, line, bid, token, "rebooked")
    assert [e["event"] for e in evs].count("rebooked") == 1
    b = await booking(line, bid, token)
    assert [(g["trip_id"], g["status"]) for g in b["legs"]] == [
        ("line:T1", "confirmed"), ("line:U1", "replaced"), ("line:U2", "confirmed")]
    assert [await taken(app, clock, t) for t in ("line:U1", "line:U2", "line:U3")] == [0, 1, 0]


async def test_the_travel_profile_sold_is_kept_for_the_connection_and_the_replan(
        app, line, line_key, book):
    # elderly: 5 min more at every change -> T1 -> U1 sold with 15 + 5 = 20 min (all the slack)
    bid, token, _ = await book(profile="elderly")
    row = await app[DB].fetchrow("SELECT profile FROM bookings WHERE id = $1", bid)
    assert row["profile"]["extra_transfer_s"] == 300 and row["profile"]["step_free"] is True
    conns = await app[DB].fetch("SELECT connection_s FROM booking_legs WHERE booking_id = $1 "
                                "ORDER BY leg_no", bid)
    assert [r["connection_s"] for r in conns] == [0, 1200]
    other, other_token, _ = await book()
    # one minute late breaks the elderly change only
    await push(line, line_key, message(trip_update("e1", "T1", delays=[(2, "B", 60)])))
    evs = await settled(app, line, bid, token, "rebooked")
    assert evs[-1]["detail"]["replaced"] == [1]
    b = await booking(line, bid, token)
    assert [g["trip_id"] for g in b["legs"] if g["status"] == "confirmed"] == ["line:T1", "line:U2"]
    assert [e["event"] for e in await events(line, other, other_token)] == ["held", "confirmed"]
