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
from ticketing.totp import leg_codes, leg_secret, step_of

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
    codes = leg_codes(secret, [leg.index for leg in token.legs], step, step_s=step_s)
    return qr_payload(sign_static(token, key.private), codes)


RAIL = "crh:QDN"          # leg 1 boards here, departing T0+2h; admits from T0+1h30
RAIL_OPEN = T0 + timedelta(hours=1, minutes=30)


def manifest_for(tokens_secrets, key, station=RAIL, revoked=None, used=None, gate="g-rail-1"):
    entries = {}
    for token, secret in tokens_secrets:
        legs = tuple(ManifestLeg(leg.index, leg.valid_from, leg.valid_until)
                     for leg in token.legs if leg.board == station)
        entries[token.booking] = ManifestEntry(
            token.booking, {leg.index: leg_secret(secret, leg.index) for leg in legs},
            token.passenger_count, legs,
            frozenset((used or {}).get(token.booking, ())))
    return Manifest(gate=gate, station=station, date=date(2026, 11, 26), issued_at=T0,
                    covers_from=T0 - timedelta(hours=14), covers_until=T0 + timedelta(days=1, hours=12),
                    totp_step_s=STEP, totp_skew_steps=1, totp_digits=6, keys=keys_of(key),
                    entries=entries, revoked=revoked or {})


# --- database helpers (rows as in maas/migrations/0200_bookings.sql) -------------------------

# (board, alight, mode, agency, departure offset h, arrival offset h) from T0
JOURNEY_LEGS = (
    ("qdbus:1001", "qdbus:2002", "bus", "qdbus:QDBUS", 0.5, 1.0),
    ("crh:QDN", "crh:JNX", "rail", "crh:CR", 2.0, 4.0),
    ("air:JNX-AIRPORT", "air:ICN", "air", "air:SDA", 6.0, 8.0),
)


async def insert_booking(db, account_id: str, *, legs=JOURNEY_LEGS, start: datetime = T0,
                         categories=("adult",), status: str = "confirmed",
                         booking_id: str | None = None) -> str:
    """A booking with its legs, straight into the bookings tables (no passengers/tickets:
    check-in reads bookings and booking_legs only)."""
    bid = booking_id or "bk_" + uuid.uuid4().hex[:20]
    now = start - timedelta(days=1)
    await db.execute(
        """INSERT INTO bookings (id, account_id, status, itinerary_id, feed_versions,
               passenger_count, passenger_categories, currency, total_minor, paid_minor,
               expires_at, created_at, updated_at, confirmed_at)
           VALUES ($1, $2, $3, 'it_test', $4, $5, $6, 'CNY', 10000, 10000, $7, $7, $7, $7)""",
        bid, account_id, status, {"test": "v1"}, len(categories), list(categories), now)
    for i, (board, alight, mode, agency, dep_h, arr_h) in enumerate(legs):
        await db.execute(
            """INSERT INTO booking_legs (booking_id, leg_no, status, feed, agency_id, agency_name,
                   mode, route_id, trip_id, service_date, board_pos, alight_pos, from_stop,
                   to_stop, departure, arrival, passengers, hold_until, unit_minor,
                   price_source, price_minor)
               VALUES ($1, $2, $3, $4, $5, $5, $6, $4 || ':r1', $4 || ':t1', $7, 0, 1, $8, $9,
                       $10, $11, $12, $13, 1000, 'tariff:test', 1000)""",
            bid, i, "confirmed" if status == "confirmed" else status, board.split(":")[0],
            agency, mode, (start + timedelta(hours=dep_h)).date(), board, alight,
            start + timedelta(hours=dep_h), start + timedelta(hours=arr_h), len(categories), now)
    return bid


async def cancel_booking(db, booking_id: str) -> None:
    await db.execute("UPDATE bookings SET status = 'cancelled' WHERE id = $1", booking_id)
    await db.execute("UPDATE booking_legs SET status = 'cancelled' WHERE booking_id = $1", booking_id)


async def cancel_leg(db, booking_id: str, leg_no: int) -> None:
    await db.execute("UPDATE booking_legs SET status = 'cancelled' WHERE booking_id = $1 AND leg_no = $2",
                     booking_id, leg_no)
