"""A gate meets a leg an exchange replaced (issue 11): online (QR, ID card, face), offline from
the manifest (the Python validator and `maas gate check`), each refuses it with `replaced`
naming the leg that replaced it; the new leg admits at its gate.

The live network is the sample network (ticketing/sample.py): bus K5 then rail G from Jinan West
(rail:R1); the rail leg is exchanged for the latest train offered, so that during the old leg's
window the new one does not admit yet.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from maas.appkeys import LIVE
from maas.live import Snapshot
from routing.planner import Planner
from ticketing.gate import GateValidator
from ticketing.manifest import gate_key, open_manifest
from ticketing.tokens import parse_qr
from tests.api.test_bookings import DAY, NET, body, clock, user  # noqa: F401  (fixtures)
from tests.api.test_exchange import ADULT_1990, _confirmed_live, _exchange, _fix, _offers
from tests.api.test_gate_tool import maas
from tests.api.test_gates_faces import DIM, face, probe_of
from tests.conftest import bearer

ID = _fix(ADULT_1990)
GATE = "g-r1"


@pytest.fixture
def planned(app, user, client):
    app[LIVE].current = Snapshot(network=NET, planner=Planner.build(NET), loaded=True,
                                 versions=dict(zip(NET.feeds, NET.feed_versions)))
    return client


@pytest.fixture
async def exchanged(planned, user, clock, make_key):
    """A confirmed booking whose rail leg 1 was exchanged for leg 2 (a later train from R1);
    the passenger's face enrolled; a gate key at R1. (client, bid, old QR, new QR, gate key,
    the new leg as the booking shows it)."""
    client = planned
    r = await client.post("/v1/accounts/face", json={"template": face(7).tolist(),
                                                     "consent": True}, headers=user)
    assert r.status == 201, await r.text()
    b = await _confirmed_live(client, user)
    bid = b["id"]
    old_qr = (await (await client.get(f"/v1/bookings/{bid}/token", headers=user)).json())["qr"]
    offer = max(await _offers(client, user, bid, 1, time="08:50"),
                key=lambda o: o["legs"][0]["departure"])
    r = await _exchange(client, user, bid, offer["offer_id"])
    assert r.status == 200, await r.text()
    x = await r.json()
    new = x["legs"][2]
    assert (x["legs"][1]["status"], x["legs"][1]["replaced_by"], new["from_stop"]) == (
        "replaced", 2, "rail:R1")
    new_qr = (await (await client.get(f"/v1/bookings/{bid}/token", headers=user)).json())["qr"]
    key = await make_key("gate", gate=GATE, station="rail:R1")
    return client, bid, old_qr, new_qr, key, new


def _windows(old_qr: str, new_qr: str):
    old = next(g for g in parse_qr(old_qr).token.legs if g.index == 1)
    new = next(g for g in parse_qr(new_qr).token.legs if g.index == 2)
    assert new.valid_from > old.valid_from + timedelta(minutes=1)   # the new one not open yet
    return old, new


def _replaced_by(new: dict) -> dict:
    """What a refusal names: the booking's new leg, its departure as the booking shows it."""
    return {"leg": 2, "trip_id": new["trip_id"], "departure": new["departure"],
            "station": new["from_stop"]}


async def _validate(client, key, req: dict) -> dict:
    r = await client.post(f"/v1/gates/{GATE}/validate", json=req, headers=bearer(key))
    assert r.status == 200, await r.text()
    return await r.json()


async def test_online_gate_refuses_the_replaced_leg_and_admits_the_new_one(exchanged, clock):
    client, bid, old_qr, new_qr, key, new = exchanged
    old, newleg = _windows(old_qr, new_qr)
    clock.set(old.valid_from + timedelta(minutes=1))
    refused = {"result": "reject", "code": "replaced", "booking": bid, "leg": 1,
               "passengers": 1, "replaced_by": _replaced_by(new)}
    assert new["departure"].endswith("+08:00")
    assert await _validate(client, key, {"qr": old_qr}) == refused
    assert await _validate(client, key, {"face": probe_of(face(7))}) == refused
    assert await _validate(client, key, {"id_card": {"id_type": "prc_id", "number": ID}}) == refused
    # the new leg, once its window opens: the card admits its holder, the face the party
    clock.set(newleg.valid_from + timedelta(minutes=1))
    ok = {"result": "accept", "code": "ok", "booking": bid, "leg": 2, "passengers": 1}
    assert await _validate(client, key, {"id_card": {"id_type": "prc_id", "number": ID}}) == {
        **ok, "passenger": 0}
    assert await _validate(client, key, {"face": probe_of(face(7))}) == ok
    # the old QR at the new leg's time: leg 1 is over (it does not name leg 2)
    clock.set(old.valid_until + timedelta(minutes=1))
    got = await _validate(client, key, {"qr": old_qr})
    assert got["code"] == "validity_over" and "replaced_by" not in got


async def test_a_face_gallery_loaded_before_the_exchange_says_replaced(planned, user, clock,
                                                                       make_key):
    """The gate's cached gallery still holds the old leg as confirmed: it looks again."""
    client = planned
    r = await client.post("/v1/accounts/face", json={"template": face(8).tolist(),
                                                     "consent": True}, headers=user)
    assert r.status == 201
    b = await _confirmed_live(client, user)
    key = await make_key("gate", gate=GATE, station="rail:R1")
    qr = (await (await client.get(f"/v1/bookings/{b['id']}/token", headers=user)).json())["qr"]
    leg1 = next(g for g in parse_qr(qr).token.legs if g.index == 1)
    clock.set(leg1.valid_from + timedelta(minutes=1))
    offer = max(await _offers(client, user, b["id"], 1, time="08:50"),
                key=lambda o: o["legs"][0]["departure"])
    # look at the gallery (no one matches this probe) while leg 1 is confirmed
    assert (await _validate(client, key, {"face": probe_of(face(99))}))["code"] == "no_face_match"
    r = await _exchange(client, user, b["id"], offer["offer_id"])
    assert r.status == 200, await r.text()
    got = await _validate(client, key, {"face": probe_of(face(8))})
    assert (got["code"], got["leg"], got["replaced_by"]["leg"]) == ("replaced", 1, 2), got


async def test_offline_manifest_carries_replaced_legs(exchanged, clock, user):
    client, bid, old_qr, new_qr, key, new = exchanged
    old, newleg = _windows(old_qr, new_qr)
    clock.set(old.valid_from + timedelta(minutes=1))
    r = await client.get(f"/v1/gates/{GATE}/manifest?date={DAY.isoformat()}", headers=bearer(key))
    assert r.status == 200, await r.text()
    m = open_manifest(await r.json(), gate_key(key, GATE))
    assert 1 in (m.revoked[bid] or ())     # a gate that predates `replaced` still refuses it
    gate = GateValidator(m, clock)
    d = gate.validate(old_qr)
    assert (d.result, d.code, d.booking, d.leg) == ("reject", "replaced", bid, 1)
    assert d.replaced_by is not None and d.replaced_by.as_json() == _replaced_by(new)
    d = gate.validate_id("prc_id", ID)
    assert (d.code, d.booking, d.leg, d.replaced_by.as_json()) == (
        "replaced", bid, 1, _replaced_by(new))
    clock.set(newleg.valid_from + timedelta(minutes=1))
    new_qr = (await (await client.get(f"/v1/bookings/{bid}/token", headers=user)).json())["qr"]
    d = gate.validate(new_qr)
    assert (d.result, d.code, d.leg) == ("accept", "ok", 2)


async def test_gate_tool_prints_replaced_offline(exchanged, clock, tmp_path):
    client, bid, old_qr, new_qr, key, new = exchanged
    old, _ = _windows(old_qr, new_qr)
    url = str(client.make_url("")).rstrip("/")
    state = str(tmp_path / "gate")
    code, out = await maas("gate", "sync", "--url", url, "--gate", GATE, "--key", key,
                           "--state", state, "--date", DAY.isoformat())
    assert code == 0, out
    at = (old.valid_from + timedelta(minutes=1)).isoformat()
    code, out = await maas("gate", "check", "--state", state, "--now", at, "--qr", old_qr)
    assert code == 1
    assert out == [{"result": "reject", "code": "replaced", "booking": bid, "leg": 1,
                    "passengers": 1, "passenger": None, "replaced_by": _replaced_by(new)}]
    clock.set(old.valid_from + timedelta(minutes=1))
    code, out = await maas("gate", "check", "--state", state, "--online", "--key", key,
                           "--qr", old_qr)
    assert code == 1 and out[0]["code"] == "replaced"
    assert out[0]["replaced_by"] == _replaced_by(new)
