"""The rotating codes, computed without pyotp, are exactly pyotp's (RFC 6238) codes."""

from __future__ import annotations

import base64
import random

import pyotp
import pytest

from ticketing.totp import code_for, leg_codes, leg_secret, match_step, new_secret


def _pyotp_code(secret: bytes, step: int, digits: int, step_s: int) -> int:
    otp = pyotp.TOTP(base64.b32encode(secret).decode(), digits=digits, interval=step_s)
    return int(otp.generate_otp(step))


@pytest.mark.parametrize("digits", [6, 8])
def test_codes_equal_pyotps(digits):
    rng = random.Random(7)
    for _ in range(300):
        secret = new_secret()
        step = rng.randrange(0, 2 ** 40)
        assert code_for(secret, step, digits=digits) == _pyotp_code(secret, step, digits, 15)


def test_rfc_6238_sha1_vectors():
    secret = b"12345678901234567890"
    for unix, want in ((59, 94287082), (1111111109, 7081804), (1111111111, 14050471),
                       (1234567890, 89005924), (2000000000, 69279037), (20000000000, 65353130)):
        assert code_for(secret, unix // 30, digits=8, step_s=30) == want


def test_leg_codes_and_matching_agree_with_pyotp():
    secret = new_secret()
    step = 118_000_000
    codes = leg_codes(secret, [0, 1, 2], step)
    assert codes == [_pyotp_code(leg_secret(secret, i), step, 6, 15) for i in range(3)]
    assert match_step(leg_secret(secret, 1), codes[1], step * 15 + 20) == step
    assert match_step(leg_secret(secret, 1), codes[1], step * 15 + 40) is None


def test_negative_steps_are_refused():
    with pytest.raises(ValueError):
        code_for(new_secret(), -1)
    with pytest.raises(ValueError):
        leg_codes(new_secret(), [0], -1)


def test_leg_codes_are_each_legs_code_for():
    secret = new_secret()
    for step, digits in ((0, 6), (118_000_000, 6), (2**40, 8)):
        assert leg_codes(secret, [3, 0, 7], step, digits=digits) == [
            code_for(leg_secret(secret, i), step, digits=digits) for i in (3, 0, 7)]


def test_a_kept_signed_part_gives_the_same_text_as_qr_payload():
    from ticketing.tokens import qr_payload, signed_ticket

    rng = random.Random(3)
    for n in range(60, 80):                       # odd and even lengths of the signed part
        signed = bytes(rng.randrange(256) for _ in range(n))
        codes = [rng.randrange(10 ** 6) for _ in range(rng.randrange(1, 4))]
        assert signed_ticket(signed).qr(codes) == qr_payload(signed, codes)


def test_base45_round_trips_and_refuses_what_rfc_9285_refuses():
    from ticketing.base45 import b45decode, b45encode

    rng = random.Random(5)
    for n in [0, 1, 2, 3, 4, 213, 214, 215] + [rng.randrange(300) for _ in range(50)]:
        data = bytes(rng.randrange(256) for _ in range(n))
        assert b45decode(b45encode(data)) == data
    assert b45encode(b"AB") == "BB8" and b45decode("QED8WEX0") == b"ietf!"
    for bad in ("GGW", "GGWGGW", "ZZ", "A", "AB\\u00e9", "ab c", "BB8:"):
        with pytest.raises(ValueError):
            b45decode(bad)
