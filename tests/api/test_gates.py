"""Gates over HTTP on real PostgreSQL: every reason code online, races, replays, the offline
manifest and validator, offline taps and conflicts."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import timedelta

import pytest

from maas import auth
from maas.clock import FrozenClock
from ticketing.base45 import b45decode, b45encode
from ticketing.gate import GateValidator
from ticketing.manifest import gate_key, open_manifest
from ticketing.tokens import parse_qr, qr_payload
from tests.api.checkin_fixtures import (T0, cancel_booking, cancel_leg, insert_booking, journey,
                                        qr_for, signer)
from tests.conftest import bearer

NOW = T0 + timedelta(hours=1, minutes=35)   # bus (qdbus:1001) and rail (crh:QDN) both admit
RAIL, BUS, AIR = "crh:QDN", "qdbus:1001", "air:JNX-AIRPORT"


@pytest.fixture
def clock():
    return FrozenClock(NOW)


@pytest.fixture
async def passenger(client, db, make_account):
    acc, tok = await make_account()
    bid = await insert_booking(db, acc, categories=("adult", "child"))

    async def qr() -> str:
        r = await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))
        assert r.status == 200, await r.text()
        return (await r.json())["qr"]

    return acc, tok, bid, qr


async def validate(client, key: str, gate: str, **body):
    r = await client.post(f"/v1/gates/{gate}/validate", json=body, headers=bearer(key))
    assert r.status == 200, await r.text()
    return await r.json()


async def test_accept_then_already_used_at_another_gate(client, make_key, passenger, clock):
    _, _, bid, qr = passenger
    g1 = await make_key("gate", gate="rail-1", station=RAIL)
    g2 = await make_key("gate", gate="rail-2", station=RAIL)
    d = await validate(client, g1, "rail-1", qr=await qr())
    assert d == {"result": "accept", "code": "ok", "booking": bid, "leg": 1, "passengers": 2}
    clock.advance(30)
    d2 = await validate(client, g2, "rail-2", qr=await qr())
    assert (d2["result"], d2["code"], d2["leg"]) == ("reject", "already_used", 1)


async def test_replay_of_an_accepted_code_at_a_second_gate(client, db, make_key, passenger):
    _, _, bid, qr = passenger
    bus = await make_key("gate", gate="bus-7", station=BUS)
    rail = await make_key("gate", gate="rail-1", station=RAIL)
    code = await qr()
    assert (await validate(client, bus, "bus-7", qr=code))["code"] == "ok"
    # the same code (same step) at the rail gate, whose leg is still unused: refused
    d = await validate(client, rail, "rail-1", qr=code)
    assert (d["result"], d["code"]) == ("reject", "code_expired")
    assert await db.fetchval("SELECT count(*) FROM gate_taps WHERE booking_id = $1", bid) == 1


async def test_two_gates_racing_on_one_leg_give_exactly_one_accept(client, db, make_key, passenger):
    _, _, bid, qr = passenger
    keys = [(f"rail-{i}", await make_key("gate", gate=f"rail-{i}", station=RAIL)) for i in range(12)]
    code = await qr()
    results = await asyncio.gather(*(validate(client, k, g, qr=code) for g, k in keys))
    codes = sorted(r["code"] for r in results)
    assert codes.count("ok") == 1
    assert set(codes) - {"ok"} <= {"already_used"}
    assert await db.fetchval("SELECT count(*) FROM gate_taps WHERE booking_id = $1", bid) == 1


async def test_screenshot_expires_and_skew_at_step_boundaries(client, make_key, passenger, clock):
    _, _, _, qr = passenger
    g = await make_key("gate", gate="rail-1", station=RAIL)
    boundary = T0 + timedelta(hours=1, minutes=40)            # a multiple of 15 s
    clock.set(boundary - timedelta(seconds=1))
    shot = await qr()                                          # code of the step before boundary
    clock.set(boundary + timedelta(seconds=30))                # two steps later
    assert (await validate(client, g, "rail-1", qr=shot))["code"] == "code_expired"
    clock.set(boundary + timedelta(seconds=14.9))              # one step later: within skew
    assert (await validate(client, g, "rail-1", qr=shot))["code"] == "ok"


async def test_each_reason_code_online(client, db, make_key, make_account, passenger, clock, settings):
    _, _, bid, qr = passenger
    rail = await make_key("gate", gate="rail-1", station=RAIL)
    air = await make_key("gate", gate="air-1", station=AIR)
    elsewhere = await make_key("gate", gate="x-1", station="crh:TJN")
    code = await qr()
    assert (await validate(client, elsewhere, "x-1", qr=code))["code"] == "wrong_station"
    nyv = await validate(client, air, "air-1", qr=code)        # air opens at T0+2h
    assert (nyv["code"], nyv["leg"], nyv["booking"]) == ("not_yet_valid", 2, bid)
    assert (await validate(client, rail, "rail-1", qr="not base45!"))["code"] == "malformed"
    assert (await validate(client, rail, "rail-1", qr="ABCDEF"))["code"] == "malformed"
    raw = bytearray(b45decode(code))
    raw[-70] ^= 1                                              # last byte of the signed part
    bad = await validate(client, rail, "rail-1", qr=b45encode(bytes(raw)))
    assert (bad["code"], bad["booking"], bad["passengers"]) == ("bad_signature", None, None)
    stranger = signer()
    foreign = qr_for(journey(bid, key_id=stranger.key_id), stranger, b"0" * 20, NOW)
    assert (await validate(client, rail, "rail-1", qr=foreign))["code"] == "unknown_key"
    clock.set(T0 + timedelta(hours=5, seconds=1))              # rail closes at T0+5h
    assert (await validate(client, rail, "rail-1", qr=await qr()))["code"] == "validity_over"
    clock.set(NOW)
    await cancel_leg(db, bid, 1)
    assert (await validate(client, rail, "rail-1", qr=code))["code"] == "cancelled"
    await cancel_booking(db, bid)
    bus = await make_key("gate", gate="bus-1", station=BUS)
    assert (await validate(client, bus, "bus-1", qr=code))["code"] == "cancelled"


async def test_gate_keys_are_bound_and_revocable(client, db, make_key, passenger, redis):
    _, tok, _, qr = passenger
    g = await make_key("gate", gate="rail-1", station=RAIL)
    r = await client.post("/v1/gates/rail-2/validate", json={"qr": await qr()}, headers=bearer(g))
    assert r.status == 403
    r = await client.post("/v1/gates/rail-1/validate", json={"qr": await qr()}, headers=bearer(tok))
    assert r.status == 403
    r = await client.post("/v1/gates/rail-1/validate", json={"qr": "x", "face": [1.0]}, headers=bearer(g))
    assert r.status == 422
    key_id = await db.fetchval("SELECT id FROM api_keys WHERE gate_id = 'rail-1'")
    await auth.revoke_key(db, key_id, redis)
    assert (await client.post("/v1/gates/rail-1/validate", json={"qr": await qr()},
                              headers=bearer(g))).status == 401
    assert (await client.get("/v1/gates/rail-1/manifest", headers=bearer(g))).status == 401


# --- offline -------------------------------------------------------------------------------


async def manifest_of(client, key: str, gate: str, day: str = "2026-11-26"):
    r = await client.get(f"/v1/gates/{gate}/manifest?date={day}", headers=bearer(key))
    assert r.status == 200, await r.text()
    env = await r.json()
    return env, open_manifest(env, gate_key(key, gate))


async def test_manifest_holds_only_this_stations_bookings(client, db, make_key, make_account, passenger):
    _, _, bid, qr = passenger
    await qr()
    acc, _ = await make_account()
    other_station = await insert_booking(db, acc, legs=(("crh:TJN", "crh:BJS", "rail", "crh:CR", 3, 5),))
    next_week = await insert_booking(db, acc, start=T0 + timedelta(days=7))
    cancelled = await insert_booking(db, acc)
    await cancel_booking(db, cancelled)
    g = await make_key("gate", gate="rail-1", station=RAIL)
    env, m = await manifest_of(client, g, "rail-1")
    assert (m.gate, m.station, str(m.date)) == ("rail-1", RAIL, "2026-11-26")
    assert set(m.entries) == {bid}
    assert m.entries[bid].passengers == 2 and [leg.index for leg in m.entries[bid].legs] == [1]
    assert m.revoked == {cancelled: None}
    assert other_station not in json.dumps(env) and next_week not in m.entries
    # the secret is only inside the ciphertext
    assert set(m.entries[bid].secrets) == {1}          # only the leg boarding here
    secret = m.entries[bid].secrets[1]
    assert base64.b64encode(secret).decode() not in json.dumps(env)
    # another gate's key cannot open it
    other = await make_key("gate", gate="rail-2", station=RAIL)
    with pytest.raises(Exception):
        open_manifest(env, gate_key(other, "rail-1"))


async def test_offline_validator_gives_the_same_codes_as_online(client, db, make_key, make_account, clock):
    """Same tickets, same clock: online endpoint and offline validator agree code by code."""
    acc, tok = await make_account()
    bids = [await insert_booking(db, acc) for _ in range(3)]
    stranger = signer()

    async def qr(bid: str) -> str:
        return (await (await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))).json())["qr"]

    codes = {b: await qr(b) for b in bids}
    online_key = await make_key("gate", gate="rail-on", station=RAIL)
    offline_key = await make_key("gate", gate="rail-off", station=RAIL)
    await cancel_leg(db, bids[2], 1)
    _, m = await manifest_of(client, offline_key, "rail-off")
    device = GateValidator(m, clock)
    raw = bytearray(b45decode(codes[bids[0]]))
    raw[-70] ^= 1                                              # inside the signed part
    cases = [
        codes[bids[0]],                                        # ok
        codes[bids[0]],                                        # already_used
        codes[bids[2]],                                        # cancelled (leg)
        b45encode(bytes(raw)),                                 # bad_signature
        qr_for(journey(bids[1], key_id=stranger.key_id), stranger, b"1" * 20, NOW),  # unknown_key
        "???",                                                 # malformed
        qr_payload(b45decode(codes[bids[1]])[:-13], [123456] * 3),  # code_expired (wrong code)
        codes[bids[1]],                                        # ok
    ]
    online, offline = [], []
    for c in cases:
        online.append((await validate(client, online_key, "rail-on", qr=c))["code"])
        offline.append(device.validate(c).code)
    assert online == offline
    assert online == ["ok", "already_used", "cancelled", "bad_signature", "unknown_key",
                      "malformed", "code_expired", "ok"]


async def test_cancelled_booking_rejected_offline_after_manifest_refresh(client, db, make_key, passenger, clock):
    _, _, bid, qr = passenger
    g = await make_key("gate", gate="rail-1", station=RAIL)
    code = await qr()
    _, before = await manifest_of(client, g, "rail-1")
    await cancel_booking(db, bid)
    _, after = await manifest_of(client, g, "rail-1")
    assert GateValidator(after, clock).validate(code).code == "cancelled"
    assert GateValidator(before, clock).validate(code).code == "ok"   # stale manifest: why refresh
    assert (await validate(client, g, "rail-1", qr=code))["code"] == "cancelled"


async def test_manifest_marks_legs_already_entered_online(client, make_key, passenger, clock):
    _, _, bid, qr = passenger
    g = await make_key("gate", gate="rail-1", station=RAIL)
    assert (await validate(client, g, "rail-1", qr=await qr()))["code"] == "ok"
    _, m = await manifest_of(client, g, "rail-1")
    assert m.entries[bid].used_legs == frozenset({1})
    clock.advance(15)
    assert GateValidator(m, clock).validate(await qr()).code == "already_used"


async def test_offline_taps_upload_idempotent_and_conflict_first_tap_wins(client, db, make_key, passenger, clock):
    _, _, bid, qr = passenger
    k1 = await make_key("gate", gate="rail-1", station=RAIL)
    k2 = await make_key("gate", gate="rail-2", station=RAIL)
    _, m1 = await manifest_of(client, k1, "rail-1")
    _, m2 = await manifest_of(client, k2, "rail-2")
    gate1, gate2 = GateValidator(m1, clock), GateValidator(m2, clock)
    # both gates offline: the passenger passes rail-2 first, a friend with a copy rail-1 later
    assert gate2.validate(await qr()).code == "ok"
    clock.advance(60)
    assert gate1.validate(await qr()).code == "ok"
    # rail-1 reconnects first and uploads (twice: idempotent)
    up1 = [t.as_json() for t in gate1.taps]
    for _ in range(2):
        r = await client.post("/v1/gates/rail-1/taps", json={"taps": up1}, headers=bearer(k1))
        assert r.status == 200, await r.text()
    assert (await r.json())["duplicates"] == 1
    r = await client.post("/v1/gates/rail-2/taps", json={"taps": [t.as_json() for t in gate2.taps]},
                          headers=bearer(k2))
    res = await r.json()
    assert (res["recorded"], res["conflicts"]) == (0, 1)
    tap = await db.fetchrow("SELECT * FROM gate_taps WHERE booking_id = $1", bid)
    assert tap["gate_id"] == "rail-2" and tap["online"] is False       # the earlier tap won
    op = await make_key("operator", operator="crh:CR")
    r = await client.get("/v1/operators/crh:CR/conflicts", headers=bearer(op))
    (c,) = (await r.json())["conflicts"]
    assert (c["booking"], c["leg"], c["winner"]["gate"], c["loser"]["gate"]) == (bid, 1, "rail-2", "rail-1")
    # re-uploading changes nothing
    await client.post("/v1/gates/rail-2/taps", json={"taps": [t.as_json() for t in gate2.taps]},
                      headers=bearer(k2))
    assert len((await (await client.get("/v1/operators/crh:CR/conflicts", headers=bearer(op))).json())["conflicts"]) == 1
    other = await make_key("operator", operator="qdbus:QDBUS")
    assert (await client.get("/v1/operators/crh:CR/conflicts", headers=bearer(other))).status == 403
    assert (await (await client.get("/v1/operators/qdbus:QDBUS/conflicts", headers=bearer(other))).json()) == {"conflicts": []}


async def test_offline_tap_after_an_online_accept_is_a_conflict(client, make_key, passenger, clock):
    _, _, bid, qr = passenger
    k1 = await make_key("gate", gate="rail-1", station=RAIL)
    k2 = await make_key("gate", gate="rail-2", station=RAIL)
    _, m2 = await manifest_of(client, k2, "rail-2")
    assert (await validate(client, k1, "rail-1", qr=await qr()))["code"] == "ok"
    clock.advance(20)
    offline = GateValidator(m2, clock)
    assert offline.validate(await qr()).code == "ok"    # offline, unaware
    tap = offline.taps[0].as_json()                     # with its proof: the QR scanned
    r = await client.post("/v1/gates/rail-2/taps", json={"taps": [tap]}, headers=bearer(k2))
    assert (await r.json())["taps"][0]["outcome"] == "conflict"
    other = {**tap, "tap_id": str(uuid.uuid4()), "booking": "bk_nope"}   # the QR proves another
    r = await client.post("/v1/gates/rail-2/taps", json={"taps": [other]}, headers=bearer(k2))
    assert (await r.json())["taps"][0]["outcome"] == "invalid_proof"


async def test_no_totp_secret_in_logs_or_responses(client, db, make_key, passenger, settings, caplog):
    _, tok, bid, qr = passenger
    g = await make_key("gate", gate="rail-1", station=RAIL)
    with caplog.at_level("DEBUG"):
        texts = [await qr()]
        for path in (f"/v1/bookings/{bid}/token", f"/v1/bookings/{bid}/qr.svg"):
            texts.append(await (await client.get(path, headers=bearer(tok))).text())
        texts.append(json.dumps(await validate(client, g, "rail-1", qr=texts[0])))
        r = await client.get("/v1/gates/rail-1/manifest", headers=bearer(g))
        manifest_text = await r.text()
    from ticketing import checkin_store as store
    secret, _ = await store.ensure_secret(db, bid, settings.data_keys(), NOW)
    from ticketing.totp import leg_secret
    forms = []
    for sec in (secret, *(leg_secret(secret, i) for i in range(3))):
        forms += [sec.hex(), base64.b64encode(sec).decode(), base64.b32encode(sec).decode(),
                  base64.b32encode(sec).decode().rstrip("="), repr(sec)]
    logs = caplog.text + "".join(str(rec.__dict__) for rec in caplog.records)
    for f in forms:
        assert f not in logs
        assert all(f not in t for t in texts)
        assert f not in manifest_text                      # only inside the ciphertext
    assert parse_qr(texts[0]).token.booking == bid


async def test_cached_secret_path_keeps_the_order_of_codes(client, db, make_key, passenger, clock):
    """Once a booking's secret is cached, accepts take one statement; refusals must still
    come out in the documented order (cancelled before code_expired and already_used)."""
    _, _, bid, qr = passenger
    bus = await make_key("gate", gate="bus-1", station=BUS)
    rail = await make_key("gate", gate="rail-1", station=RAIL)
    assert (await validate(client, bus, "bus-1", qr=await qr()))["code"] == "ok"   # secret now cached
    clock.advance(15)
    stale = await qr()
    clock.advance(45)                                   # `stale` is now three steps old
    current = await qr()                                # (a token fetched after the cancel
    await cancel_leg(db, bid, 1)                        #  would not even hold leg 1)
    assert (await validate(client, rail, "rail-1", qr=stale))["code"] == "cancelled"
    assert (await validate(client, rail, "rail-1", qr=current))["code"] == "cancelled"
    await db.execute("UPDATE booking_legs SET status = 'confirmed' WHERE booking_id = $1", bid)
    assert (await validate(client, rail, "rail-1", qr=stale))["code"] == "code_expired"
    assert (await validate(client, rail, "rail-1", qr=await qr()))["code"] == "ok"
    clock.advance(15)
    assert (await validate(client, rail, "rail-1", qr=await qr()))["code"] == "already_used"
    last = await qr()
    await cancel_booking(db, bid)
    assert (await validate(client, rail, "rail-1", qr=last))["code"] == "cancelled"


async def test_a_station_gate_admits_at_its_platforms(client, app, db, make_key, make_account, clock):
    """Rail feeds board at platforms (parent_station = the station); a gate bound to the
    station admits tickets boarding at any of its platforms, online and offline."""
    import dataclasses

    import numpy as np

    from maas.appkeys import LIVE
    from maas.live import Snapshot
    from routing.network import empty

    net = dataclasses.replace(
        empty(), stop_id=np.array(["crh:QDN", "crh:QDN_P1", "crh:QDN_P2", "crh:OTHER"], dtype=object),
        stop_parent=np.array([-1, 0, 0, -1], dtype=np.int32))
    app[LIVE].current = Snapshot(network=net, loaded=True, generation=7)
    acc, tok = await make_account()
    bid = await insert_booking(db, acc, legs=(("crh:QDN_P2", "crh:JNX", "rail", "crh:CR", 2.0, 4.0),))
    code = (await (await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))).json())["qr"]
    station = await make_key("gate", gate="qdn-1", station="crh:QDN")
    platform1 = await make_key("gate", gate="p1-1", station="crh:QDN_P1")
    assert (await validate(client, platform1, "p1-1", qr=code))["code"] == "wrong_station"
    _, m = await manifest_of(client, station, "qdn-1")
    assert set(m.stops) == {"crh:QDN", "crh:QDN_P1", "crh:QDN_P2"} and bid in m.entries
    assert GateValidator(m, clock).validate(code).code == "ok"
    assert (await validate(client, station, "qdn-1", qr=code))["code"] == "ok"
    tap = await db.fetchrow("SELECT gate_id, station FROM gate_taps WHERE booking_id = $1", bid)
    assert (tap["gate_id"], tap["station"]) == ("qdn-1", "crh:QDN_P2")   # where the leg boards


async def test_uploaded_taps_must_be_for_legs_boarding_at_the_gate(client, db, make_key, passenger):
    _, _, bid, qr = passenger
    k = await make_key("gate", gate="tjn-1", station="crh:TJN")    # no leg boards there
    tap = {"tap_id": str(uuid.uuid4()), "booking": bid, "leg": 1, "at": NOW.isoformat(),
           "qr": await qr()}
    r = await client.post("/v1/gates/tjn-1/taps", json={"taps": [tap]}, headers=bearer(k))
    body = await r.json()
    assert body["taps"][0]["outcome"] == "wrong_station" and body["unknown"] == 1
    k = await make_key("gate", gate="bus-1", station=BUS)           # leg 1 is rail
    r = await client.post("/v1/gates/bus-1/taps", json={"taps": [tap]}, headers=bearer(k))
    body = await r.json()
    assert body["taps"][0]["outcome"] == "invalid_proof" and body["refused"] == 1
    assert await db.fetchval("SELECT count(*) FROM gate_taps") == 0


async def test_two_gates_uploading_conflicting_taps_at_once(client, db, make_key, passenger, clock):
    """Both offline gates admitted the ticket and reconnect at the same moment: one tap is
    recorded, the other is a conflict, whatever order the uploads interleave in."""
    _, _, bid, qr = passenger
    keys = {g: await make_key("gate", gate=g, station=RAIL) for g in ("rail-1", "rail-2")}
    devices = {}
    for g, k in keys.items():
        devices[g] = GateValidator((await manifest_of(client, k, g))[1], clock)
    assert devices["rail-1"].validate(await qr()).code == "ok"
    clock.advance(30)
    assert devices["rail-2"].validate(await qr()).code == "ok"
    results = await asyncio.gather(*(
        client.post(f"/v1/gates/{g}/taps", json={"taps": [t.as_json() for t in devices[g].taps]},
                    headers=bearer(keys[g])) for g in keys))
    outcomes = sorted([(await r.json())["taps"][0]["outcome"] for r in results])
    assert outcomes == ["conflict", "recorded"]
    assert await db.fetchval("SELECT gate_id FROM gate_taps WHERE booking_id = $1", bid) == "rail-1"
    assert await db.fetchval("SELECT count(*) FROM tap_conflicts WHERE booking_id = $1", bid) == 1


async def test_the_decision_is_on_the_requests_one_access_line(client, make_key, passenger, caplog):
    _, _, bid, qr = passenger
    g1 = await make_key("gate", gate="rail-1", station=RAIL)
    code = await qr()
    with caplog.at_level("INFO", logger="maas.http"):
        await validate(client, g1, "rail-1", qr=code)
        await validate(client, g1, "rail-1", qr=code)
    lines = [r for r in caplog.records if r.name == "maas.http" and getattr(r, "route", "").startswith("/v1/gates")]
    assert [(r.result, r.code, r.booking, r.leg, r.gate) for r in lines] == [
        ("accept", "ok", bid, 1, "rail-1"), ("reject", "already_used", bid, 1, "rail-1")]
    assert not [r for r in caplog.records if r.name == "maas.api.gates"]   # no second line


@pytest.mark.parametrize("d", [
    dict(result="accept", code="ok", booking="bk_1", leg=1, passengers=2),
    dict(result="accept", code="ok", booking="bk_2", leg=0, passengers=1, passenger=3),
    dict(result="reject", code="malformed"),
    dict(result="reject", code="already_used", booking="bk_é\u2028\"/\\ü", leg=0, passengers=4),
])
def test_a_plain_decision_is_written_as_the_model_writes_it(d):
    """The common decision (no window, no replacement) skips the model: the same bytes."""
    from maas.api.gates import Validation, _plain_validation
    from ticketing.gate import Decision

    fast = _plain_validation(Decision(**d))
    model = Validation(**{"booking": None, "leg": None, "passengers": None, **d})
    assert fast.text == model.model_dump_json()
    assert fast.content_type == "application/json" and fast.charset == "utf-8"
