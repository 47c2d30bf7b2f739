"""Booking use cases: what the HTTP handlers (and the benchmark) call.

Glue between the pure core (offers, fares, passengers, pii, state machine) and the store;
no HTTP here. `BookingConfig` is the frozen form of the service's BookingSettings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Callable

import asyncpg

from routing.network import Network
from ticketing import store
from ticketing.bookings import CancelOutcome, RefundPolicy
from ticketing.errors import InvalidPassenger, ItineraryInvalid
from ticketing.fares import FareConfig
from ticketing.idcards import blind_index, index_key
from ticketing.inventory import CapacityConfig
from ticketing.offers import check_versions, make_offer
from ticketing.passengers import AgeRules, check_category, mask_id, mask_name, validate_passenger
from ticketing.pii import Keyring, pii_aad

__all__ = ["BookingConfig", "PassengerInput", "Bookings"]


@dataclass(frozen=True)
class BookingConfig:
    fares: FareConfig
    refunds: RefundPolicy
    capacity: CapacityConfig
    hold_ttl: timedelta
    max_passengers: int = 9
    sweeper_interval_s: float = 15.0
    ages: AgeRules = AgeRules()


@dataclass(frozen=True)
class PassengerInput:
    name: str
    id_number: str
    category: str = "adult"
    id_type: str = "prc_id"


class Bookings:
    """The booking use cases over one pool, one config, one keyring and one clock."""

    def __init__(self, pool: asyncpg.Pool, config: BookingConfig, keyring: Keyring,
                 now: Callable[[], datetime]) -> None:
        self.pool, self.config, self.keyring, self.now = pool, config, keyring, now

    def _passengers(self, booking_id: str, raw: Sequence[PassengerInput],
                    today: date, travel_day: date | None = None) -> list[store.NewPassenger]:
        if not raw:
            raise InvalidPassenger("at least one passenger is needed", field="passengers")
        if len(raw) > self.config.max_passengers:
            raise InvalidPassenger(f"at most {self.config.max_passengers} passengers per booking",
                                   field="passengers")
        out = []
        active = self.keyring.active
        id_key = index_key(self.keyring.keys[active], active)
        for i, p in enumerate(raw):
            v = validate_passenger(i, p.name, p.id_number, p.category, p.id_type, today)
            check_category(i, v, travel_day or today, self.config.ages)
            kid, name_ct = self.keyring.encrypt(v.name, pii_aad(booking_id, i, "name"))
            kid2, id_ct = self.keyring.encrypt(v.id_number, pii_aad(booking_id, i, "id_number"))
            assert kid == kid2
            out.append(store.NewPassenger(i, v.category, v.id_type, kid, name_ct, id_ct,
                                          mask_name(v.name), mask_id(v.id_number),
                                          blind_index(id_key, f"{v.id_type}|{v.id_number}"), active))
        return out

    async def hold(self, account_id: str, itinerary_id: str, key: Any, network: Network,
                   live_versions: Mapping[str, str], passengers: Sequence[PassengerInput],
                   conn: asyncpg.Connection | None = None) -> store.BookingView:
        """Hold seats on every leg of the itinerary `key` (a routing ItineraryKey)."""
        check_versions(key.versions, dict(live_versions))
        now = self.now()
        gone = [n for n, leg in enumerate(key.legs) if leg.departure <= now]
        if gone:
            raise ItineraryInvalid(f"leg {gone[0]} has already departed", leg=gone[0])
        booking_id = store.new_booking_id()
        pax = self._passengers(booking_id, passengers, now.date(), key.legs[0].service_date
                               if key.legs else None)
        offer = make_offer(network, self.config.fares, key.legs, [p.category for p in pax])
        legs = [store.NewLeg.priced(g, p.unit_minor, p.source, p.amount_minor)
                for g, p in zip(offer.legs, offer.quote.legs, strict=True)]
        booking = store.NewBooking(booking_id, account_id, itinerary_id, dict(key.versions),
                                   offer.quote.currency, offer.quote.total_minor, legs, pax)
        created, expires = await store.hold(self.pool, booking, capacity=self.config.capacity,
                                            ttl=self.config.hold_ttl, now=self.now, conn=conn)
        return store.held_view(booking, created, expires)

    async def confirm(self, account_id: str, booking_id: str, payment_ref: str,
                      conn: asyncpg.Connection | None = None) -> store.BookingView:
        return await store.confirm(self.pool, booking_id, account_id, payment_ref, now=self.now,
                                   conn=conn)

    async def cancel(self, account_id: str, booking_id: str, leg_no: int | None = None,
                     conn: asyncpg.Connection | None = None
                     ) -> tuple[store.BookingView, CancelOutcome]:
        out, view = await store.cancel(self.pool, booking_id, account_id, leg_no,
                                       fares=self.config.fares, refunds=self.config.refunds,
                                       now=self.now, conn=conn)
        return view, out

    async def refund_quote(self, account_id: str, booking_id: str, leg_no: int | None = None
                           ) -> tuple[store.BookingView, CancelOutcome, datetime]:
        """(the booking, what cancelling it - or leg `leg_no` - now would do, now): the same
        computation as `cancel`, nothing written."""
        t = self.now()
        out = await store.refund_quote(self.pool, booking_id, account_id, leg_no,
                                       fares=self.config.fares, refunds=self.config.refunds, t=t)
        return await store.get_booking(self.pool, booking_id, account_id, t), out, t

    async def get(self, account_id: str, booking_id: str) -> store.BookingView:
        return await store.get_booking(self.pool, booking_id, account_id, self.now())

    async def list(self, account_id: str, limit: int,
                   after: tuple[datetime, str] | None = None) -> list[store.BookingView]:
        return await store.list_bookings(self.pool, account_id, self.now(), limit, after)

    async def sweep(self) -> int:
        """Write expired holds as expired (bookkeeping; inventory never depended on it)."""
        total = 0
        while (n := await store.expire_due(self.pool, self.now())) > 0:
            total += n
        return total

    async def rotate_keys(self, batch: int = 500) -> int:
        """Re-encrypt passenger data still under an old key with the active key."""
        moved = 0
        while rows := await store.encrypted_passengers(self.pool, self.keyring.active, batch):
            for r in rows:
                kid, name_ct = self.keyring.reencrypt(
                    r["key_id"], r["name_ct"], pii_aad(r["booking_id"], r["passenger_no"], "name"))
                _, id_ct = self.keyring.reencrypt(
                    r["key_id"], r["id_number_ct"],
                    pii_aad(r["booking_id"], r["passenger_no"], "id_number"))
                await store.update_passenger_cipher(self.pool, r["booking_id"], r["passenger_no"],
                                                    kid, name_ct, id_ct)
                moved += 1
        return moved
