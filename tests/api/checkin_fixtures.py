"""Shared test helpers of check-in: tickets, signers and (for the HTTP tests) confirmed bookings.

Pure helpers first (no database); the database helpers below them insert booking rows
following maas/migrations/0200_bookings.sql when the bookings store cannot be used directly.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ticketing.manifest import Manifest, ManifestEntry, ManifestLeg
from ticketing.keyring import SigningKey, new_key_id, public_bytes
from ticketing.tokens import TicketToken, TokenLeg, qr_payload, sign_static
from ticketing.totp import code_for, step_of

T0 = datetime(2026, 11, 26, 8, 0, 0, tzinfo=timezone.utc)   # a step boundary for 15 s steps
STEP = 15


def signer() -> SigningKey:
    return SigningKey(new_key_id(), Ed25519PrivateKey.generate())


def keys_of(*signers: SigningKey) -> dict[str, bytes]:
    return {s.key_id: public_bytes(s.private) for s in signers}


def journey(booking: str | None = None, key_id: str = "k0", *, start: datetime = T0,
            passengers: tuple[tuple[str, int], ...] = (("adult", 1),)) -> TicketToken:
    """Bus A->B, then rail B->C, then a flight C'->D: three legs, each admitting from 30 min
    before its departure to 60 min after its arrival."""
    def leg(i: int, board: str, alight: str, dep_h: float, arr_h: float) -> TokenLeg:
        dep = start + timedelta(hours=dep_h)
        arr = start + timedelta(hours=arr_h)
        return TokenLeg(i, board, alight, dep - timedelta(minutes=30), arr + timedelta(hours=1))

    return TicketToken(
        key_id=key_id,
        booking=booking or str(uuid.uuid4()),
        issued_at=start - timedelta(days=1),
        passengers=passengers,
        legs=(
            leg(0, "qdbus:1001", "qdbus:2002", 0.5, 1.0),
            leg(1, "crh:QDN", "crh:JNX", 2.0, 4.0),
            leg(2, "air:JNX-AIRPORT", "air:ICN", 6.0, 8.0),
        ),
    )


def qr_for(token: TicketToken, key: SigningKey, secret: bytes, now: datetime,
           step_s: int = STEP, step_offset: int = 0) -> str:
    step = step_of(now, step_s) + step_offset
    return qr_payload(sign_static(token, key.private), code_for(secret, step, step_s=step_s))


RAIL = "crh:QDN"          # leg 1 boards here, departing T0+2h; admits from T0+1h30
RAIL_OPEN = T0 + timedelta(hours=1, minutes=30)


def manifest_for(tokens_secrets, key, station=RAIL, revoked=None, used=None, gate="g-rail-1"):
    entries = {}
    for token, secret in tokens_secrets:
        legs = tuple(ManifestLeg(leg.index, leg.valid_from, leg.valid_until)
                     for leg in token.legs if leg.board == station)
        entries[token.booking] = ManifestEntry(
            token.booking, secret, token.passenger_count, legs,
            frozenset((used or {}).get(token.booking, ())))
    return Manifest(gate=gate, station=station, date=date(2026, 11, 26), issued_at=T0,
                    covers_from=T0 - timedelta(hours=14), covers_until=T0 + timedelta(days=1, hours=12),
                    totp_step_s=STEP, totp_skew_steps=1, totp_digits=6, keys=keys_of(key),
                    entries=entries, revoked=revoked or {})
