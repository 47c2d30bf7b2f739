"""Booking use cases: what the HTTP handlers (and the benchmark) call.

Glue between the pure core (offers, fares, passengers, pii, state machine) and the store;
no HTTP here. `BookingConfig` is the frozen form of the service's BookingSettings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Callable

import asyncpg

from routing.network import Network
from ticketing import store
from ticketing import exchange_store
from ticketing.bookings import CancelOutcome, RefundPolicy
from ticketing.errors import LegNotExchangeable, OfferUsed
from ticketing.exchange import ExchangeMoney, exchange_money
from ticketing.exchange_store import StoredOffer
from ticketing.fares import leg_operator, leg_unit_price
from ticketing.offers import resolve_legs
from ticketing.errors import InvalidPassenger, ItineraryInvalid
from ticketing.fares import FareConfig
from ticketing.idcards import blind_index, index_key
from ticketing.inventory import CapacityConfig
from ticketing.offers import check_versions, make_offer
from ticketing.passengers import AgeRules, check_category, mask_id, mask_name, validate_passenger
from ticketing.pii import Keyring, pii_aad
from ticketing.protection import BookedLeg, sold_connections

__all__ = ["BookingConfig", "PassengerInput", "Bookings", "ExchangeOffer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BookingConfig:
    fares: FareConfig
    refunds: RefundPolicy
    capacity: CapacityConfig
    hold_ttl: timedelta
    max_passengers: int = 9
    sweeper_interval_s: float = 15.0
    ages: AgeRules = AgeRules()
    exchange_offer_ttl: timedelta = timedelta(minutes=10)
    exchange_offers: int = 5        # alternatives per request at most


@dataclass(frozen=True)
class PassengerInput:
    name: str
    id_number: str
    category: str = "adult"
    id_type: str = "prc_id"


@dataclass(frozen=True)
class ExchangeOffer:
    offer: StoredOffer
    itinerary: Any                 # the routing Itinerary of the replacement legs
    money: ExchangeMoney


def _same_legs(key: Any, legs: Sequence[Any]) -> bool:
    return [(g.trip_id, g.service_date, g.board_pos, g.alight_pos) for g in key.legs] == \
        [(g["trip_id"], g["service_date"], g["board_pos"], g["alight_pos"]) for g in legs]


class Bookings:
    """The booking use cases over one pool, one config, one keyring and one clock."""

    def __init__(self, pool: asyncpg.Pool, config: BookingConfig, keyring: Keyring,
                 now: Callable[[], datetime]) -> None:
        self.pool, self.config, self.keyring, self.now = pool, config, keyring, now
        self.batches = store.Batches(pool)   # per worker: concurrent requests share statements
        active = keyring.active     # the blind-index key of the active data key, derived once
        self._id_key = index_key(keyring.keys[active], active)

    def _passengers(self, booking_id: str, raw: Sequence[PassengerInput],
                    today: date, travel_day: date | None = None) -> list[store.NewPassenger]:
        if not raw:
            raise InvalidPassenger("at least one passenger is needed", field="passengers")
        if len(raw) > self.config.max_passengers:
            raise InvalidPassenger(f"at most {self.config.max_passengers} passengers per booking",
                                   field="passengers")
        out = []
        active, id_key = self.keyring.active, self._id_key
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
                   conn: asyncpg.Connection | None = None,
                   options: store.SaleOptions = store.SaleOptions(),
                   connection_of: Callable[[BookedLeg, BookedLeg], int] | None = None,
                   idempotent: store.Idempotent | None = None) -> store.BookingView:
        """Hold seats on every leg of the itinerary `key` (a routing ItineraryKey). `options`
        (the plan's) and each leg's connection time (`connection_of`: the change time asked
        between two legs) are kept for connection protection. With `idempotent`, the response
        is stored with the booking (store.Replayed if the key was used)."""
        try:
            check_versions(key.versions, dict(live_versions))
            now = self.now()
            gone = [n for n, leg in enumerate(key.legs) if leg.departure <= now]
            if gone:
                raise ItineraryInvalid(f"leg {gone[0]} has already departed", leg=gone[0])
            booking_id = store.new_booking_id()
            pax = self._passengers(booking_id, passengers, now.date(), key.legs[0].service_date
                                   if key.legs else None)
            offer = make_offer(network, self.config.fares, key.legs, [p.category for p in pax])
        except Exception:
            if idempotent is not None:  # a used key replays, whatever the request meets now
                await store.raise_if_used(self.pool, idempotent)
            raise
        conns: list[int | None] = [None] * len(offer.legs)
        if connection_of is not None:
            conns = list(sold_connections([BookedLeg(g.leg_no, g.departure, g.arrival, g.mode)
                                           for g in offer.legs], connection_of))
        legs = [store.NewLeg.priced(g, p.unit_minor, p.source, p.amount_minor, c)
                for g, p, c in zip(offer.legs, offer.quote.legs, conns, strict=True)]
        booking = store.NewBooking(booking_id, account_id, itinerary_id, dict(key.versions),
                                   offer.quote.currency, offer.quote.total_minor, legs, pax,
                                   options)
        return await store.hold(self.pool, booking, capacity=self.config.capacity,
                                ttl=self.config.hold_ttl, now=self.now, conn=conn,
                                idempotent=idempotent, batches=self.batches)

    async def confirm(self, account_id: str, booking_id: str, payment_ref: str,
                      conn: asyncpg.Connection | None = None,
                      idempotent: store.Idempotent | None = None) -> store.BookingView:
        return await store.confirm(self.pool, booking_id, account_id, payment_ref, now=self.now,
                                   conn=conn, idempotent=idempotent,
                                   capacity=self.config.capacity, batches=self.batches)

    async def cancel(self, account_id: str, booking_id: str, leg_no: int | None = None,
                     conn: asyncpg.Connection | None = None, legs: Sequence[int] | None = None,
                     idempotent: store.Idempotent | None = None
                     ) -> tuple[store.BookingView, CancelOutcome]:
        """Cancel the booking, leg `leg_no`, or the broken `legs` of a standing refund offer
        (connection protection: refunded in full)."""
        out, view = await store.cancel(self.pool, booking_id, account_id, leg_no,
                                       fares=self.config.fares, refunds=self.config.refunds,
                                       now=self.now, conn=conn, some=legs, idempotent=idempotent,
                                       batches=self.batches)
        return view, out

    async def refund_quote(self, account_id: str, booking_id: str, leg_no: int | None = None
                           ) -> tuple[store.BookingView, CancelOutcome, datetime]:
        """(the booking, what cancelling it - or leg `leg_no` - now would do, now): the same
        computation as `cancel`, nothing written."""
        t = self.now()
        out = await store.refund_quote(self.pool, booking_id, account_id, leg_no,
                                       fares=self.config.fares, refunds=self.config.refunds, t=t)
        return await store.get_booking(self.pool, booking_id, account_id, t), out, t

    def _exchange_parts(self, row: Any, legs: Sequence[Any], leg_no: int, now: datetime
                        ) -> tuple[list[Any], list[Any]]:
        """(kept legs, replaced legs) of exchanging from leg `leg_no`, or LegNotExchangeable."""
        target = next((g for g in legs if g["leg_no"] == leg_no), None)
        if row["status"] != "confirmed" or target is None or target["status"] != "confirmed":
            raise LegNotExchangeable(f"leg {leg_no} is not a confirmed leg of a confirmed "
                                     "booking", leg=leg_no)
        if target["departure"] <= now:
            raise LegNotExchangeable(f"leg {leg_no} has already departed", leg=leg_no)
        active = [g for g in legs if g["status"] == "confirmed"]
        return ([g for g in active if g["leg_no"] < leg_no],
                [g for g in active if g["leg_no"] >= leg_no])

    def _money(self, network: Network, row: Any, kept: Sequence[Any], replaced: Sequence[Any],
               key: Any, now: datetime) -> ExchangeMoney:
        spans = [g.span for g in resolve_legs(network, key.legs)]
        return exchange_money(
            self.config.fares, self.config.refunds, [store.leg_state(g) for g in kept],
            [store.leg_state(g) for g in replaced],
            [leg_unit_price(network, self.config.fares, sp) for sp in spans],
            [leg_operator(network, sp) for sp in spans], row["passenger_categories"], now)

    async def exchange_offers(self, account_id: str, booking_id: str, leg_no: int,
                              network: Network, replan: Callable[[str, str, frozenset[str], Any],
                                                                  Sequence[Any]],
                              ) -> tuple[list[ExchangeOffer], str]:
        """Alternatives for leg `leg_no` and the legs after it: `replan(from_stop, to_stop,
        modes, leg row)` plans them (routing Itineraries); each priced and stored as a short-
        lived offer. Returns (offers, currency)."""
        now = self.now()
        row, legs = await store.read_with_legs(self.pool, booking_id, account_id)
        kept, replaced = self._exchange_parts(row, legs, leg_no, now)
        target = replaced[0]
        its = replan(target["from_stop"], replaced[-1]["to_stop"],
                     frozenset(g["mode"] for g in replaced), target)
        out = []
        for it in its:
            if not it.key.legs or it.key.legs[0].departure <= now or _same_legs(it.key, replaced):
                continue
            money = self._money(network, row, kept, replaced, it.key, now)
            offer = StoredOffer(exchange_store.new_offer_id(), booking_id, leg_no, it.id,
                                money.new_prices, money.old_minor, money.fee_minor, now,
                                now + self.config.exchange_offer_ttl)
            out.append(ExchangeOffer(offer, it, money))
            if len(out) >= self.config.exchange_offers:
                break
        await exchange_store.save_offers(self.pool, [o.offer for o in out])
        return out, row["currency"]

    async def exchange(self, account_id: str, booking_id: str, offer_id: str, network: Network,
                       live_versions: Mapping[str, str], decode: Callable[[str], Any],
                       conn: asyncpg.Connection | None = None) -> store.BookingView:
        """Swap the legs of offer `offer_id` in (store.replace_legs): one transaction."""
        async def decide(conn: asyncpg.Connection, row: Any, legs: list[Any],
                         t: datetime) -> store.Replacement:
            offer = await exchange_store.take_offer(conn, offer_id, booking_id, t)
            key = decode(offer.itinerary_id)
            check_versions(key.versions, dict(live_versions))
            kept, replaced = self._exchange_parts(row, legs, offer.from_leg, t)
            if sum(g["price_minor"] for g in replaced) != offer.old_minor:
                raise OfferUsed("the booking changed since this offer was made; ask again",
                                offer_id=offer_id)
            if key.legs[0].departure <= t:
                raise LegNotExchangeable("the offered journey has already departed",
                                         leg=offer.from_leg)
            resolved = resolve_legs(network, key.legs)
            new = [store.NewLeg.priced(g, *leg_unit_price(network, self.config.fares, g.span),
                                       price)
                   for g, price in zip(resolved, offer.new_prices, strict=True)]
            due = sum(offer.new_prices) - offer.old_minor + offer.fee_minor
            return store.Replacement(
                offer.from_leg, new, charge_minor=max(0, due), refund_minor=max(0, -due),
                event="exchanged",
                detail={"offer_id": offer_id, "price_difference_minor": due - offer.fee_minor,
                        "fee_minor": offer.fee_minor})

        return await store.replace_legs(self.pool, booking_id, account_id, decide,
                                        capacity=self.config.capacity, now=self.now, conn=conn)

    def close(self) -> None:
        """At shutdown: log the batch sizes of the booking statements (store.Batches)."""
        b = self.batches
        for what, kind in (("hold batches", b.holds), ("booking read batches", b.reads),
                           ("confirm write batches", b.confirms),
                           ("cancel write batches", b.cancels)):
            kind.log_sizes(log, what)

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
