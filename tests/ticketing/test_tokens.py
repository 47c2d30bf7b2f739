"""Journey tokens: encoding, signature, key ids, TOTP steps — pure, no database."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

import pytest
import segno

from ticketing.base45 import b45decode, b45encode
from ticketing.checkin_errors import BadSignature, Malformed, UnknownKey
from ticketing.keyring import load_public
from ticketing.tokens import parse_qr, qr_payload, sign_static, verify
from ticketing.totp import (code_for, leg_codes, leg_secret, match_step, new_secret,
                            seconds_to_next_step, step_of)

from tests.api.checkin_fixtures import STEP, T0, journey, keys_of, qr_for, signer


def pubkeys(*signers):
    return {kid: load_public(raw) for kid, raw in keys_of(*signers).items()}


def test_base45_matches_rfc9285_examples():
    assert b45encode(b"AB") == "BB8"
    assert b45encode(b"Hello!!") == "%69 VD92EX0"
    assert b45encode(b"base-45") == "UJCLQE7W581"
    assert b45decode("QED8WEX0") == b"ietf!"
    for bad in ("GGW", "A", "abc"):   # 65535 < value, length 1 mod 3, lowercase
        with pytest.raises(ValueError):
            b45decode(bad)


def test_base45_round_trips_any_bytes():
    rng = random.Random(7)
    for n in range(0, 60):
        data = bytes(rng.randrange(256) for _ in range(n))
        assert b45decode(b45encode(data)) == data


def test_payload_round_trips_and_verifies():
    key = signer()
    token = journey(key_id=key.key_id, passengers=(("adult", 2), ("child", 1)))
    secret = new_secret()
    qr = qr_for(token, key, secret, T0)
    scanned = parse_qr(qr)
    assert verify(scanned, pubkeys(key)) == token
    assert scanned.token.passenger_count == 3
    assert scanned.codes == tuple(leg_codes(secret, [0, 1, 2], step_of(T0, STEP)))
    assert scanned.code_of(1) == code_for(leg_secret(secret, 1), step_of(T0, STEP))
    assert all(leg.valid_from.tzinfo is not None for leg in token.legs)


def test_non_uuid_booking_ids_are_carried_as_text():
    key = signer()
    token = journey(booking="BK-2026-000123", key_id=key.key_id)
    qr = qr_for(token, key, new_secret(), T0)
    assert verify(parse_qr(qr), pubkeys(key)).booking == "BK-2026-000123"


def test_payload_fits_a_phone_readable_qr_code():
    key = signer()
    token = journey(key_id=key.key_id, passengers=(("adult", 2), ("child", 1)))
    qr = qr_for(token, key, new_secret(), T0)
    code = segno.make(qr, error="m", micro=False)
    assert code.mode == "alphanumeric"      # base45 uses the QR alphanumeric alphabet
    assert code.version <= 15, (len(qr), code.version)


def test_static_part_is_stable_and_only_the_code_rotates():
    key = signer()
    token = journey(key_id=key.key_id)
    secret = new_secret()
    a, b = qr_for(token, key, secret, T0), qr_for(token, key, secret, T0 + timedelta(seconds=STEP))
    assert a != b
    assert parse_qr(a).static == parse_qr(b).static
    assert parse_qr(a).signature == parse_qr(b).signature
    assert parse_qr(a).codes != parse_qr(b).codes


def test_tampered_payload_fails_signature():
    key = signer()
    token = journey(key_id=key.key_id)
    signed = sign_static(token, key.private)
    # move the last leg's window one day later: a byte inside the static part changes
    longer = dataclasses.replace(token.legs[2], valid_until=token.legs[2].valid_until + timedelta(days=1))
    forged = dataclasses.replace(token, legs=token.legs[:2] + (longer,))
    forged_static = sign_static(forged, key.private)[: -64]
    qr = qr_payload(forged_static + signed[-64:], [123456] * 3)
    with pytest.raises(BadSignature):
        verify(parse_qr(qr), pubkeys(key))
    # flip one bit of the signature itself
    bad = bytearray(signed)
    bad[-1] ^= 1
    with pytest.raises(BadSignature):
        verify(parse_qr(qr_payload(bytes(bad), [1, 2, 3])), pubkeys(key))


def test_signature_by_another_key_under_a_known_key_id_fails():
    real, impostor = signer(), signer()
    token = journey(key_id=real.key_id)
    qr = qr_payload(sign_static(token, impostor.private), [1, 2, 3])
    with pytest.raises(BadSignature):
        verify(parse_qr(qr), pubkeys(real))


def test_unknown_key_id():
    key, other = signer(), signer()
    qr = qr_for(journey(key_id=key.key_id), key, new_secret(), T0)
    with pytest.raises(UnknownKey):
        verify(parse_qr(qr), pubkeys(other))


def test_rotated_keys_both_verify():
    old, new = signer(), signer()
    keys = pubkeys(old, new)
    for k in (old, new):
        assert verify(parse_qr(qr_for(journey(key_id=k.key_id), k, new_secret(), T0)), keys)


@pytest.mark.parametrize("qr", ["", "lowercase", "A", "0" * 5000, b45encode(b"\x02rest"),
                                b45encode(b"\x01"), "%69 VD92EX0"])
def test_malformed_payloads(qr):
    with pytest.raises(Malformed):
        parse_qr(qr)


def test_truncated_and_padded_payloads_are_malformed():
    key = signer()
    raw = b45decode(qr_for(journey(key_id=key.key_id), key, new_secret(), T0))
    for cut in (1, 10, 64, 68, len(raw) - 13, len(raw) - 1):
        with pytest.raises(Malformed):
            parse_qr(b45encode(raw[:cut]))
    with pytest.raises(Malformed):
        parse_qr(b45encode(raw + b"\x00"))


def test_totp_skew_at_step_boundaries():
    secret = new_secret()
    boundary = T0 + timedelta(seconds=10 * STEP)          # exactly on a step boundary
    issued_step = step_of(boundary - timedelta(microseconds=1), STEP)  # last step before it
    code = code_for(secret, issued_step)
    # the code shown just before the boundary is accepted one step later (skew +-1) ...
    assert match_step(secret, code, boundary, skew=1) == issued_step
    assert match_step(secret, code, boundary + timedelta(seconds=STEP - 0.001), skew=1) == issued_step
    # ... and stops working once it is two steps old
    assert match_step(secret, code, boundary + timedelta(seconds=STEP), skew=1) is None
    # a phone clock one step ahead is fine, two steps ahead is not
    assert match_step(secret, code_for(secret, issued_step + 1), boundary - timedelta(seconds=1)) == issued_step + 1
    assert match_step(secret, code_for(secret, issued_step + 2), boundary - timedelta(seconds=1)) is None
    # no skew: only the current step
    assert match_step(secret, code, boundary, skew=0) is None
    assert match_step(secret, code, boundary - timedelta(seconds=1), skew=0) == issued_step


def test_totp_rejects_other_secrets_and_out_of_range_codes():
    a = new_secret()
    step = step_of(T0, STEP)
    others = [new_secret() for _ in range(50)]
    # a code of one secret passes another only by chance (3 steps x 1e-6 each)
    assert sum(match_step(b, code_for(a, step), T0) is not None for b in others) <= 1
    assert match_step(a, 10 ** 6, T0) is None
    assert match_step(a, -1, T0) is None


def test_seconds_to_next_step():
    assert seconds_to_next_step(T0, STEP) == STEP
    assert seconds_to_next_step(T0 + timedelta(seconds=4), STEP) == pytest.approx(11)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        step_of(T0.replace(tzinfo=None), STEP)


def test_one_code_per_leg_from_leg_secrets():
    key = signer()
    token = journey(key_id=key.key_id)
    secret = new_secret()
    signed = sign_static(token, key.private)
    with pytest.raises(Malformed):                      # codes must match the legs
        parse_qr(qr_payload(signed, [1, 2]))
    secrets_ = {leg_secret(secret, i) for i in range(3)}
    assert len(secrets_) == 3 and secret not in secrets_
    assert leg_secret(secret, 1) == leg_secret(secret, 1)
