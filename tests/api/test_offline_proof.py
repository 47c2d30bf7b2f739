"""Offline taps carry proof of the scan (issue 12): the QR payload the gate scanned, checked as
the online gate would have at the tap's time. A gate cannot upload a tap for a ticket it
never scanned, nor one outside the leg's validity window; nothing refused is stored."""

from __future__ import annotations

import uuid
from datetime import timedelta

from ticketing.gate import GateValidator
from tests.api.checkin_fixtures import T0, insert_booking
from tests.api.test_gates import RAIL, NOW, clock, manifest_of, passenger  # noqa: F401  (fixtures)
from tests.conftest import bearer


async def upload(client, key: str, gate: str, *taps: dict) -> dict:
    r = await client.post(f"/v1/gates/{gate}/taps", json={"taps": list(taps)}, headers=bearer(key))
    assert r.status == 200, await r.text()
    return await r.json()


def tap(booking: str, leg: int = 1, at=NOW, **more) -> dict:
    return {"tap_id": str(uuid.uuid4()), "booking": booking, "leg": leg, "at": at.isoformat(), **more}


async def test_a_scanned_tap_is_recorded_with_its_proof(client, db, make_key, passenger, clock):
    _, _, bid, qr = passenger
    k = await make_key("gate", gate="rail-2", station=RAIL)
    _, m = await manifest_of(client, k, "rail-2")
    gate = GateValidator(m, clock)
    assert gate.validate(await qr()).code == "ok"
    recorded = gate.taps[0].as_json()
    assert recorded["qr"] and recorded["step"] is not None      # the library keeps the proof
    body = await upload(client, k, "rail-2", recorded)
    assert (body["recorded"], body["refused"]) == (1, 0)
    assert await db.fetchval("SELECT totp_step FROM gate_taps WHERE booking_id = $1", bid) == recorded["step"]


async def test_a_tap_without_proof_is_refused_and_not_stored(client, db, make_key, passenger):
    _, _, bid, _ = passenger
    k = await make_key("gate", gate="rail-2", station=RAIL)
    body = await upload(client, k, "rail-2", tap(bid), tap(bid, passenger=0))
    assert [t["outcome"] for t in body["taps"]] == ["proof_required", "proof_required"]
    assert (body["recorded"], body["refused"]) == (0, 2)
    assert await db.fetchval("SELECT count(*) FROM gate_taps") == 0
    assert await db.fetchval("SELECT count(*) FROM offline_taps") == 0


async def test_a_ticket_never_scanned_cannot_be_tapped(client, db, make_key, make_account, passenger):
    """The gate holds one passenger's QR and makes up taps for another booking (in its
    manifest: it even knows that booking's secrets), or sends garbage as the proof."""
    _, _, bid, qr = passenger
    acc, _ = await make_account()
    other = await insert_booking(db, acc)
    k = await make_key("gate", gate="rail-2", station=RAIL)
    scanned = await qr()
    body = await upload(client, k, "rail-2", tap(other, qr=scanned), tap(other, qr="not a qr"),
                        tap(bid, qr=forged(scanned)))
    assert [t["outcome"] for t in body["taps"]] == ["invalid_proof"] * 3
    assert await db.fetchval("SELECT count(*) FROM gate_taps") == 0


def forged(qr: str) -> str:
    """The QR with one character of its signed part changed."""
    i = len(qr) // 3
    return qr[:i] + ("A" if qr[i] != "A" else "B") + qr[i + 1:]


async def test_a_tap_outside_the_legs_validity_is_refused(client, db, make_key, passenger, clock):
    _, _, bid, qr = passenger
    k = await make_key("gate", gate="air-1", station="air:JNX-AIRPORT")
    scanned = await qr()
    # the flight (leg 2) departs at T0+6h: a tap now is before its window, one at departure is
    # in the future
    body = await upload(client, k, "air-1", tap(bid, leg=2, qr=scanned),
                        tap(bid, leg=2, at=T0 + timedelta(hours=6), qr=scanned))
    assert [t["outcome"] for t in body["taps"]] == ["outside_validity", "outside_validity"]
    assert await db.fetchval("SELECT count(*) FROM gate_taps") == 0


async def test_a_stale_qr_does_not_prove_a_later_tap(client, db, make_key, passenger, clock):
    """The code rotates: a QR seen earlier (a screenshot) does not prove a tap made later."""
    _, _, bid, qr = passenger
    k = await make_key("gate", gate="rail-2", station=RAIL)
    old = await qr()
    clock.advance(600)
    body = await upload(client, k, "rail-2", tap(bid, at=clock.now(), qr=old))
    assert body["taps"][0]["outcome"] == "invalid_proof"
    body = await upload(client, k, "rail-2", tap(bid, at=clock.now(), qr=await qr()))
    assert body["taps"][0]["outcome"] == "recorded"
