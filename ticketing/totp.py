"""The rotating code of a journey token: TOTP (RFC 6238, HMAC-SHA1) of a per-booking secret.

Time is always passed in (aware UTC datetime or unix seconds) — never read here — so tests
step across a boundary instead of sleeping. A *step* is floor(unix / step_s); a code is
accepted for the current step and `skew` steps either side; the matched step is returned so
the caller can burn it (an accepted step is never accepted again).

The HOTP truncation (RFC 4226 §5.3) is written out over `hmac.digest` rather than going
through pyotp, which base32-encodes and decodes the secret on every code (base32 was the
largest single cost of a token fetch); tests check the codes against pyotp.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

__all__ = ["new_secret", "leg_secret", "step_of", "code_for", "leg_codes", "match_step",
           "seconds_to_next_step"]

SECRET_BYTES = 20   # 160 bits, the RFC 4226 recommendation for HMAC-SHA1


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def leg_secret(booking_secret: bytes, leg: int) -> bytes:
    """The secret of one leg's code, derived from the booking's: a gate gets the secrets of
    the legs boarding at its station only, so it cannot make codes for another operator's leg."""
    return hmac.digest(booking_secret, b"maas.leg:%d" % leg, "sha256")[:SECRET_BYTES]


def _ts(now: datetime | float) -> float:
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("naive datetime")
        return now.timestamp()
    return float(now)


def step_of(now: datetime | float, step_s: int) -> int:
    return int(_ts(now) // step_s)


def _hotp(secret: bytes, counter: int, modulo: int) -> int:
    """RFC 4226 HOTP value of `counter` (HMAC-SHA1, dynamic truncation) modulo 10**digits."""
    h = hmac.digest(secret, counter.to_bytes(8, "big"), "sha1")
    offset = h[19] & 0x0F
    return (int.from_bytes(h[offset:offset + 4], "big") & 0x7FFFFFFF) % modulo


def code_for(secret: bytes, step: int, *, digits: int = 6, step_s: int = 15) -> int:
    if step < 0:
        raise ValueError("negative step")
    return _hotp(secret, step, 10 ** digits)


def leg_codes(booking_secret: bytes, legs: list[int] | tuple[int, ...], step: int, *,
              digits: int = 6, step_s: int = 15) -> list[int]:
    """The code of every leg (in token order) for one step: what the QR carries (the same as
    `code_for(leg_secret(booking_secret, leg), step)` each, written out: two HMACs a leg)."""
    if step < 0:
        raise ValueError("negative step")
    counter = step.to_bytes(8, "big")
    modulo = 10 ** digits
    digest = hmac.digest
    out = []
    for i in legs:
        h = digest(digest(booking_secret, b"maas.leg:%d" % i, "sha256")[:SECRET_BYTES], counter, "sha1")
        offset = h[19] & 0x0F
        out.append((int.from_bytes(h[offset:offset + 4], "big") & 0x7FFFFFFF) % modulo)
    return out


def match_step(secret: bytes, code: int, now: datetime | float, *, step_s: int = 15,
               skew: int = 1, digits: int = 6) -> int | None:
    """The step within now ± skew whose code equals `code`, or None."""
    modulo = 10 ** digits
    if not 0 <= code < modulo:
        return None
    current = step_of(now, step_s)
    # the current step first (the common case), then outwards; which step matched is not a
    # secret, so stopping early leaks nothing worth a constant-time loop
    for d in range(0, skew + 1):
        for step in ((current,) if d == 0 else (current - d, current + d)):
            if step >= 0 and _hotp(secret, step, modulo) == code:
                return step
    return None


def seconds_to_next_step(now: datetime | float, step_s: int) -> float:
    t = _ts(now)
    return step_s - (t % step_s)
