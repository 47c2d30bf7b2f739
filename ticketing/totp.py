"""The rotating code of a journey token: TOTP (RFC 6238, via pyotp) of a per-booking secret.

Time is always passed in (aware UTC datetime or unix seconds) — never read here — so tests
step across a boundary instead of sleeping. A *step* is floor(unix / step_s); a code is
accepted for the current step and `skew` steps either side; the matched step is returned so
the caller can burn it (an accepted step is never accepted again).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp

__all__ = ["new_secret", "leg_secret", "step_of", "code_for", "leg_codes", "match_step",
           "seconds_to_next_step"]

SECRET_BYTES = 20   # 160 bits, the RFC 4226 recommendation for HMAC-SHA1


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def leg_secret(booking_secret: bytes, leg: int) -> bytes:
    """The secret of one leg's code, derived from the booking's: a gate gets the secrets of
    the legs boarding at its station only, so it cannot make codes for another operator's leg."""
    return hmac.new(booking_secret, b"maas.leg:%d" % leg, hashlib.sha256).digest()[:SECRET_BYTES]


def _ts(now: datetime | float) -> float:
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("naive datetime")
        return now.timestamp()
    return float(now)


def step_of(now: datetime | float, step_s: int) -> int:
    return int(_ts(now) // step_s)


def _otp(secret: bytes, digits: int, step_s: int) -> pyotp.TOTP:
    return pyotp.TOTP(base64.b32encode(secret).decode(), digits=digits, interval=step_s)


def code_for(secret: bytes, step: int, *, digits: int = 6, step_s: int = 15) -> int:
    return int(_otp(secret, digits, step_s).generate_otp(step))


def leg_codes(booking_secret: bytes, legs: list[int] | tuple[int, ...], step: int, *,
              digits: int = 6, step_s: int = 15) -> list[int]:
    """The code of every leg (in token order) for one step: what the QR carries."""
    return [code_for(leg_secret(booking_secret, i), step, digits=digits, step_s=step_s) for i in legs]


def match_step(secret: bytes, code: int, now: datetime | float, *, step_s: int = 15,
               skew: int = 1, digits: int = 6) -> int | None:
    """The step within now ± skew whose code equals `code`, or None."""
    if not 0 <= code < 10 ** digits:
        return None
    otp = _otp(secret, digits, step_s)
    want = str(code).rjust(digits, "0")
    current = step_of(now, step_s)
    # the current step first (the common case), then outwards; which step matched is not a
    # secret, so stopping early leaks nothing worth a constant-time loop
    for d in range(0, skew + 1):
        for step in ((current,) if d == 0 else (current - d, current + d)):
            if hmac.compare_digest(otp.generate_otp(step), want):
                return step
    return None


def seconds_to_next_step(now: datetime | float, step_s: int) -> float:
    t = _ts(now)
    return step_s - (t % step_s)
