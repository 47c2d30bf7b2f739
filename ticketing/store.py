"""Bookings in PostgreSQL: hold, confirm, cancel, expire, read. The only SQL of bookings.

Concurrency (see 0200_bookings.sql): occupancy is counted from `booking_legs`; writers
that could add occupancy (hold, confirm) first take a transaction-level advisory lock per
segment they touch, in ascending lock-key order, and count only after they hold them
(a hold reads "now" just before its statement, see `hold`; confirm after them, or before
them and then counts its seats again under them, see `confirm`). Every
booking-level write (confirm, cancel, cancel a leg, expire, exchange) locks the booking row
first (after the Idempotency-Key's claim), then segments: one lock order everywhere -> no
deadlocks, and confirm/cancel of one booking serialise; and it updates the booking row in
the transaction that writes any of its legs or tickets (the two-round-trip cancel relies on
it: an unchanged booking row version means unchanged legs and tickets). Every transition
writes its booking_events row in the same transaction.

Round trips (each costs worker and PostgreSQL CPU; the functions are in
0820_booking_round_trips.sql and 0831-0840): a hold is one statement (`maas_hold_rows`,
0836); confirm and cancel are a read (`maas_booking_current`) and one statement that writes
and commits (`maas_confirm_rows`, 0840, which also counts the seats again under the segment
locks; `maas_cancel_write`, 0832): each writes only if the booking row is still the version
read; else the locking way: BEGIN, lock-and-read (`maas_booking_for_write`: booking lock,
segment locks, then one row of booking, legs, passengers), one write, COMMIT. With an
Idempotency-Key (`Idempotent`), the key is claimed by the first locking statement (the read
only looks it up) and its response written by the last. Outside a caller's transaction, a
worker's concurrent holds, reads and writes of one kind share a round trip, a transaction
and a commit (`Batches`), and the confirm of a booking the worker held, or the cancel of one
it confirmed, skips the read (`Memo`). Confirm and cancel answer with the
booking built from the rows they read and what they wrote (what a read after the commit
returns; tested).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, TypeVar

import asyncpg

from ticketing.batcher import Batcher
from ticketing.bookings import (
    CancelOutcome, Event, LegState, RefundPolicy, Status, cancel_booking, cancel_leg,
    effective_status, transition,
)
from ticketing.errors import (
    BookingNotFound, HoldExpired, LegNotExchangeable, NoRefundOffer, SeatsGone, SoldOut,
    TicketingError,
)
from ticketing.rebook import full_refund, offer_legs
from ticketing.fares import FareConfig
from ticketing.offers import OfferLeg
from ticketing.inventory import (
    CapacityConfig, SeatRequest, SegmentKey, capacity_for, first_short_leg,
    segment_keys,
)

__all__ = [
    "NewLeg", "NewPassenger", "NewBooking", "LegView", "PassengerView", "TicketView",
    "BookingView", "SaleOptions", "Idempotent", "Replayed", "Batches", "Memo", "raise_if_used", "new_booking_id", "hold", "confirm", "cancel", "refund_quote", "read_with_legs", "Replacement", "replace_legs", "expire_due", "get_booking",
    "list_bookings", "set_capacity", "occupancy", "held_view", "encrypted_passengers", "update_passenger_cipher",
]

Now = Callable[[], datetime]
Conn = asyncpg.Connection | asyncpg.Pool


@asynccontextmanager
async def _using(pool: asyncpg.Pool, conn: asyncpg.Connection | None) -> AsyncIterator[asyncpg.Connection]:
    """`conn` if the caller has one (e.g. the Idempotency-Key transaction), else a pooled one."""
    if conn is not None:
        yield conn
    else:
        async with pool.acquire() as own:
            yield own


def _tx(conn: asyncpg.Connection):  # type: ignore[no-untyped-def]
    """A transaction, unless the caller's (e.g. the Idempotency-Key one) is already open:
    then its transaction is ours (it rolls back everything on any error)."""
    return contextlib.nullcontext() if conn.is_in_transaction() else conn.transaction()


def new_booking_id() -> str:
    return "bk_" + secrets.token_hex(10)


def _ticket_id() -> str:
    return "tk_" + secrets.token_hex(10)


@dataclass(frozen=True)
class NewLeg(OfferLeg):
    """An offered leg with the price it is sold at."""

    unit_minor: int
    price_source: str
    price_minor: int
    connection_s: int | None = None   # change time before this leg as sold (protection)

    @classmethod
    def priced(cls, leg: OfferLeg, unit_minor: int, source: str, amount_minor: int,
               connection_s: int | None = None) -> "NewLeg":
        return cls(**{f.name: getattr(leg, f.name) for f in fields(OfferLeg)},
                   unit_minor=unit_minor, price_source=source, price_minor=amount_minor,
                   connection_s=connection_s)


@dataclass(frozen=True)
class SaleOptions:
    """The /v1/plan options an itinerary was planned with, kept on the booking so connection
    protection re-plans the journey the same way (0610_rebook.sql)."""
    modes: tuple[str, ...] | None = None    # None: the modes of the legs sold
    wheelchair: bool = False
    max_walk_m: float | None = None
    min_transfer_s: int | None = None
    profile: Mapping[str, Any] = field(default_factory=dict)  # the Query's travel-profile fields


@dataclass(frozen=True)
class NewPassenger:
    passenger_no: int
    category: str
    id_type: str
    key_id: str
    name_ct: bytes
    id_number_ct: bytes
    name_masked: str
    id_masked: str
    id_index: bytes | None = None      # blind index of the ID (ticketing/idcards.py)
    id_index_key: str | None = None    # data key id its key was derived from


@dataclass(frozen=True)
class NewBooking:
    id: str
    account_id: str
    itinerary_id: str
    feed_versions: Mapping[str, str]
    currency: str
    total_minor: int
    legs: Sequence[NewLeg]
    passengers: Sequence[NewPassenger]
    options: SaleOptions = SaleOptions()


@dataclass(frozen=True)
class LegView:
    leg_no: int
    status: str
    feed: str
    agency_id: str
    agency_name: str
    mode: str
    route_id: str
    trip_id: str
    service_date: date
    from_stop: str
    to_stop: str
    departure: datetime
    arrival: datetime
    price_minor: int
    refund_minor: int
    price_source: str
    replaced_by: int | None = None   # status 'replaced': leg_no of the first leg that replaced it


@dataclass(frozen=True)
class PassengerView:
    passenger_no: int
    category: str
    id_type: str
    name_masked: str
    id_masked: str


@dataclass(frozen=True)
class TicketView:
    id: str
    leg_no: int
    passenger_no: int
    status: str


@dataclass(frozen=True)
class BookingView:
    id: str
    status: str
    itinerary_id: str
    currency: str
    total_minor: int
    paid_minor: int
    refund_minor: int
    expires_at: datetime
    created_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    payment_ref: str | None
    legs: tuple[LegView, ...]
    passengers: tuple[PassengerView, ...]
    tickets: tuple[TicketView, ...] = field(default=())
    protection: Mapping[str, Any] | None = None   # bookings.protection (connection protection)


# --- seat segments -------------------------------------------------------------------------

_LOCK_SPACE = 1651  # advisory lock class of seat segments (two-int form: its own key space)


@functools.lru_cache(maxsize=1 << 16)
def _lock_id(key: SegmentKey) -> int:
    """A stable 32-bit lock key per segment; a collision only serialises two segments."""
    raw = f"{key[0]}|{key[1].isoformat()}|{key[2]}".encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=4).digest(), "big", signed=True)


def _columns(keys: Sequence[SegmentKey]) -> tuple[list[str], list[date], list[int]]:
    return [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]


async def _lock_segments(conn: asyncpg.Connection, keys: Sequence[SegmentKey]) -> None:
    """Lock the segments for this transaction, in ascending lock-key order."""
    ids = sorted({_lock_id(k) for k in keys})
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1::int, k) FROM unnest($2::int[]) WITH ORDINALITY AS u(k, i) "
        "ORDER BY i", _LOCK_SPACE, ids)


# Seats taken per segment, one number per key in the order given. A correlated sum per key
# (not a join + GROUP BY): its plan is one index probe of booking_legs_occupancy per key
# whether PostgreSQL plans it for these values or once for all (a prepared statement's
# generic plan, also one made while the table was still empty). The join form's generic
# plan cost ~2 ms of PostgreSQL CPU per hold with a few thousand legs (measured), ~7x this.
_TAKEN = """
    ARRAY(SELECT (SELECT coalesce(sum(l.passengers), 0)::int FROM booking_legs l
                  WHERE l.trip_id = k.trip_id AND l.service_date = k.service_date
                    AND l.board_pos <= k.seg AND l.alight_pos > k.seg
                    AND l.status IN ('held', 'confirmed')
                    AND (l.status = 'confirmed' OR l.hold_until > $4))
          FROM unnest($1::text[], $2::date[], $3::int[]) WITH ORDINALITY
               AS k(trip_id, service_date, seg, i)
          ORDER BY k.i)"""


async def occupancy(conn: Conn, keys: Sequence[SegmentKey], now: datetime) -> dict[SegmentKey, int]:
    """Seats taken per segment: confirmed legs, and held legs whose hold has not run out."""
    taken = await conn.fetchval(f"SELECT {_TAKEN}", *_columns(keys), now)
    return dict(zip(keys, taken))


async def _occupancy_and_capacities(conn: asyncpg.Connection, keys: Sequence[SegmentKey],
                                    now: datetime, legs: Sequence[NewLeg], cfg: CapacityConfig
                                    ) -> tuple[dict[SegmentKey, int], dict[int, int]]:
    """One round trip: seats taken per segment, and each leg's capacity."""
    ids = sorted({leg.route_id for leg in legs} | {leg.trip_id for leg in legs}
                 | {leg.trip_id.split("@", 1)[0] for leg in legs})
    row = await conn.fetchrow(
        f"""SELECT {_TAKEN} AS taken,
                   (SELECT array_agg(c) FROM (SELECT scope, ref_id, seats FROM seat_capacity
                                              WHERE ref_id = ANY($5)) c) AS caps""",
        *_columns(keys), now, ids)
    taken = dict(zip(keys, row["taken"]))
    # anonymous records come back as tuples: (scope, ref, seats)
    overrides = {(r[0], r[1]): r[2] for r in row["caps"] or ()}
    return taken, {leg.leg_no: capacity_for(cfg, leg.mode, leg.route_id, leg.trip_id, overrides)
                   for leg in legs}


async def set_capacity(conn: Conn, feed: str, scope: str, ref_id: str, seats: int,
                       key_id: str | None) -> None:
    await conn.execute(
        """INSERT INTO seat_capacity (scope, ref_id, feed, seats, updated_by, updated_at)
           VALUES ($1, $2, $3, $4, $5, now())
           ON CONFLICT (scope, ref_id) DO UPDATE
           SET seats = EXCLUDED.seats, updated_by = EXCLUDED.updated_by, updated_at = now()""",
        scope, ref_id, feed, seats, key_id)


# --- hold ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Idempotent:
    """An Idempotency-Key request whose response is written with the booking's own writes
    (maas/idempotency.py): the key is claimed in the same transaction, and `render(view)`
    gives the response body stored with the effects (status `status`, type `content_type`)."""
    scope: str
    key: str
    request_hash: bytes
    render: Callable[["BookingView"], bytes]
    status: int = 200
    content_type: str = "application/json"


class Replayed(Exception):
    """The Idempotency-Key was used before: nothing was done; `row` is its stored response
    (an idempotency_keys row). Not a domain error: the caller replays (or refuses) it."""

    def __init__(self, row: Any) -> None:
        super().__init__("idempotency key already used")
        self.row = row


_IDEM_RACE = "maas_idempotency_race"


async def _stored(conn: Conn, idem: Idempotent) -> Replayed:
    """The key's stored response, after a statement found it written meanwhile by a writer
    that did not take the claim's lock (rolled back; nothing of ours is kept)."""
    row = await conn.fetchrow("SELECT * FROM idempotency_keys WHERE scope = $1 AND key = $2",
                              idem.scope, idem.key)
    return Replayed(row)


async def raise_if_used(pool: asyncpg.Pool, idem: Idempotent) -> None:
    """Replayed if the key holds a stored response (waiting for a duplicate in flight)."""
    row = await pool.fetchrow("SELECT * FROM maas_idempotency_claim($1, $2)", idem.scope, idem.key)
    if row is not None:
        raise Replayed(row)


def _idem_args(idem: Idempotent | None, view: BookingView | None) -> list[Any]:
    if idem is None or view is None:
        return [None] * 6
    return [idem.scope, idem.key, idem.request_hash, idem.status, idem.render(view),
            idem.content_type]


async def hold(pool: asyncpg.Pool, booking: NewBooking, *, capacity: CapacityConfig,
               ttl: timedelta, now: Now, conn: asyncpg.Connection | None = None,
               idempotent: Idempotent | None = None, batches: Batches | None = None
               ) -> BookingView:
    """Hold every leg's seats for all passengers, or raise SoldOut holding nothing.

    One statement (`maas_hold_rows`, 0836_hold_rows.sql, its seat count read per leg since
    0841_hold_count_per_leg.sql: the passengers and legs as arrays of rows): segment locks,
    seats counted after them, capacities, the writes. "now" is read before it: a clock read
    earlier than the count only counts more holds as live (never sells a seat twice), and a
    confirm reads its clock after the same locks, so after this hold's. With `idempotent`, the
    key is claimed first and the response (of the held view) stored with the booking; a used
    key raises Replayed. Returns the held booking's view (`held_view`, built once: the key's
    response is rendered from it). With `conn`, runs inside the caller's transaction; else
    with `batches`, shares a statement with concurrent holds (`Batches`)."""
    n = len(booking.passengers)
    after = transition(None, Event.HOLD)
    t = now()
    expires = t + ttl
    view = held_view(booking, t, expires)
    idem = _idem_args(idempotent, view)
    try:
        legs, locks = _hold_legs(booking.legs, capacity)
        b, o = booking, booking.options
        args = (b.id, b.account_id, after.value, b.itinerary_id, dict(b.feed_versions),
                b.currency, b.total_minor, expires, t,
                {"total_minor": b.total_minor, "expires_at": expires.isoformat()},
                list(o.modes) if o.modes is not None else None, o.wheelchair, o.max_walk_m,
                o.min_transfer_s, dict(o.profile),
                [(p.passenger_no, p.category, p.id_type, p.key_id, p.name_ct, p.id_number_ct,
                  p.name_masked, p.id_masked, p.id_index, p.id_index_key) for p in b.passengers],
                legs, locks, *idem)
        row = await (batches.holds.submit(args) if batches is not None and conn is None
                     else (conn or pool).fetchrow(_HOLD, *args))
    except asyncpg.RaiseError as err:
        if idempotent is None or conn is not None or str(err) != _IDEM_RACE:
            raise
        raise await _stored(pool, idempotent) from None
    if row["replay"] is not None:
        raise Replayed(row["replay"])
    if row["short_leg"] is not None:
        leg = booking.legs[row["short_leg"]]
        raise SoldOut(f"leg {leg.leg_no} ({leg.trip_id} {leg.from_stop} -> "
                      f"{leg.to_stop} on {leg.service_date}) has fewer than {n} free seats",
                      leg=leg.leg_no, trip_id=leg.trip_id)
    if batches is not None and conn is None:
        batches.memo.put(booking.id, booking.account_id, Status.HELD, functools.partial(
            _held_row, booking, t, expires, legs, row["version"]))
    return view


# The hold with the version (xmin) of the booking row it wrote: the id of the transaction
# that ran it, NULL if nothing was written (then no id is assigned: no commit record).
_HOLD = ("SELECT h.*, pg_current_xact_id_if_assigned()::xid AS version FROM maas_hold_rows("
         + ", ".join(f"${i}" for i in range(1, 25)) + ") h")


def _hold_legs(legs: Sequence[NewLeg], capacity: CapacityConfig
               ) -> tuple[list[tuple[Any, ...]], list[int]]:
    """(maas_hold_rows' leg rows, every segment lock key of the hold in ascending order): a
    leg's row carries its capacity from the settings and its segments' lock keys."""
    rows, every = [], set()
    for g in legs:
        ids = sorted({_lock_id((g.trip_id, g.service_date, s))
                      for s in range(g.board_pos, g.alight_pos)})
        every.update(ids)
        rows.append((g.leg_no, g.feed, g.agency_id, g.agency_name, g.mode, g.route_id,
                     g.trip_id, g.service_date, g.board_pos, g.alight_pos, g.from_stop,
                     g.to_stop, g.departure, g.arrival, g.unit_minor, g.price_source,
                     g.price_minor, g.connection_s,
                     capacity.by_mode.get(g.mode, capacity.default), ids))
    return rows, sorted(every)




def _held_row(b: NewBooking, t: datetime, expires: datetime, legs: Sequence[tuple[Any, ...]],
              version: int) -> dict[str, Any]:
    """The booking just held as `maas_booking_current` returns it (`Memo`), without reading
    it: the columns maas_hold_rows wrote; `legs` are its leg rows (`_hold_legs`)."""
    o, n = b.options, len(b.passengers)
    return {
        "id": b.id, "account_id": b.account_id, "status": Status.HELD.value,
        "itinerary_id": b.itinerary_id, "feed_versions": dict(b.feed_versions),
        "passenger_count": n, "passenger_categories": [p.category for p in b.passengers],
        "currency": b.currency, "total_minor": b.total_minor, "paid_minor": 0,
        "refund_minor": 0, "expires_at": expires, "payment_ref": None, "created_at": t,
        "updated_at": t, "confirmed_at": None, "cancelled_at": None,
        "modes": list(o.modes) if o.modes is not None else None, "wheelchair": o.wheelchair,
        "max_walk_m": o.max_walk_m, "min_transfer_s": o.min_transfer_s,
        "protection": None, "profile": dict(o.profile), "version": version,
        "legs": [{"booking_id": b.id, "leg_no": g[0], "status": "held", "feed": g[1],
                  "agency_id": g[2], "agency_name": g[3], "mode": g[4], "route_id": g[5],
                  "trip_id": g[6], "service_date": g[7], "board_pos": g[8], "alight_pos": g[9],
                  "from_stop": g[10], "to_stop": g[11], "departure": g[12], "arrival": g[13],
                  "passengers": n, "hold_until": expires, "unit_minor": g[14],
                  "price_source": g[15], "price_minor": g[16], "refund_minor": 0,
                  "cancelled_at": None, "connection_s": g[17], "replaced_by": None,
                  "lock_ids": g[19]} for g in legs],
        "pax": [{"passenger_no": p.passenger_no, "category": p.category, "id_type": p.id_type,
                 "name_masked": p.name_masked, "id_masked": p.id_masked}
                for p in b.passengers],
        "tickets": None, "replay": None,
    }


def held_view(b: NewBooking, created: datetime, expires: datetime) -> BookingView:
    """The view of a booking just held (what a read would return), without reading it."""
    return BookingView(
        b.id, Status.HELD.value, b.itinerary_id, b.currency, b.total_minor, 0, 0, expires,
        created, None, None, None,
        tuple(LegView(g.leg_no, "held", g.feed, g.agency_id, g.agency_name, g.mode, g.route_id,
                      g.trip_id, g.service_date, g.from_stop, g.to_stop, g.departure, g.arrival,
                      g.price_minor, 0, g.price_source) for g in b.legs),
        tuple(PassengerView(p.passenger_no, p.category, p.id_type, p.name_masked, p.id_masked)
              for p in b.passengers))


# --- confirm, cancel, expire -----------------------------------------------------------------

async def _lock_booking(conn: asyncpg.Connection, booking_id: str,
                        account_id: str | None) -> asyncpg.Record:
    row = await conn.fetchrow(
        """SELECT * FROM bookings WHERE id = $1 AND ($2::text IS NULL OR account_id = $2)
           FOR UPDATE""", booking_id, account_id)
    if row is None:
        raise BookingNotFound(f"no booking {booking_id}", booking_id=booking_id)
    return row


# The booking row locked (as _lock_booking), with its legs (locked too) and passengers: one
# row per leg, in leg order. Row-locking the legs as well makes a statement that waited for
# the booking's lock return the versions committed by the writer it waited for (READ
# COMMITTED re-reads locked rows, not the rest of its snapshot); legs are never added or
# removed after the hold. FOR NO KEY UPDATE of a leg is what the leg's UPDATE takes anyway
# (it does not block a gate tap's foreign-key check). Passengers' masked fields never change.
_LOCKED = """
    SELECT b.*, l AS leg,
      (SELECT array_agg(p ORDER BY p.passenger_no) FROM booking_passengers p
        WHERE p.booking_id = b.id) AS pax
    FROM bookings b JOIN booking_legs l ON l.booking_id = b.id
    WHERE b.id = $1 AND ($2::text IS NULL OR b.account_id = $2)
    ORDER BY l.leg_no
    FOR UPDATE OF b FOR NO KEY UPDATE OF l"""


async def _legs(conn: Conn, booking_id: str) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM booking_legs WHERE booking_id = $1 "
                                 "ORDER BY leg_no", booking_id))


async def _lock_with_legs(conn: asyncpg.Connection, booking_id: str, account_id: str | None
                          ) -> tuple[asyncpg.Record, list[Any], list[Any]]:
    """(booking row, its legs, its passengers), the booking and legs locked: one round trip."""
    rows = await conn.fetch(_LOCKED, booking_id, account_id)
    if not rows:  # no such booking (a booking without legs is not made by hold)
        row = await _lock_booking(conn, booking_id, account_id)
        pax = await conn.fetch("SELECT * FROM booking_passengers WHERE booking_id = $1 "
                               "ORDER BY passenger_no", booking_id)
        return row, [], list(pax)   # the join found no leg: it has none
    return rows[0], [r["leg"] for r in rows], list(rows[0]["pax"] or ())


class _Race(Exception):
    """The response row was written meanwhile without the claim's lock: roll back, replay."""


async def _locked_for(conn: asyncpg.Connection, booking_id: str, account_id: str | None,
                      idempotent: Idempotent | None, *, segments: bool, tickets: bool
                      ) -> tuple[Any, list[Any], list[Any], list[Any]]:
    """(booking row, its legs, its passengers, its tickets if `tickets`), the booking locked
    and read after the locks; with `idempotent` the key claimed first (Replayed if used);
    with `segments` the held legs' segments locked too when they all carry their lock keys
    (else the caller locks them). One round trip, one row (maas_booking_for_write, migration
    0831: the legs, and the passengers' and tickets' shown fields, as arrays)."""
    row = await conn.fetchrow("SELECT * FROM maas_booking_for_write($1, $2, $3, $4, $5, $6)",
                              booking_id, account_id, idempotent and idempotent.scope,
                              idempotent and idempotent.key, segments, tickets)
    if row is None:
        raise BookingNotFound(f"no booking {booking_id}", booking_id=booking_id)
    if row["replay"] is not None:
        raise Replayed(row["replay"])
    return row, list(row["legs"] or ()), list(row["pax"] or ()), list(row["tickets"] or ())


async def _expire(conn: asyncpg.Connection, booking_id: str, now: datetime) -> None:
    await conn.execute(
        """WITH bk AS (UPDATE bookings SET status = 'expired', updated_at = $2 WHERE id = $1),
                lg AS (UPDATE booking_legs SET status = 'expired'
                       WHERE booking_id = $1 AND status = 'held')
           INSERT INTO booking_events (booking_id, event, from_status, to_status, occurred_at)
           VALUES ($1, 'expire', 'held', 'expired', $2)""", booking_id, now)


async def confirm(pool: asyncpg.Pool, booking_id: str, account_id: str, payment_ref: str, *,
                  now: Now, conn: asyncpg.Connection | None = None,
                  idempotent: Idempotent | None = None,
                  capacity: CapacityConfig | None = None,
                  batches: Batches | None = None) -> BookingView:
    """held -> confirmed with one ticket per leg per passenger; an expired hold -> 409.

    Round trips, with `capacity` (the seat re-count needs it) and outside a caller's
    transaction: a read (`maas_booking_current`, 0833: key, booking, legs, no lock), then one
    statement that claims the key, writes only if the booking row is still the version read,
    takes the segment locks, counts the seats again under them and commits
    (`maas_confirm_rows`, migration 0840). Else, and when the booking changed in between, is
    past its hold, or a segment is over capacity after the locks (a hold that read its clock
    later may have counted this one as expired): the locking way, BEGIN, the locking read
    (key claim, booking, legs, segment locks; the clock read after them), the write (with the
    key's response), COMMIT. Returns the booking as a read after the commit would (built
    from the rows it read and what it wrote). With `batches` (and no `conn`), the read and the
    write share statements with concurrent confirms and cancels (`Batches`)."""
    write = functools.partial(_confirm_from, payment_ref=payment_ref, now=now,
                              idempotent=idempotent, capacity=capacity)
    if batches is not None and capacity is not None and conn is None:
        done = await _unlocked(batches, booking_id, account_id, idempotent, Status.HELD, write)
        if done is not None:
            return done
    async with _using(pool, conn) as conn:
        if batches is None and capacity is not None and not conn.is_in_transaction():
            done = await _unlocked(_Alone(conn), booking_id, account_id, idempotent,
                                   Status.HELD, write)
            if done is not None:
                return done
        expired = False
        try:
            async with _tx(conn):
                row, all_legs, pax, _ = await _locked_for(conn, booking_id, account_id,
                                                          idempotent, segments=True,
                                                          tickets=False)
                legs = [g for g in all_legs if g["status"] == "held"]
                if any(g["lock_ids"] is None for g in legs):
                    # A hold counting this one as expired holds these locks; taking them
                    # before reading the clock orders us after it (then we see expired) or
                    # before it. (Held legs with their lock keys: taken by the read.)
                    await _lock_segments(conn, segment_keys(
                        SeatRequest(g["leg_no"], g["trip_id"], g["service_date"], g["board_pos"],
                                    g["alight_pos"], 0, 0) for g in legs))
                t = now()
                before = Status(row["status"])
                if effective_status(before, row["expires_at"], t) is Status.EXPIRED and \
                        before is Status.HELD:
                    await _expire(conn, booking_id, t)
                    expired = True
                else:
                    after = transition(before, Event.CONFIRM, expires_at=row["expires_at"], now=t)
                    tickets, view = _confirmed(row, all_legs, legs, pax, payment_ref, after, t,
                                               now)
                    if not await _issue(conn, row, legs, payment_ref, after, t, tickets,
                                        _idem_args(idempotent, view)) and idempotent:
                        raise _Race
        except _Race:
            raise await _stored(conn, idempotent) from None  # type: ignore[arg-type]
        if expired:
            raise HoldExpired("the hold has expired; book again", booking_id=booking_id)
        return view


async def _current(via: Batches | _Alone, booking_id: str, account_id: str,
                   idempotent: Idempotent | None) -> asyncpg.Record:
    """The unlocked read of confirm's and cancel's two-round-trip ways
    (`maas_booking_current`): the booking's row with its legs, passengers and tickets; a used
    key raises Replayed, an unknown booking BookingNotFound."""
    row = await via.reads.submit((booking_id, account_id, idempotent and idempotent.scope,
                                  idempotent and idempotent.key))
    if row["replay"] is not None:
        raise Replayed(row["replay"])
    if row["id"] is None:
        raise BookingNotFound(f"no booking {booking_id}", booking_id=booking_id)
    return row


_RECOUNT = "maas_confirm_recount"
_CURRENT = "SELECT * FROM maas_booking_current($1, $2, $3, $4)"
# (written, the booking row's new version: the id of the transaction that wrote it)
_CONFIRM_WRITE = ("SELECT w.*, pg_current_xact_id_if_assigned()::xid AS version "
                  "FROM maas_confirm_rows(" + ", ".join(f"${i}" for i in range(1, 16))
                  + ") w")
_CANCEL_WRITE = "SELECT maas_cancel_write(" + ", ".join(f"${i}" for i in range(1, 22)) + ")"
_HOLD_LOCKS, _CONFIRM_LOCKS = 17, 6     # where each statement's segment lock keys are


class Memo:
    """A worker's last known state of the bookings it has just held or confirmed, as
    `maas_booking_current` returns it with the booking row's version (xmin): the next confirm
    of a booking it held, or cancel of one it confirmed, starts from it instead of that read
    (one statement less). Only a hint: the write checks the version (`xmin = p_xmin`) and
    does nothing over a booking changed meanwhile (confirmed on another worker, cancelled,
    expired, exchanged), which is then read and written as without it; and a request the
    remembered state refuses is decided by the read, not by it. An entry is used once; the
    oldest go past `size`, and any after `ttl_s` (transaction ids wrap around, in billions)."""

    def __init__(self, size: int = 1024, ttl_s: float = 600.0) -> None:
        # ~4.5 kB an entry of a two-leg, two-passenger hold (tracemalloc): <= ~5 MB a worker
        self.size, self.ttl_s = size, ttl_s
        # booking id -> (monotonic deadline, account, status, the row's maker: built if used)
        self._rows: dict[str, tuple[float, str, str, Callable[[], dict[str, Any]]]] = {}

    def put(self, booking_id: str, account_id: str, status: Status,
            make: Callable[[], dict[str, Any]]) -> None:
        rows = self._rows
        rows.pop(booking_id, None)
        if len(rows) >= self.size:
            del rows[next(iter(rows))]
        rows[booking_id] = (time.monotonic() + self.ttl_s, account_id, status.value, make)

    def take(self, booking_id: str, account_id: str, status: Status) -> dict[str, Any] | None:
        """The booking's remembered row (forgotten here), if it is `account_id`'s and was
        remembered `status` (a held booking's entry is stale once another worker confirmed it:
        a cancel does not guess from it)."""
        got = self._rows.pop(booking_id, None)
        if got is None or got[0] < time.monotonic() or got[1] != account_id or \
                got[2] != status.value:
            return None
        return got[3]()


def _first_locks_all(items: Sequence[tuple[Any, ...]], locks: int, others: bool
                     ) -> list[tuple[Any, ...]]:
    """A batch's items with the first one's segment lock keys (argument `locks`) replaced by
    every item's, ascending. With `others` False the other items send none: a hold takes its
    locks unconditionally (0836_hold_rows.sql), so after the first item's they are all held by
    the batch's transaction, and another item's own would only be encoded and sent, then
    taken again. A confirm (`others`) locks its own only if its booking row is not the
    version read, so it keeps them."""
    first = (*items[0][:locks], sorted(set().union(*(a[locks] for a in items))),
             *items[0][locks + 1:])
    if others:
        return [first, *items[1:]]
    return [first, *((*a[:locks], [], *a[locks + 1:]) for a in items[1:])]


class _One:
    """One statement kind run alone on one connection (a Batcher's `submit`, unbatched)."""

    def __init__(self, conn: Conn, sql: str) -> None:
        self.conn, self.sql = conn, sql

    async def submit(self, args: Sequence[Any]) -> asyncpg.Record:
        return await self.conn.fetchrow(self.sql, *args)


class _Alone:
    """confirm's and cancel's statements on the caller's connection, one at a time."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.pool = conn
        self.memo: Memo | None = None
        self.reads = _One(conn, _CURRENT)
        self.confirms = _One(conn, _CONFIRM_WRITE)
        self.cancels = _One(conn, _CANCEL_WRITE)


class Batches:
    """One worker's booking statements in batches (group commit, ticketing/batcher.py; issue
    17): concurrent holds, confirm's and cancel's unlocked reads, their writes, each kind
    sent as one pipelined `fetchmany` (one round trip, one transaction, one commit), every
    item its own statement and its own outcome row; a batch that fails (a raised key race or
    recount, a deadlock) is run again item by item, so each caller gets what it would alone.

    Lock order inside a batch of writes: items sorted by booking; each item claims its
    Idempotency-Key, then its booking row (confirm, cancel). Holds and confirms also lock
    segments: the batch's first item takes every segment lock of the batch, ascending (the
    others' own are then already held), so two batches take their segments in one order, as
    lone statements do; a confirm's locks come after its booking row, so its first item's
    union is taken only if that row is still the version read (else the items lock their own
    and a deadlock is possible: PostgreSQL then fails one batch, run again item by item). A
    lone statement that PostgreSQL fails on a deadlock is run again once (`_alone`)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.memo = Memo()
        self.reads: Batcher[tuple[Any, ...], asyncpg.Record] = Batcher(
            self._many(_CURRENT), self._one(_CURRENT), key=lambda a: a, order=lambda a: a[0])
        self.holds: Batcher[tuple[Any, ...], asyncpg.Record] = Batcher(
            self._many(_HOLD, _HOLD_LOCKS, others=False), self._one(_HOLD), key=lambda a: a[0],
            order=lambda a: a[0])
        self.confirms: Batcher[tuple[Any, ...], asyncpg.Record] = Batcher(
            self._many(_CONFIRM_WRITE, _CONFIRM_LOCKS), self._one(_CONFIRM_WRITE),
            key=lambda a: a[0], order=lambda a: a[0])
        self.cancels: Batcher[tuple[Any, ...], asyncpg.Record] = Batcher(
            self._many(_CANCEL_WRITE), self._one(_CANCEL_WRITE), key=lambda a: a[0],
            order=lambda a: a[0])

    def _many(self, sql: str, locks: int | None = None, others: bool = True
              ) -> Callable[[Sequence[tuple[Any, ...]]], Awaitable[list[asyncpg.Record]]]:
        async def run(items: Sequence[tuple[Any, ...]]) -> list[asyncpg.Record]:
            if len(items) == 1:
                return [await self._alone(sql, items[0])]
            if locks is not None:
                items = _first_locks_all(items, locks, others)
            async with self.pool.acquire() as conn:
                return await conn.fetchmany(sql, items)
        return run

    def _one(self, sql: str) -> Callable[[tuple[Any, ...]], Awaitable[asyncpg.Record]]:
        async def run(item: tuple[Any, ...]) -> asyncpg.Record:
            return await self._alone(sql, item)
        return run

    async def _alone(self, sql: str, item: tuple[Any, ...]) -> asyncpg.Record:
        """One item's statement, run again once if PostgreSQL made it a deadlock's victim: a
        batch item claims its Idempotency-Key after the batch's segment locks, so a duplicate
        of that key running alone elsewhere (key, then segments) can close a cycle with the
        batch; run again, it waits for the batch and finds the key used."""
        try:
            return await self.pool.fetchrow(sql, *item)
        except asyncpg.DeadlockDetectedError:
            return await self.pool.fetchrow(sql, *item)


_NEVER = datetime(2000, 1, 1, tzinfo=timezone.utc)
# a leg of no trip whose capacity (-1) no count fits: the hold returns it short, writing nothing
_NO_LEG = (0, "", "", "", "", "", "", _NEVER.date(), 0, 1, "", "", _NEVER, _NEVER, 0, "", 0, None,
           -1, [])


async def warm_connection(conn: Any) -> None:
    """Run the hold's, confirm's and cancel's statements once on a new pooled connection,
    with arguments that write nothing (a hold of one leg no seat count fits, confirm's read
    and writes of the booking '', which no booking is), so its first requests find them
    prepared in asyncpg's cache and the functions compiled, their first statements planned,
    their tables' catalog entries loaded in the backend (maas/db.py `db_warm`). A hold's
    writes after its seat count stay unplanned until its first real hold."""
    await conn.fetchrow(_HOLD, "", "", Status.HELD.value, "", {}, "", 0, _NEVER, _NEVER, {},
                        None, False, None, None, {}, [], [_NO_LEG], [], *[None] * 6)
    await conn.fetchrow(_CURRENT, "", "", None, None)
    await conn.fetchrow(_CONFIRM_WRITE, "", 0, _NEVER, Status.CONFIRMED.value, "", [], [], [],
                        {}, *[None] * 6)
    await conn.fetchrow(_CANCEL_WRITE, "", 0, _NEVER, [], [], [], [], Status.CANCELLED.value, 0,
                        0, True, Event.CANCEL.value, Status.CONFIRMED.value, None, {},
                        *[None] * 6)


def _confirmed(row: Mapping[str, Any], all_legs: Sequence[Any], legs: Sequence[Any],
               pax: Sequence[Any], payment_ref: str, after: Status, t: datetime, now: Now
               ) -> tuple[list[tuple[str, int, int, str]], BookingView]:
    """(the tickets to issue, the booking after confirming its held `legs` at `t`)."""
    cats = row["passenger_categories"]
    # A held booking has no tickets yet: they are all issued here.
    tickets = [(_ticket_id(), g["leg_no"], p, cats[p]) for g in legs for p in range(len(cats))]
    confirmed = {g["leg_no"] for g in legs}
    view = _build_view(
        {**row, "status": after.value, "payment_ref": payment_ref,
         "paid_minor": row["total_minor"], "confirmed_at": t},
        [{**g, "status": "confirmed"} if g["leg_no"] in confirmed else g for g in all_legs],
        pax, [TicketView(k[0], k[1], k[2], "issued") for k in tickets], now())
    return tickets, view


_W = TypeVar("_W")  # what an unlocked write returns


async def _unlocked(via: Batches | _Alone, booking_id: str, account_id: str,
                    idempotent: Idempotent | None, remembered: Status,
                    write: Callable[[Batches | _Alone, Mapping[str, Any]], Awaitable[_W | None]]
                    ) -> _W | None:
    """`confirm`'s and `cancel`'s two round trips (see them): the unlocked read, then
    `write` (`_confirm_from`, `_cancel_from`) over its row; or one round trip when this worker
    remembers the booking `remembered` (`Memo`: held for a confirm, confirmed for a cancel;
    if it changed meanwhile, nothing is written and it is read as without). None when it must
    be done the locking way (nothing written; `write` says when). A used key raises Replayed;
    a request the booking does not allow raises as the caller does (the read's booking
    decides, not a remembered one)."""
    row = via.memo.take(booking_id, account_id, remembered) if via.memo is not None else None
    if row is not None:
        with contextlib.suppress(TicketingError):
            done = await write(via, row)
            if done is not None:
                return done
    return await write(via, await _current(via, booking_id, account_id, idempotent))


async def _confirm_from(via: Batches | _Alone, row: Mapping[str, Any], payment_ref: str, *,
                        now: Now, idempotent: Idempotent | None, capacity: CapacityConfig
                        ) -> BookingView | None:
    """`confirm`'s unlocked write over the booking `row` (maas_booking_current's), or None
    when it must be done the locking way (nothing written): the booking changed since `row`,
    its hold has run out (the expiry is written under the locks), a held leg lacks its stored
    segment lock keys, or a segment is over capacity after the locks."""
    t = now()
    before = Status(row["status"])
    if before is Status.HELD and effective_status(before, row["expires_at"], t) is Status.EXPIRED:
        return None
    after = transition(before, Event.CONFIRM, expires_at=row["expires_at"], now=t)
    all_legs = list(row["legs"] or ())
    legs = [g for g in all_legs if g["status"] == "held"]
    if any(g["lock_ids"] is None for g in legs):
        return None
    tickets, view = _confirmed(row, all_legs, legs, list(row["pax"] or ()), payment_ref, after,
                               t, now)
    rows = [(g["leg_no"], g["trip_id"], g["service_date"], g["board_pos"], g["alight_pos"],
             g["route_id"], capacity.by_mode.get(g["mode"], capacity.default)) for g in legs]
    try:
        got = await via.confirms.submit((
            row["id"], row["version"], t, after.value, payment_ref, rows,
            sorted({k for g in legs for k in g["lock_ids"]}), tickets,
            {"payment_ref": payment_ref, "paid_minor": row["total_minor"],
             "tickets": len(tickets)},
            *_idem_args(idempotent, view)))
    except asyncpg.RaiseError as err:
        if str(err) == _RECOUNT:
            return None
        if idempotent is None or str(err) != _IDEM_RACE:
            raise
        raise await _stored(via.pool, idempotent) from None
    if not got[0]:
        return None
    if via.memo is not None:
        via.memo.put(row["id"], row["account_id"], after, functools.partial(
            _confirmed_row, row, legs, tickets, payment_ref, after, t, got["version"]))
    return view


def _confirmed_row(row: Mapping[str, Any], legs: Sequence[Any],
                   tickets: Sequence[tuple[str, int, int, str]], payment_ref: str,
                   after: Status, t: datetime, version: int) -> dict[str, Any]:
    """The booking `row` after confirming its held `legs` (maas_confirm_rows's writes), as
    `maas_booking_current` returns it (`Memo`)."""
    confirmed = {g["leg_no"] for g in legs}
    return {**row, "status": after.value, "payment_ref": payment_ref,
            "paid_minor": row["total_minor"], "confirmed_at": t, "updated_at": t,
            "version": version, "replay": None,
            "legs": [{**g, "status": "confirmed"} if g["leg_no"] in confirmed else dict(g)
                     for g in row["legs"] or ()],
            "tickets": [{"id": k[0], "leg_no": k[1], "passenger_no": k[2], "status": "issued"}
                        for k in tickets]}


async def _issue(conn: asyncpg.Connection, row: Any, legs: Sequence[Any],
                 payment_ref: str, after: Status, t: datetime,
                 tickets: Sequence[tuple[str, int, int, str]], idem: Sequence[Any]) -> bool:
    """Booking and legs confirmed, the tickets, the event, the Idempotency-Key's response
    (`idem`: _idem_args): one statement. False if the key's row was there already.

    The legs are named by number (the held ones, read under the booking's row lock, which
    every leg writer takes first): with only `status = 'held'` next to the booking id, a
    generic plan on a young table also reads the partial occupancy index (measured)."""
    return bool(await conn.fetchval(
        """WITH bk AS (UPDATE bookings SET status = $2, payment_ref = $3, paid_minor = total_minor,
                           confirmed_at = $4, updated_at = $4 WHERE id = $1),
                lg AS (UPDATE booking_legs SET status = 'confirmed'
                       WHERE booking_id = $1 AND leg_no = ANY($10::int[]) AND status = 'held'),
                tk AS (INSERT INTO tickets (id, booking_id, leg_no, passenger_no, category, status,
                                            issued_at)
                       SELECT u.id, $1, u.leg_no, u.passenger_no, u.category, 'issued', $4
                       FROM unnest($5::text[], $6::int[], $7::int[], $8::text[])
                            AS u(id, leg_no, passenger_no, category)),
                ik AS (INSERT INTO idempotency_keys (scope, key, request_hash, status, body,
                                                     content_type)
                       SELECT $11, $12, $13, $14, $15, $16 WHERE $11::text IS NOT NULL
                       ON CONFLICT DO NOTHING RETURNING 1)
           INSERT INTO booking_events (booking_id, event, from_status, to_status, detail,
                                       occurred_at)
           VALUES ($1, 'confirm', 'held', $2, $9::jsonb, $4)
           RETURNING $11::text IS NULL OR EXISTS (SELECT FROM ik)""",
        row["id"], after.value, payment_ref, t, [k[0] for k in tickets], [k[1] for k in tickets],
        [k[2] for k in tickets], [k[3] for k in tickets],
        {"payment_ref": payment_ref, "paid_minor": row["total_minor"], "tickets": len(tickets)},
        [g["leg_no"] for g in legs], *idem))


def leg_state(g: Any) -> LegState:
    return LegState(g["leg_no"], g["status"] in ("held", "confirmed"), g["agency_id"], g["mode"],
                    g["departure"], g["unit_minor"], g["price_source"], g["price_minor"])


def _cancel_outcome(row: Mapping[str, Any], legs: Sequence[Any], leg_no: int | None,
                    fares: FareConfig, refunds: RefundPolicy, t: datetime,
                    some: Sequence[int] | None = None) -> CancelOutcome:
    """What cancelling the booking (or leg `leg_no`, or the legs `some`) at `t` does: the one
    computation behind both `cancel` and `refund_quote`, so a quote is what the cancel refunds.
    While connection protection's refund offer stands (ticketing/rebook.py), the broken legs
    it covers are refunded in full; `some` must be such legs (else NoRefundOffer)."""
    before = Status(row["status"])
    states = [leg_state(g) for g in legs]
    paid_left = row["paid_minor"] - row["refund_minor"]
    offered = offer_legs(row.get("protection"), legs)
    if some is not None:
        if not some or not set(some) <= set(offered):
            raise NoRefundOffer(f"legs {sorted(set(some))} are not broken legs with a standing "
                                f"refund offer (offered: {list(offered)})", legs=list(offered))
        return full_refund(row, states, some, refunds, t, only_offered=True)
    if offered and (leg_no is None or leg_no in offered):
        return full_refund(row, states, offered if leg_no is None else [leg_no], refunds, t,
                           only_offered=leg_no is not None)
    if leg_no is None:
        return cancel_booking(before, states, refunds, t, row["expires_at"], paid_left)
    return cancel_leg(before, states, leg_no, row["passenger_categories"], fares, refunds,
                      t, row["expires_at"], paid_left)


async def read_with_legs(conn: Conn, booking_id: str, account_id: str | None
                         ) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
    """(the booking row, its legs in leg order), unlocked; 404 if not the account's."""
    row = await conn.fetchrow("SELECT * FROM bookings WHERE id = $1 AND "
                              "($2::text IS NULL OR account_id = $2)", booking_id, account_id)
    if row is None:
        raise BookingNotFound(f"no booking {booking_id}", booking_id=booking_id)
    return row, await _legs(conn, booking_id)


async def refund_quote(conn: Conn, booking_id: str, account_id: str, leg_no: int | None, *,
                       fares: FareConfig, refunds: RefundPolicy, t: datetime,
                       some: Sequence[int] | None = None) -> CancelOutcome:
    """What `cancel` would refund at `t` (nothing written, nothing locked)."""
    row, legs = await read_with_legs(conn, booking_id, account_id)
    return _cancel_outcome(row, legs, leg_no, fares, refunds, t, some)


async def cancel(pool: asyncpg.Pool, booking_id: str, account_id: str, leg_no: int | None, *,
                 fares: FareConfig, refunds: RefundPolicy, now: Now,
                 conn: asyncpg.Connection | None = None,
                 some: Sequence[int] | None = None,
                 idempotent: Idempotent | None = None,
                 batches: Batches | None = None) -> tuple[CancelOutcome, BookingView]:
    """Cancel the booking, or one leg of it (re-pricing the rest), or the broken legs `some`
    of a standing refund offer (in full); seats go back at once.

    Round trips: a read (`maas_booking_current`, 0833: key, booking, legs, tickets, no
    lock), then one statement that claims the key,
    writes only if the booking row is still the version read, and commits
    (`maas_cancel_write`, migration 0832). If the booking changed in between (a concurrent
    writer), the locking way: BEGIN, the locking read, the write, COMMIT (also inside a
    caller's transaction). Returns the outcome and the booking as a read after the commit
    would. With `batches` (and no `conn`), the read and the write share statements with
    concurrent confirms and cancels (`Batches`)."""
    write = functools.partial(_cancel_from, leg_no=leg_no, fares=fares, refunds=refunds,
                              now=now, some=some, idempotent=idempotent)
    if batches is not None and conn is None:
        done = await _unlocked(batches, booking_id, account_id, idempotent, Status.CONFIRMED,
                               write)
        if done is not None:
            return done
    async with _using(pool, conn) as conn:
        if batches is None and not conn.is_in_transaction():
            done = await _unlocked(_Alone(conn), booking_id, account_id, idempotent,
                                   Status.CONFIRMED, write)
            if done is not None:
                return done
        try:
            async with _tx(conn):
                row, legs, pax, tickets = await _locked_for(conn, booking_id, account_id,
                                                            idempotent, segments=False,
                                                            tickets=True)
                t = now()
                out, view, leg_no = _cancelled(row, legs, pax, tickets, leg_no, fares, refunds,
                                               t, some, now)
                if not await _apply_cancel(conn, row, out, leg_no, Status(row["status"]), t,
                                           _idem_args(idempotent, view)) and idempotent:
                    raise _Race
                return out, view
        except _Race:
            raise await _stored(conn, idempotent) from None  # type: ignore[arg-type]


async def _cancel_from(via: Batches | _Alone, row: Mapping[str, Any], leg_no: int | None, *,
                       fares: FareConfig, refunds: RefundPolicy, now: Now,
                       some: Sequence[int] | None, idempotent: Idempotent | None
                       ) -> tuple[CancelOutcome, BookingView] | None:
    """`cancel`'s unlocked write over the booking `row` (maas_booking_current's), or None
    when the booking changed since `row` (nothing written: cancel the locking way)."""
    t = now()
    out, view, leg_no = _cancelled(row, list(row["legs"] or ()), list(row["pax"] or ()),
                                   list(row["tickets"] or ()), leg_no, fares, refunds, t,
                                   some, now)
    nos = sorted(out.leg_refunds.keys() | out.leg_prices.keys())
    try:
        written = (await via.cancels.submit((
            row["id"], row["version"], t, nos, [out.leg_refunds.get(n) for n in nos],
            [out.leg_prices.get(n) for n in nos], sorted(out.leg_refunds), out.status.value,
            out.total_minor, out.refund_minor, out.status is Status.CANCELLED,
            (Event.CANCEL if leg_no is None else Event.CANCEL_LEG).value, row["status"], leg_no,
            {"refund_minor": out.refund_minor, "total_minor": out.total_minor},
            *_idem_args(idempotent, view))))[0]
    except asyncpg.RaiseError as err:
        if idempotent is None or str(err) != _IDEM_RACE:
            raise
        raise await _stored(via.pool, idempotent) from None
    return (out, view) if written else None


def _cancelled(row: Mapping[str, Any], legs: Sequence[Any], pax: Sequence[Any],
               tickets: Sequence[Any], leg_no: int | None, fares: FareConfig,
               refunds: RefundPolicy, t: datetime, some: Sequence[int] | None, now: Now
               ) -> tuple[CancelOutcome, BookingView, int | None]:
    """(what cancelling does at `t`, the booking after it, the leg_no its event records)."""
    out = _cancel_outcome(row, legs, leg_no, fares, refunds, t, some)
    if some is not None and out.status is not Status.CANCELLED:
        leg_no = min(some)      # recorded as a leg cancel of the first of them
    whole = out.status is Status.CANCELLED
    after_legs = []
    for g in legs:
        n = g["leg_no"]
        if n in out.leg_refunds:
            g = {**g, "status": "cancelled", "refund_minor": out.leg_refunds[n]}
        if n in out.leg_prices:
            g = {**g, "price_minor": out.leg_prices[n]}
        after_legs.append(g)
    view = _build_view(
        {**row, "status": out.status.value, "total_minor": out.total_minor,
         "refund_minor": row["refund_minor"] + out.refund_minor,
         "cancelled_at": t if whole else row["cancelled_at"]},
        after_legs, pax,
        [TicketView(k["id"], k["leg_no"], k["passenger_no"],
                    "cancelled" if k["leg_no"] in out.leg_refunds else k["status"])
         for k in tickets], now())
    return out, view, leg_no


async def _apply_cancel(conn: asyncpg.Connection, row: Any, out: CancelOutcome,
                        leg_no: int | None, before: Status, t: datetime,
                        idem: Sequence[Any]) -> bool:
    """Legs cancelled (refund) or re-priced, their tickets cancelled, the booking, the
    event, the Idempotency-Key's response (`idem`: _idem_args): one statement (one round
    trip). False if the key's row was there already.

    The legs are named by `leg_no = ANY` and their new amounts looked up by position, not
    joined to an unnest of the arrays: PostgreSQL's generic plan of that join was estimated
    dearer than a custom one, so the statement was planned anew at every execution on most
    pooled connections (~0.25 ms of PostgreSQL CPU per cancel, measured)."""
    bid = row["id"]
    nos = sorted(out.leg_refunds.keys() | out.leg_prices.keys())
    whole = out.status is Status.CANCELLED
    event = Event.CANCEL if leg_no is None else Event.CANCEL_LEG
    return bool(await conn.fetchval(
        """WITH lg AS (
             UPDATE booking_legs l
             SET status = CASE WHEN l.leg_no = ANY($6::int[]) THEN 'cancelled' ELSE l.status END,
                 refund_minor = CASE WHEN l.leg_no = ANY($6::int[])
                                     THEN ($4::bigint[])[array_position($3::int[], l.leg_no)]
                                     ELSE l.refund_minor END,
                 cancelled_at = CASE WHEN l.leg_no = ANY($6::int[]) THEN $2 ELSE l.cancelled_at END,
                 price_minor = coalesce(($5::bigint[])[array_position($3::int[], l.leg_no)],
                                        l.price_minor)
             WHERE l.booking_id = $1 AND l.leg_no = ANY($3::int[])),
           tk AS (
             UPDATE tickets SET status = 'cancelled', cancelled_at = $2
             WHERE booking_id = $1 AND leg_no = ANY($6::int[]) AND status = 'issued'),
           bk AS (
             UPDATE bookings SET status = $7, total_minor = $8, refund_minor = refund_minor + $9,
                 updated_at = $2, cancelled_at = CASE WHEN $10 THEN $2 ELSE cancelled_at END
             WHERE id = $1),
           ik AS (
             INSERT INTO idempotency_keys (scope, key, request_hash, status, body, content_type)
             SELECT $15, $16, $17, $18, $19, $20 WHERE $15::text IS NOT NULL
             ON CONFLICT DO NOTHING RETURNING 1)
           INSERT INTO booking_events (booking_id, event, from_status, to_status, leg_no,
                                       detail, occurred_at)
           VALUES ($1, $11, $12, $7, $13, $14::jsonb, $2)
           RETURNING $15::text IS NULL OR EXISTS (SELECT FROM ik)""",
        bid, t, nos, [out.leg_refunds.get(n) for n in nos], [out.leg_prices.get(n) for n in nos],
        sorted(out.leg_refunds), out.status.value, out.total_minor, out.refund_minor, whole,
        event.value, before.value, leg_no,
        {"refund_minor": out.refund_minor, "total_minor": out.total_minor}, *idem))


async def expire_due(pool: asyncpg.Pool, now: datetime, limit: int = 500) -> int:
    """The sweeper: write held -> expired for holds past their expiry. Returns how many.

    Only bookkeeping: an expired hold stopped counting against inventory at expires_at.
    """
    async with pool.acquire() as conn, conn.transaction():
        ids = [r["id"] for r in await conn.fetch(
            """SELECT id FROM bookings WHERE status = 'held' AND expires_at <= $1
               ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED""", now, limit)]
        for bid in ids:
            await _expire(conn, bid, now)
        return len(ids)


# --- replace legs (exchange; connection protection) -----------------------------------------

@dataclass(frozen=True)
class Replacement:
    """What to put in place of the confirmed legs `from_leg`.. of a booking."""
    from_leg: int
    legs: Sequence[NewLeg]          # in travel order; their leg_no is assigned here
    charge_minor: int = 0           # added to the booking's paid amount
    refund_minor: int = 0           # added to the booking's refunds
    event: str = "exchanged"        # booking_events.event
    detail: Mapping[str, Any] = field(default_factory=dict)  # booking_events.detail (no PII)


# decide(conn, booking row, its legs, now) -> the replacement; it runs under the booking's
# row lock (so the legs it sees are the ones replaced) and may raise to change nothing.
Decide = Callable[[asyncpg.Connection, asyncpg.Record, list[Any], datetime], Any]


async def replace_legs(pool: asyncpg.Pool, booking_id: str, account_id: str | None,
                       decide: Decide, *, capacity: CapacityConfig, now: Now,
                       conn: asyncpg.Connection | None = None) -> BookingView:
    """Replace the confirmed legs from_leg.. of a confirmed booking in one transaction: the
    old legs 'replaced' (seats back, tickets cancelled), the new legs appended after the last
    leg, confirmed with new tickets, through the same segment locks and occupancy count as a
    hold; SeatsGone (nothing changed) if a new leg lacks seats. The booking id, and so its QR
    token, stays. Returns the booking as read after the swap."""
    async with _using(pool, conn) as conn, _tx(conn):
        row, legs, _ = await _lock_with_legs(conn, booking_id, account_id)
        t = now()
        rep: Replacement = await decide(conn, row, legs, t)
        old = [g for g in legs if g["leg_no"] >= rep.from_leg and g["status"] == "confirmed"]
        if row["status"] != "confirmed" or not old or not rep.legs:
            raise LegNotExchangeable(f"leg {rep.from_leg} has no confirmed legs to replace",
                                     leg=rep.from_leg)
        n = row["passenger_count"]
        base = max(g["leg_no"] for g in legs) + 1
        new = [replace(g, leg_no=base + i) for i, g in enumerate(rep.legs)]
        old_nos = [g["leg_no"] for g in old]
        keys = segment_keys([SeatRequest(g["leg_no"], g["trip_id"], g["service_date"],
                                         g["board_pos"], g["alight_pos"], n, 0) for g in old]
                            + [SeatRequest(g.leg_no, g.trip_id, g.service_date, g.board_pos,
                                           g.alight_pos, n, 0) for g in new])
        await _lock_segments(conn, keys)
        # the old seats go first: the new legs may reuse them (same trip, earlier stop)
        await conn.execute(
            """WITH lg AS (UPDATE booking_legs SET status = 'replaced', replaced_by = $3
                           WHERE booking_id = $1 AND leg_no = ANY($2::int[]))
               UPDATE tickets SET status = 'cancelled', cancelled_at = $4
               WHERE booking_id = $1 AND leg_no = ANY($2::int[]) AND status = 'issued'""",
            booking_id, old_nos, base, t)
        new_keys = segment_keys(SeatRequest(g.leg_no, g.trip_id, g.service_date, g.board_pos,
                                            g.alight_pos, n, 0) for g in new)
        taken, caps = await _occupancy_and_capacities(conn, new_keys, t, new, capacity)
        short = first_short_leg([SeatRequest(g.leg_no, g.trip_id, g.service_date, g.board_pos,
                                             g.alight_pos, n, caps[g.leg_no]) for g in new], taken)
        if short is not None:
            leg = new[short.leg_no - base]
            raise SeatsGone(f"the seats of {leg.trip_id} {leg.from_stop} -> {leg.to_stop} on "
                            f"{leg.service_date} went meanwhile; nothing was changed",
                            leg=short.leg_no - base, trip_id=leg.trip_id)
        cats = row["passenger_categories"]
        tickets = [(_ticket_id(), g.leg_no, p, cats[p]) for g in new for p in range(n)]
        delta = sum(g.price_minor for g in new) - sum(g["price_minor"] for g in old)
        await conn.execute(
            """WITH lg AS (
                 INSERT INTO booking_legs (booking_id, leg_no, status, feed, agency_id,
                     agency_name, mode, route_id, trip_id, service_date, board_pos, alight_pos,
                     from_stop, to_stop, departure, arrival, passengers, hold_until, unit_minor,
                     price_source, price_minor, connection_s)
                 SELECT $1, u.leg_no, 'confirmed', u.feed, u.agency_id, u.agency_name, u.mode,
                        u.route_id, u.trip_id, u.service_date, u.board_pos, u.alight_pos,
                        u.from_stop, u.to_stop, u.departure, u.arrival, $2, $3, u.unit_minor,
                        u.price_source, u.price_minor, u.connection_s
                 FROM unnest($4::int[], $5::text[], $6::text[], $7::text[], $8::text[],
                             $9::text[], $10::text[], $11::date[], $12::int[], $13::int[],
                             $14::text[], $15::text[], $16::timestamptz[], $17::timestamptz[],
                             $18::bigint[], $19::text[], $20::bigint[], $28::int[])
                      AS u(leg_no, feed, agency_id, agency_name, mode, route_id, trip_id,
                           service_date, board_pos, alight_pos, from_stop, to_stop, departure,
                           arrival, unit_minor, price_source, price_minor, connection_s)),
               bk AS (UPDATE bookings SET total_minor = total_minor + $21,
                          paid_minor = paid_minor + $22, refund_minor = refund_minor + $23,
                          updated_at = $24 WHERE id = $1)
               INSERT INTO booking_events (booking_id, event, from_status, to_status, leg_no,
                                           detail, occurred_at)
               VALUES ($1, $25, 'confirmed', 'confirmed', $26, $27::jsonb, $24)""",
            booking_id, n, row["expires_at"], [g.leg_no for g in new], [g.feed for g in new],
            [g.agency_id for g in new], [g.agency_name for g in new], [g.mode for g in new],
            [g.route_id for g in new], [g.trip_id for g in new], [g.service_date for g in new],
            [g.board_pos for g in new], [g.alight_pos for g in new], [g.from_stop for g in new],
            [g.to_stop for g in new], [g.departure for g in new], [g.arrival for g in new],
            [g.unit_minor for g in new], [g.price_source for g in new],
            [g.price_minor for g in new], delta, rep.charge_minor, rep.refund_minor, t,
            rep.event, rep.from_leg,
            {**rep.detail, "replaced": old_nos, "by": [g.leg_no for g in new]},
            [g.connection_s for g in new])
        # tickets after their legs exist (the foreign key is checked per statement)
        await conn.execute(
            """INSERT INTO tickets (id, booking_id, leg_no, passenger_no, category, status,
                                    issued_at)
               SELECT u.id, $1, u.leg_no, u.passenger_no, u.category, 'issued', $2
               FROM unnest($3::text[], $4::int[], $5::int[], $6::text[])
                    AS u(id, leg_no, passenger_no, category)""",
            booking_id, t, [k[0] for k in tickets], [k[1] for k in tickets],
            [k[2] for k in tickets], [k[3] for k in tickets])
        return await get_booking(conn, booking_id, account_id, t)


# --- reads ---------------------------------------------------------------------------------

def _build_view(b: Mapping[str, Any], legs: Iterable[Mapping[str, Any]],
                pax: Iterable[Mapping[str, Any]], tickets: Iterable[TicketView],
                now: datetime) -> BookingView:
    status = effective_status(b["status"], b["expires_at"], now)
    leg_views = tuple(LegView(
        g["leg_no"], "expired" if status is Status.EXPIRED and g["status"] == "held" else g["status"],
        g["feed"], g["agency_id"], g["agency_name"], g["mode"], g["route_id"], g["trip_id"],
        g["service_date"], g["from_stop"], g["to_stop"], g["departure"], g["arrival"],
        g["price_minor"], g["refund_minor"], g["price_source"], g["replaced_by"]) for g in legs)
    return BookingView(
        b["id"], status.value, b["itinerary_id"], b["currency"], b["total_minor"],
        b["paid_minor"], b["refund_minor"], b["expires_at"], b["created_at"],
        b["confirmed_at"], b["cancelled_at"], b["payment_ref"], leg_views,
        tuple(PassengerView(p["passenger_no"], p["category"], p["id_type"], p["name_masked"],
                            p["id_masked"]) for p in pax),
        tuple(tickets), b.get("protection"))


def _view(row: asyncpg.Record, now: datetime) -> BookingView:
    return _build_view(row, row["legs"] or (), row["pax"] or (),
                       (TicketView(k["id"], k["leg_no"], k["passenger_no"], k["status"])
                        for k in row["tickets"] or ()), now)


# A booking with its legs, passengers and tickets in one row (arrays of table rows).
_FULL = """
    SELECT b.*,
      (SELECT array_agg(l ORDER BY l.leg_no) FROM booking_legs l WHERE l.booking_id = b.id) AS legs,
      (SELECT array_agg(p ORDER BY p.passenger_no) FROM booking_passengers p
        WHERE p.booking_id = b.id) AS pax,
      (SELECT array_agg(k ORDER BY k.leg_no, k.passenger_no) FROM tickets k
        WHERE k.booking_id = b.id) AS tickets
    FROM bookings b"""


async def get_booking(conn: Conn, booking_id: str, account_id: str | None,
                      now: datetime) -> BookingView:
    row = await conn.fetchrow(_FULL + " WHERE b.id = $1 AND ($2::text IS NULL OR b.account_id = $2)",
                              booking_id, account_id)
    if row is None:
        raise BookingNotFound(f"no booking {booking_id}", booking_id=booking_id)
    return _view(row, now)


async def list_bookings(conn: Conn, account_id: str, now: datetime, limit: int,
                        after: tuple[datetime, str] | None = None) -> list[BookingView]:
    """The account's bookings, newest first; `after` = (created_at, id) of the last one seen."""
    rows = await conn.fetch(
        _FULL + """ WHERE b.account_id = $1
             AND ($2::timestamptz IS NULL OR (b.created_at, b.id) < ($2, $3))
           ORDER BY b.created_at DESC, b.id DESC LIMIT $4""",
        account_id, after[0] if after else None, after[1] if after else "", limit)
    return [_view(r, now) for r in rows]


# --- PII key rotation ----------------------------------------------------------------------

async def encrypted_passengers(conn: Conn, not_key: str, limit: int = 500) -> list[asyncpg.Record]:
    """Passenger rows whose ciphertexts use a key other than `not_key` (rotation)."""
    return await conn.fetch(
        """SELECT booking_id, passenger_no, key_id, name_ct, id_number_ct
           FROM booking_passengers WHERE key_id <> $1 LIMIT $2""", not_key, limit)


async def update_passenger_cipher(conn: Conn, booking_id: str, passenger_no: int, key_id: str,
                                  name_ct: bytes, id_number_ct: bytes) -> None:
    await conn.execute(
        """UPDATE booking_passengers SET key_id = $3, name_ct = $4, id_number_ct = $5
           WHERE booking_id = $1 AND passenger_no = $2""",
        booking_id, passenger_no, key_id, name_ct, id_number_ct)
