"""Seat inventory per segment as a property, on real PostgreSQL (the store enforces it).

Random sequences of holds (one or two legs, 1-2 passengers, 2 seats a trip), confirms, cancels, one-leg
cancels and clock steps past hold expiry run against the store; after every step the seats
the store counts on every segment equal a plain model's, never exceed capacity, and a hold
was granted exactly when the model had the seats (a seat sold A->B is free again from B).
Money on the way: a booking never refunds more than was paid, and its legs' refunds add up
to the booking's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maas import auth
from maas.clock import FrozenClock
from maas.db import create_pool
from routing.itinerary import ItineraryKey
from ticketing import store
from ticketing.errors import InvalidTransition, SoldOut
from ticketing.pii import Keyring
from ticketing.sample import leg_key
from ticketing.service import Bookings, PassengerInput

from tests.strategies import ON_DB
from tests.ticketing.test_bookings_store import CONFIG, DAY, LIVE, NET, T0

# (trip, stops, seats): segments 0..stops-2
BUS, RAIL = ("bus:K5-0700", 5, 2), ("rail:G-0800", 4, 2)
SEATS = {BUS[0]: BUS[2], RAIL[0]: RAIL[2]}
SEGMENTS = [(trip, s) for trip, stops, _ in (BUS, RAIL) for s in range(stops - 1)]
IDS = ["11010519491231002X", "440524188001010014"]


def ride(trip):
    name, stops, _ = trip
    return st.tuples(st.integers(0, stops - 2), st.integers(1, stops - 1)).filter(
        lambda ba: ba[0] < ba[1]).map(lambda ba: (name, *ba))


holds = st.tuples(st.just("hold"), st.one_of(
    ride(BUS).map(lambda r: [r]), ride(RAIL).map(lambda r: [r]),
    st.tuples(ride(BUS), ride(RAIL)).map(list)), st.integers(1, 2))
steps = st.lists(st.one_of(
    holds, holds, holds,
    st.tuples(st.sampled_from(["confirm", "cancel"]), st.integers(0, 50)),
    st.tuples(st.just("cancel_leg"), st.integers(0, 50), st.integers(0, 1)),
    st.tuples(st.just("wait"), st.integers(1, 20))), min_size=1, max_size=25)


@dataclass
class Booked:
    id: str
    legs: list[tuple[str, int, int]]
    pax: int
    expires_at: object
    status: str = "held"
    active: list[bool] = field(default_factory=list)


class Model:
    """Who holds which seats, in plain Python."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock, self.bookings = clock, []

    def live(self, b: Booked) -> bool:
        return b.status == "confirmed" or (b.status == "held" and self.clock.now() < b.expires_at)

    def taken(self, trip: str, seg: int) -> int:
        return sum(b.pax for b in self.bookings if self.live(b)
                   for (t, lo, hi), on in zip(b.legs, b.active) if on and t == trip and lo <= seg < hi)

    def fits(self, legs, pax) -> bool:
        return all(self.taken(t, s) + pax <= SEATS[t] for t, lo, hi in legs for s in range(lo, hi))


@pytest.fixture
async def shop(database_url):
    pool = await create_pool(database_url, min_size=2, max_size=4)
    for trip, seats in SEATS.items():
        await store.set_capacity(pool, trip.split(":")[0], "trip", trip, seats, None)
    account, _ = await auth.create_account(pool)
    try:
        yield pool, account
    finally:
        await pool.close()


async def check(pool, model: Model) -> None:
    keys = [(t, DAY, s) for t, s in SEGMENTS]
    counted = await store.occupancy(pool, keys, model.clock.now())
    for (trip, seg), key in zip(SEGMENTS, keys):
        assert counted[key] == model.taken(trip, seg) <= SEATS[trip], (trip, seg)
    money = await pool.fetch(
        """SELECT b.paid_minor, b.refund_minor, sum(l.refund_minor) AS legs
           FROM bookings b JOIN booking_legs l ON l.booking_id = b.id GROUP BY b.id""")
    for m in money:
        assert 0 <= m["refund_minor"] <= m["paid_minor"] and m["legs"] == m["refund_minor"]


@ON_DB
@given(steps)
async def test_seats_per_segment_never_oversold_and_freed_at_once(shop, steps):
    pool, account = shop
    await pool.execute("TRUNCATE bookings CASCADE")          # one example, one empty shop
    clock = FrozenClock(T0)
    svc = Bookings(pool, CONFIG, Keyring({"k1": os.urandom(32)}, "k1"), clock.now)
    model = Model(clock)
    for step in steps:
        kind = step[0]
        if kind == "hold":
            _, legs, pax = step
            key = ItineraryKey(tuple(LIVE.items()), tuple(leg_key(NET, t, DAY, b, a) for t, b, a in legs))
            people = [PassengerInput("张三", IDS[i % 2]) for i in range(pax)]
            fits = model.fits(legs, pax)
            try:
                view = await svc.hold(account, "itin", key, NET, LIVE, people)
            except SoldOut:
                assert not fits, "refused although every segment had the seats"
            else:
                assert fits, "granted although a segment lacked the seats"
                model.bookings.append(Booked(view.id, legs, pax, view.expires_at,
                                             active=[True] * len(legs)))
        elif kind == "wait":
            clock.advance(minutes=step[1])
        elif model.bookings:
            b = model.bookings[step[1] % len(model.bookings)]
            try:
                if kind == "confirm":
                    await svc.confirm(account, b.id, "pay")
                    b.status = "confirmed"
                elif kind == "cancel":
                    await svc.cancel(account, b.id)
                    b.status, b.active = "cancelled", [False] * len(b.legs)
                else:
                    n = step[2] % len(b.legs)
                    view, _ = await svc.cancel(account, b.id, n)
                    b.active[n] = False
                    b.status = view.status
            except InvalidTransition:      # expired, cancelled, confirmed twice, leg gone
                pass
        await check(pool, model)
