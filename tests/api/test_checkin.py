"""Passenger side of check-in over HTTP, on real PostgreSQL: token, QR images, faces, keys."""

from __future__ import annotations

import base64
from datetime import timedelta

import numpy as np
import pytest

from maas.clock import FrozenClock
from ticketing import checkin_store as store
from ticketing import face_store
from ticketing.keyring_store import load_verification_keys, rotate_signing_key
from ticketing.tokens import parse_qr, verify
from ticketing.totp import leg_codes, step_of

from tests.api.checkin_fixtures import T0, insert_booking
from tests.conftest import bearer

NOW = T0 + timedelta(hours=1, minutes=35)


@pytest.fixture
def clock():
    return FrozenClock(NOW)


async def test_token_of_a_confirmed_booking(client, db, make_account, settings, clock):
    acc, tok = await make_account()
    bid = await insert_booking(db, acc, categories=("adult", "adult", "child"))
    r = await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))
    assert r.status == 200, await r.text()
    assert r.headers["Cache-Control"] == "no-store"
    body = await r.json()
    assert set(body) == {"qr", "refresh_in_s", "step_s"}
    assert body["step_s"] == 15 and 0 < body["refresh_in_s"] <= 15
    token = verify(parse_qr(body["qr"]), await load_verification_keys(db))
    assert token.booking == bid
    assert dict(token.passengers) == {"adult": 2, "child": 1}
    assert [(leg.index, leg.board, leg.alight) for leg in token.legs] == [
        (0, "qdbus:1001", "qdbus:2002"), (1, "crh:QDN", "crh:JNX"), (2, "air:JNX-AIRPORT", "air:ICN")]
    # windows per mode from settings: rail opens 120 min before departure, closes 60 after arrival
    rail = token.legs[1]
    assert rail.valid_from == T0 + timedelta(hours=2) - timedelta(minutes=120)
    assert rail.valid_until == T0 + timedelta(hours=4) + timedelta(minutes=60)
    secret, issued = await store.ensure_secret(db, bid, settings.data_keys(), NOW)
    assert parse_qr(body["qr"]).codes == tuple(leg_codes(secret, [0, 1, 2], step_of(NOW, 15)))
    assert token.issued_at == issued.replace(microsecond=0)
    # the static part is stable across refreshes; only the code moves
    clock.advance(15)
    again = await (await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))).json()
    assert parse_qr(again["qr"]).static == parse_qr(body["qr"]).static
    assert parse_qr(again["qr"]).codes == tuple(leg_codes(secret, [0, 1, 2], step_of(NOW, 15) + 1))


async def test_cancelled_leg_is_left_out_of_a_new_token(client, db, make_account):
    acc, tok = await make_account()
    bid = await insert_booking(db, acc)
    await db.execute("UPDATE booking_legs SET status = 'cancelled' WHERE booking_id = $1 AND leg_no = 2", bid)
    body = await (await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))).json()
    assert [leg.index for leg in parse_qr(body["qr"]).token.legs] == [0, 1]


async def test_token_is_for_the_owner_of_a_confirmed_booking_only(client, db, make_account, make_key):
    acc, tok = await make_account()
    _, other = await make_account()
    bid = await insert_booking(db, acc)
    held = await insert_booking(db, acc, status="held")
    assert (await client.get(f"/v1/bookings/{bid}/token", headers=bearer(other))).status == 404
    assert (await client.get("/v1/bookings/bk_nope/token", headers=bearer(tok))).status == 404
    r = await client.get(f"/v1/bookings/{held}/token", headers=bearer(tok))
    assert r.status == 409 and (await r.json())["code"] == "booking_not_confirmed"
    assert (await client.get(f"/v1/bookings/{bid}/token")).status == 401
    gate = await make_key("gate", gate="g1", station="crh:QDN")
    assert (await client.get(f"/v1/bookings/{bid}/token", headers=bearer(gate))).status == 403


async def test_qr_images(client, db, make_account):
    acc, tok = await make_account()
    bid = await insert_booking(db, acc)
    svg = await client.get(f"/v1/bookings/{bid}/qr.svg", headers=bearer(tok))
    assert svg.status == 200 and svg.content_type == "image/svg+xml"
    assert (await svg.text()).lstrip().startswith("<?xml") or "<svg" in await svg.text()
    png = await client.get(f"/v1/bookings/{bid}/qr.png", headers=bearer(tok))
    assert png.status == 200 and png.content_type == "image/png"
    assert (await png.read())[:8] == b"\x89PNG\r\n\x1a\n"
    assert (await client.get(f"/v1/bookings/{bid}/qr.png")).status == 401


async def test_rotating_the_signing_key_keeps_old_tickets_valid(client, db, make_account, settings):
    acc, tok = await make_account()
    bid = await insert_booking(db, acc)
    first = parse_qr((await (await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))).json())["qr"])
    async with db.acquire() as conn:
        new_kid = await rotate_signing_key(conn, settings)
    assert new_kid != first.token.key_id
    keys = await load_verification_keys(db)
    assert {first.token.key_id, new_kid} <= set(keys)
    verify(first, keys)                                     # the old ticket still verifies
    assert await db.fetchval("SELECT count(*) FROM signing_keys WHERE active") == 1
    sealed = await db.fetchval("SELECT sealed_private FROM signing_keys WHERE key_id = $1", new_kid)
    assert len(sealed) == 12 + 32 + 16                      # nonce + sealed 32-byte key + tag


# --- faces ---------------------------------------------------------------------------------


def template(seed: int, dim: int = 128) -> list[float]:
    return np.random.default_rng(seed).standard_normal(dim).round(6).tolist()


async def test_face_enrol_is_sealed_and_erasable(client, db, make_account):
    acc, tok = await make_account()
    t = template(1)
    r = await client.post("/v1/accounts/face", json={"template": t, "consent": True}, headers=bearer(tok))
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body == {"enrolled": True, "dimension": 128, "operators": None, "erased_after_h": 24.0}
    row = await db.fetchrow("SELECT * FROM face_templates WHERE account_id = $1", acc)
    unit = (np.array(t) / np.linalg.norm(t)).astype("<f4").tobytes()
    assert unit[:16] not in row["sealed_template"] and len(row["sealed_template"]) == 12 + 512 + 16
    r = await client.delete("/v1/accounts/face", headers=bearer(tok))
    assert (await r.json()) == {"erased": True}
    assert await db.fetchval("SELECT count(*) FROM face_templates") == 0
    assert (await (await client.delete("/v1/accounts/face", headers=bearer(tok))).json()) == {"erased": False}


async def test_face_enrol_needs_consent_and_the_right_length(client, make_account):
    _, tok = await make_account()
    r = await client.post("/v1/accounts/face", json={"template": template(1), "consent": False},
                          headers=bearer(tok))
    assert r.status == 422 and (await r.json())["code"] == "consent_required"
    r = await client.post("/v1/accounts/face", json={"template": template(1, 64), "consent": True},
                          headers=bearer(tok))
    assert r.status == 422 and (await r.json())["code"] == "invalid_template"
    r = await client.post("/v1/accounts/face", json={"template": template(1)}, headers=bearer(tok))
    assert r.status == 422


async def test_faces_erased_after_the_last_journey(client, db, make_account, settings, clock):
    traveller, t1 = await make_account()
    idle, t2 = await make_account()
    await insert_booking(db, traveller)                    # last arrival T0 + 8h
    for tok, seed in ((t1, 1), (t2, 2)):
        r = await client.post("/v1/accounts/face", json={"template": template(seed), "consent": True},
                              headers=bearer(tok))
        assert r.status == 201
    day = 24 * 3600
    # one day after enrolment: the idle account (no journey) goes; the traveller stays
    assert await face_store.sweep_faces(db, NOW + timedelta(days=1, seconds=1), day) == 1
    assert [r["account_id"] for r in await db.fetch("SELECT account_id FROM face_templates")] == [traveller]
    # a day after the journey's last arrival, the traveller's goes too
    assert await face_store.sweep_faces(db, T0 + timedelta(hours=8, days=1) - timedelta(seconds=1), day) == 0
    assert await face_store.sweep_faces(db, T0 + timedelta(hours=8, days=1, seconds=1), day) == 1
    assert await db.fetchval("SELECT count(*) FROM face_templates") == 0


async def test_face_template_never_in_responses_or_logs(client, make_account, caplog):
    _, tok = await make_account()
    t = template(3)
    with caplog.at_level("DEBUG"):
        r = await client.post("/v1/accounts/face", json={"template": t, "consent": True}, headers=bearer(tok))
        text = await r.text()
        bad = await client.post("/v1/accounts/face", json={"template": t[:5] + ["x"], "consent": True},
                                headers=bearer(tok))
        text += await bad.text()
    logs = caplog.text + "".join(str(rec.__dict__) for rec in caplog.records)
    # values with six decimals: a short one (3.323) can turn up in any duration or timestamp
    distinctive = [v for v in t if len(repr(abs(v))) >= 8][:10]
    assert len(distinctive) == 10
    for v in distinctive:
        assert repr(v) not in text and repr(v) not in logs
    assert base64.b64encode(np.array(t, dtype="<f4").tobytes()[:12]).decode() not in logs


async def test_rotating_the_data_key_reseals_checkin_secrets(client, db, make_account, settings, clock):
    from maas.services import rotate_checkin_data
    from maas.settings import DataKeys

    acc, tok = await make_account()
    bid = await insert_booking(db, acc)
    before = (await (await client.get(f"/v1/bookings/{bid}/token", headers=bearer(tok))).json())["qr"]
    await client.post("/v1/accounts/face", json={"template": template(5), "consent": True}, headers=bearer(tok))
    old = settings.data_keys()
    new_text = DataKeys.generate_text("test2") + "," + settings.secret_keys
    rotated = settings.model_copy(update={"secret_keys": new_text})
    assert await rotate_checkin_data(db, rotated) == 3        # secret, template, signing key
    assert await rotate_checkin_data(db, rotated) == 0        # nothing left under the old key
    for table in ("booking_secrets", "face_templates", "signing_keys"):
        assert await db.fetchval(f"SELECT count(*) FROM {table} WHERE data_key_id <> 'test2'") == 0
    only_new = DataKeys({"test2": rotated.data_keys().keys["test2"]}, "test2")
    secret, _ = await store.ensure_secret(db, bid, only_new, NOW)   # opens without the old key
    assert parse_qr(before).codes == tuple(leg_codes(secret, [0, 1, 2], step_of(NOW, 15)))
    assert old.active == "test1"


@pytest.mark.parametrize("refresh", [0.0, 0.0004, 0.001, 0.0105, 1.0, 7.25, 12.3456, 14.9996, 29.999, 30.0, 1e-7])
def test_a_token_is_written_as_the_model_writes_it(refresh):
    """The token skips its response model: the same bytes, header and charset."""
    from maas.api.checkin import TokenResponse, _token_response
    from ticketing.checkin_service import CurrentQr

    got = CurrentQr(qr="NCFOXN%TS3DH 0$:+A/ .-*KL", refresh_in_s=refresh, step_s=30)
    fast = _token_response(got)
    model = TokenResponse(qr=got.qr, refresh_in_s=round(refresh, 3), step_s=30)
    assert fast.text == model.model_dump_json()
    assert fast.content_type == "application/json" and fast.charset == "utf-8"
    assert fast.headers["Cache-Control"] == "no-store"
