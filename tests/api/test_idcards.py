"""ID cards at the gate (issue 16) over HTTP, with real bookings: the holder is admitted on the
booking valid here and unused, one passenger at a time, online and from the manifest."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from maas.clock import FrozenClock
from maas.logs import JsonFormatter
from maas.settings import DataKeys
from ticketing.gate import GateValidator
from ticketing.idcard_store import holder_legs, index_passengers
from ticketing.idcards import blind_indexes, canonical_id, manifest_index
from ticketing.checkin_config import CheckinConfig
from ticketing.manifest import gate_key, open_manifest
from ticketing.tokens import parse_qr
from tests.conftest import bearer

SHANGHAI = ZoneInfo("Asia/Shanghai")
ZHANG = "11010519491231002X"      # valid PRC IDs (check character right)
LI = "110105201801010019"
WANG = "370102198003150011"
NOBODY = "110105198001010016"     # valid, but on no booking
MISTYPED = "110105194912310021"   # ZHANG with a wrong check character


def _valid(number: str) -> str:
    canonical_id("prc_id", number)   # raises if the fixture itself is wrong
    return number


@pytest.fixture
def clock():
    return FrozenClock(datetime(2026, 11, 28, 8, tzinfo=timezone.utc))


@pytest.fixture
def settings(settings):
    settings.gates.id_probe_limit = 3
    return settings


async def book(client, tok: str, itinerary: str, passengers: list[dict]) -> str:
    r = await client.post("/v1/bookings", json={"itinerary_id": itinerary, "passengers": passengers},
                          headers={**bearer(tok), "Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 201, await r.text()
    bid = (await r.json())["id"]
    r = await client.post(f"/v1/bookings/{bid}/confirm", json={"payment_ref": "pay"}, headers=bearer(tok))
    assert (await r.json())["status"] == "confirmed"
    return bid


@pytest.fixture
async def trip(live, make_account, make_key, clock):
    """Two bookings of one itinerary (bus, then rail): the family (张三 + 李四) and 张三 alone;
    a gate key at each leg's boarding stop; the clock inside the bus leg's window."""
    client = live
    r = await client.get("/v1/plan", params={"from": "bus:B1", "to": "rail:R4",
                                             "date": "2026-12-01", "time": "06:30"})
    it = (await r.json())["itineraries"][0]
    _, tok = await make_account()
    family = await book(client, tok, it["id"], [{"name": "张三", "id_number": _valid(ZHANG)},
                                                {"name": "李四", "id_number": _valid(LI), "category": "child"}])
    alone = await book(client, tok, it["id"], [{"name": "张三", "id_number": ZHANG}])
    r = await client.get(f"/v1/bookings/{family}/token", headers=bearer(tok))
    token = parse_qr((await r.json())["qr"]).token
    keys = [await make_key("gate", gate=f"g-{leg.index}", station=leg.board) for leg in token.legs]
    clock.set(token.legs[0].valid_from + timedelta(minutes=1))
    return client, tok, family, alone, token, keys


async def check_id(client, key: str, gate: str, number: str, id_type: str = "prc_id"):
    r = await client.post(f"/v1/gates/{gate}/validate",
                          json={"id_card": {"id_type": id_type, "number": number}}, headers=bearer(key))
    assert r.status == 200, await r.text()
    return await r.json()


async def test_each_passenger_of_a_booking_passes_with_their_own_card(trip, db):
    client, _, family, alone, token, keys = trip
    d = await check_id(client, keys[0], "g-0", LI)
    assert d == {"result": "accept", "code": "ok", "booking": family, "leg": 0, "passengers": 1,
                 "passenger": 1}
    d = await check_id(client, keys[0], "g-0", LI)
    assert (d["result"], d["code"], d["booking"]) == ("reject", "already_used", family)
    # 张三 is on both bookings: admitted on one, then on the other, then no more
    first = await check_id(client, keys[0], "g-0", ZHANG.lower())   # readers may give a lower-case x
    second = await check_id(client, keys[0], "g-0", f" {ZHANG[:6]} {ZHANG[6:]} ")
    assert {first["booking"], second["booking"]} == {family, alone}
    assert first["code"] == second["code"] == "ok"
    assert (await check_id(client, keys[0], "g-0", ZHANG))["code"] == "already_used"
    rows = await db.fetch("SELECT booking_id, passenger_no, method FROM passenger_taps ORDER BY tapped_at")
    assert sorted((r["booking_id"], r["passenger_no"]) for r in rows) == sorted(
        [(family, 1), (family, 0), (alone, 0)])


async def test_the_unused_valid_booking_is_chosen_when_a_qr_used_the_other(trip, clock):
    client, tok, family, alone, token, keys = trip
    r = await client.get(f"/v1/bookings/{family}/token", headers=bearer(tok))
    d = await client.post("/v1/gates/g-0/validate", json={"qr": (await r.json())["qr"]},
                          headers=bearer(keys[0]))
    qr_answer = await d.json()
    assert qr_answer["code"] == "ok" and "passenger" not in qr_answer   # the whole family party
    assert (await check_id(client, keys[0], "g-0", LI))["code"] == "already_used"
    d = await check_id(client, keys[0], "g-0", ZHANG)
    assert (d["code"], d["booking"], d["passenger"]) == ("ok", alone, 0)


async def test_wrong_station_not_yet_valid_cancelled(trip, make_key, clock):
    client, tok, family, alone, token, keys = trip
    # the bus stop, before the bus leg's window
    clock.set(token.legs[0].valid_from - timedelta(minutes=1))
    d = await check_id(client, keys[0], "g-0", LI)
    assert (d["code"], d["leg"], d["booking"]) == ("not_yet_valid", 0, family)
    # when it opens, local to the station (the sample feed's Asia/Shanghai) with the offset
    assert d["valid_from"] == token.legs[0].valid_from.astimezone(SHANGHAI).isoformat()
    assert d["valid_from"].endswith("+08:00") and "valid_until" not in d
    clock.set(token.legs[0].valid_from + timedelta(minutes=1))
    # a gate where no leg boards (the journey's destination)
    far = await make_key("gate", gate="g-far", station="rail:R4")
    d = await check_id(client, far, "g-far", LI)
    assert d == {"result": "reject", "code": "wrong_station", "booking": None, "leg": None,
                 "passengers": None}
    r = await client.post(f"/v1/bookings/{family}/cancel", json={}, headers={
        **bearer(tok), "Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 200, await r.text()
    d = await check_id(client, keys[0], "g-0", LI)
    assert (d["code"], d["booking"]) == ("cancelled", family)
    # 张三 still travels on the other booking
    d = await check_id(client, keys[0], "g-0", ZHANG)
    assert (d["code"], d["booking"]) == ("ok", alone)
    # after the window of the bus leg
    clock.set(token.legs[0].valid_until + timedelta(minutes=1))
    assert (await check_id(client, keys[0], "g-0", ZHANG))["code"] in ("already_used", "validity_over")


async def test_mistyped_or_forged_numbers_are_refused_by_their_check_digit(trip, db):
    client, tok, family, alone, token, keys = trip
    for id_type, number in (("prc_id", MISTYPED), ("prc_id", "1101051949123100"),
                            ("prc_id", "110105194902300027"), ("passport", "E1"),
                            ("hk_macao_permit", "X12345678"), ("taiwan_permit", "1234")):
        d = await check_id(client, keys[0], "g-0", number, id_type)
        assert (d["result"], d["code"]) == ("reject", "invalid_id"), (id_type, number)
    assert await db.fetchval("SELECT count(*) FROM passenger_taps") == 0
    # the same check at booking time: 422 naming the field, never the number
    r = await client.get("/v1/plan", params={"from": "bus:B1", "to": "rail:R4",
                                             "date": "2026-12-01", "time": "06:30"})
    it = (await r.json())["itineraries"][0]
    r = await client.post("/v1/bookings", json={"itinerary_id": it["id"], "passengers": [
        {"name": "张三", "id_number": MISTYPED}]}, headers={**bearer(tok), "Idempotency-Key": "x1"})
    assert r.status == 422
    body = await r.text()
    assert MISTYPED not in body and "passengers[0].id_number" in body


async def test_bad_requests_are_problems(trip):
    client, _, _, _, _, keys = trip
    for body in ({"id_card": {"id_type": "library_card", "number": ZHANG}},
                 {"id_card": {"id_type": "prc_id"}}, {"id_card": {"id_type": "prc_id", "number": ZHANG},
                                                      "qr": "x"}):
        r = await client.post("/v1/gates/g-0/validate", json=body, headers=bearer(keys[0]))
        assert r.status == 422 and r.content_type == "application/problem+json"
        assert ZHANG not in await r.text()


async def test_a_key_trying_many_unknown_ids_is_slowed_and_reported(trip, make_key, clock, app,
                                                                     settings):
    client, _, family, alone, token, keys = trip
    other = await make_key("gate", gate="g-0b", station=token.legs[0].board)
    for _ in range(4):      # the limit is 3 in this module: the 4th miss trips it
        assert (await check_id(client, keys[0], "g-0", NOBODY))["code"] == "unknown_id"
    r = await client.post("/v1/gates/g-0/validate",
                          json={"id_card": {"id_type": "prc_id", "number": LI}}, headers=bearer(keys[0]))
    assert r.status == 429 and r.content_type == "application/problem+json"
    body = await r.json()
    assert body["code"] == "too_many_unknown_ids"
    assert int(r.headers["Retry-After"]) == body["retry_after_s"] > 0
    # other keys are not slowed
    assert (await check_id(client, other, "g-0b", LI))["code"] == "ok"
    from maas.api.checkin import checkin_state
    alerts = await checkin_state(app).probe_alerts()
    assert [(a["gate_id"], a["misses"]) for a in alerts] == [("g-0", 4)]
    # operators read them with `maas gate alerts`
    from tests.api.test_gate_tool import maas
    code, out = await maas("gate", "alerts", "--database-url", settings.database_url,
                           "--data-dir", str(settings.data_dir))
    assert code == 0 and [(a["gate_id"], a["station"], a["misses"]) for a in out] == [
        ("g-0", token.legs[0].board, 4)]
    assert NOBODY not in json.dumps(out)
    # once the block is over, the key gets answers again
    clock.advance(int(r.headers["Retry-After"]) + 1)
    assert (await check_id(client, keys[0], "g-0", ZHANG))["code"] == "ok"


async def test_the_id_number_never_appears_in_logs_or_responses(trip, caplog):
    client, tok, family, alone, token, keys = trip
    caplog.set_level(logging.DEBUG)
    texts = []
    for number in (ZHANG, ZHANG, MISTYPED, NOBODY):
        r = await client.post("/v1/gates/g-0/validate",
                              json={"id_card": {"id_type": "prc_id", "number": number}},
                              headers=bearer(keys[0]))
        texts.append(await r.text())
    r = await client.get(f"/v1/bookings/{family}", headers=bearer(tok))
    texts.append(await r.text())
    fmt = JsonFormatter()
    lines = [fmt.format(rec) for rec in caplog.records]
    assert any(json.loads(line).get("route") == "/v1/gates/{gate}/validate" for line in lines)
    for number in (ZHANG, MISTYPED, NOBODY, ZHANG[6:14]):
        for text in texts + lines:
            assert number not in text


async def test_offline_manifest_validates_id_cards_and_uploads_which_passenger(trip, db, clock):
    client, tok, family, alone, token, keys = trip
    r = await client.get("/v1/gates/g-0/manifest", headers=bearer(keys[0]))
    env = await r.json()
    m = open_manifest(env, gate_key(keys[0], "g-0"))
    assert m.id_key and len(m.ids) == 3                   # 张三 twice, 李四 once
    assert ZHANG not in json.dumps(env) and ZHANG not in repr(m)
    gate = GateValidator(m, clock)
    d = gate.validate_id("prc_id", LI)
    assert (d.result, d.booking, d.leg, d.passenger, d.passengers) == ("accept", family, 0, 1, 1)
    assert gate.validate_id("prc_id", LI).code == "already_used"
    assert gate.validate_id("prc_id", MISTYPED).code == "invalid_id"
    assert gate.validate_id("prc_id", NOBODY).code == "not_in_manifest"
    a, b = gate.validate_id("prc_id", ZHANG), gate.validate_id("prc_id", ZHANG)
    assert {a.booking, b.booking} == {family, alone} and a.code == b.code == "ok"
    assert gate.validate_id("prc_id", ZHANG).code == "already_used"
    # the rail gate's manifest does not admit at the bus stop, nor shares an index with it
    r = await client.get("/v1/gates/g-1/manifest", headers=bearer(keys[1]))
    rail = open_manifest(await r.json(), gate_key(keys[1], "g-1"))
    assert rail.id_key != m.id_key
    assert not {x.index for x in rail.ids} & {x.index for x in m.ids}
    assert GateValidator(rail, clock).validate_id("prc_id", WANG).code == "not_in_manifest"
    clock.set(token.legs[1].valid_from - timedelta(minutes=1))
    early = GateValidator(rail, clock).validate_id("prc_id", LI)
    assert early.code == "not_yet_valid" and (m.tz, rail.tz) == ("Asia/Shanghai",) * 2
    assert early.valid_from.isoformat() == token.legs[1].valid_from.astimezone(SHANGHAI).isoformat()
    clock.set(token.legs[0].valid_from + timedelta(minutes=1))
    # taps say who passed; uploaded, the server knows (and the online gate refuses a second entry)
    taps = [t.as_json() for t in gate.taps]
    assert sorted(t["passenger"] for t in taps) == [0, 0, 1]
    assert all(t["at"].endswith("+08:00") for t in taps)         # the station's wall clock
    r = await client.post("/v1/gates/g-0/taps", json={"taps": taps}, headers=bearer(keys[0]))
    assert (await r.json())["recorded"] == 3, await r.text()
    r = await client.post("/v1/gates/g-0/taps", json={"taps": taps}, headers=bearer(keys[0]))
    assert (await r.json())["duplicates"] == 3
    assert await db.fetchval("SELECT count(*) FROM passenger_taps WHERE NOT online") == 3
    assert (await check_id(client, keys[0], "g-0", LI))["code"] == "already_used"


async def test_offline_cancelled_booking_is_refused_by_id(trip, clock):
    client, tok, family, alone, token, keys = trip
    r = await client.post(f"/v1/bookings/{family}/cancel", json={}, headers={
        **bearer(tok), "Idempotency-Key": str(uuid.uuid4())})
    assert r.status == 200
    r = await client.get("/v1/gates/g-0/manifest", headers=bearer(keys[0]))
    gate = GateValidator(open_manifest(await r.json(), gate_key(keys[0], "g-0")), clock)
    assert (gate.validate_id("prc_id", LI).code, gate.validate_id("prc_id", ZHANG).booking) == (
        "cancelled", alone)


async def test_index_backfill_and_rotation(trip, db, settings, clock):
    client, tok, family, alone, token, keys = trip
    await db.execute("UPDATE booking_passengers SET id_index = NULL, id_index_key = NULL")
    assert (await check_id(client, keys[0], "g-0", LI))["code"] == "unknown_id"
    old = settings.data_keys()
    assert await index_passengers(db, old) == 3
    assert (await check_id(client, keys[0], "g-0", LI))["code"] == "ok"
    # a new first data key: rotate-data moves the index under it; lookups with both keys find it
    new = DataKeys({"k2": bytes(range(32)), **old.keys}, "k2")
    assert await index_passengers(db, new) == 3
    assert set(await db.fetchval("SELECT array_agg(DISTINCT id_index_key) FROM booking_passengers")) == {"k2"}
    async with db.acquire() as conn:
        found = await holder_legs(conn, blind_indexes(new.keys, canonical_id("prc_id", ZHANG)),
                                  clock.now(), CheckinConfig())
        assert {r.booking for r in found} == {family, alone}
        only_old = await holder_legs(conn, blind_indexes(old.keys, canonical_id("prc_id", ZHANG)),
                                     clock.now(), CheckinConfig())
        assert only_old == []


def test_manifest_index_is_bound_to_its_key():
    for number in (ZHANG, LI, WANG, NOBODY):
        _valid(number)
    c = canonical_id("prc_id", ZHANG)
    assert manifest_index(b"a" * 32, c) != manifest_index(b"b" * 32, c)
    assert canonical_id("prc_id", ZHANG.lower()) == c != canonical_id("passport", "E12345678")


async def test_conflicts_are_shown_local_to_the_boarding_station(trip, make_key, clock):
    """Two offline gates of one station admit the same card: the operator's conflict report
    writes both taps and the detection local to the station, with the offset."""
    client, tok, family, alone, token, keys = trip
    other = await make_key("gate", gate="g-0b", station=token.legs[0].board)
    gates = []
    for gate, key in (("g-0", keys[0]), ("g-0b", other)):
        r = await client.get(f"/v1/gates/{gate}/manifest", headers=bearer(key))
        gates.append((gate, key, GateValidator(open_manifest(await r.json(), gate_key(key, gate)), clock)))
    for _, _, g in gates:
        assert g.validate_id("prc_id", LI).code == "ok"
        clock.advance(60)
    for gate, key, g in gates:
        r = await client.post(f"/v1/gates/{gate}/taps", json={"taps": [t.as_json() for t in g.taps]},
                              headers=bearer(key))
        assert r.status == 200, await r.text()
    op = await make_key("operator", operator="bus")
    r = await client.get("/v1/operators/bus/conflicts", headers=bearer(op))
    assert r.status == 200, await r.text()
    (c,) = (await r.json())["conflicts"]
    assert (c["booking"], c["winner"]["gate"], c["loser"]["gate"]) == (family, "g-0", "g-0b")
    first = token.legs[0].valid_from + timedelta(minutes=1)
    assert c["winner"]["at"] == first.astimezone(SHANGHAI).isoformat()
    assert c["loser"]["at"] == (first + timedelta(minutes=1)).astimezone(SHANGHAI).isoformat()
    assert c["detected_at"].endswith("+08:00")


async def test_id_card_entries_count_in_the_operators_checkins(trip, db, make_key):
    """GET /v1/operators/{id}/checkins counts an ID card as one check-in of one passenger,
    beside the QR entry of a party."""
    client, tok, family, alone, token, keys = trip
    await db.execute("INSERT INTO feeds (name, operator_id) VALUES ('bus', 'op-bus')")
    r = await client.get(f"/v1/bookings/{alone}/token", headers=bearer(tok))
    qr = await client.post("/v1/gates/g-0/validate", json={"qr": (await r.json())["qr"]},
                           headers=bearer(keys[0]))
    assert (await qr.json())["booking"] == alone                         # 张三's party of one
    assert (await check_id(client, keys[0], "g-0", LI))["booking"] == family
    assert (await check_id(client, keys[0], "g-0", ZHANG))["booking"] == family
    op = await make_key("operator", operator="op-bus")
    r = await client.get("/v1/operators/op-bus/checkins", headers=bearer(op))
    body = await r.json()
    assert r.status == 200, body
    assert body["total"] == 3
    assert [(s["station"], s["checkins"], s["passengers"], s["qr"], s["face"], s["id_card"],
             s["offline"]) for s in body["stations"]] == [(token.legs[0].board, 3, 3, 1, 0, 2, 0)]
