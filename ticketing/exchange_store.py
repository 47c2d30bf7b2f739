"""Exchange offers in PostgreSQL (0700_exchange.sql). The leg swap itself is
`ticketing.store.replace_legs` (the bookings' inventory and locks)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from ticketing.errors import OfferExpired, OfferNotFound, OfferUsed

__all__ = ["StoredOffer", "new_offer_id", "save_offers", "take_offer"]

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True)
class StoredOffer:
    id: str
    booking_id: str
    from_leg: int
    itinerary_id: str
    new_prices: tuple[int, ...]
    old_minor: int
    fee_minor: int
    created_at: datetime
    expires_at: datetime


def new_offer_id() -> str:
    return "xo_" + secrets.token_hex(10)


async def save_offers(conn: Conn, offers: Sequence[StoredOffer]) -> None:
    if not offers:
        return
    await conn.executemany(
        """INSERT INTO exchange_offers (id, booking_id, from_leg, itinerary_id, new_prices,
               old_minor, fee_minor, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        [(o.id, o.booking_id, o.from_leg, o.itinerary_id, list(o.new_prices), o.old_minor,
          o.fee_minor, o.created_at, o.expires_at) for o in offers])


async def take_offer(conn: asyncpg.Connection, offer_id: str, booking_id: str,
                     now: datetime) -> StoredOffer:
    """Lock the offer of this booking and mark it used (in the caller's transaction); 404 if
    unknown, 410 past its validity, 409 if already used."""
    row = await conn.fetchrow(
        "SELECT * FROM exchange_offers WHERE id = $1 AND booking_id = $2 FOR UPDATE",
        offer_id, booking_id)
    if row is None:
        raise OfferNotFound(f"no exchange offer {offer_id} for this booking", offer_id=offer_id)
    if row["used_at"] is not None:
        raise OfferUsed("this exchange offer was already used", offer_id=offer_id)
    if row["expires_at"] <= now:
        raise OfferExpired("the exchange offer has expired; ask for offers again",
                           offer_id=offer_id)
    await conn.execute("UPDATE exchange_offers SET used_at = $2 WHERE id = $1", offer_id, now)
    return StoredOffer(row["id"], row["booking_id"], row["from_leg"], row["itinerary_id"],
                       tuple(row["new_prices"]), row["old_minor"], row["fee_minor"],
                       row["created_at"], row["expires_at"])
