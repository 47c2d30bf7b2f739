"""The pure rules of rebooking (ticketing/rebook.py): where the passenger will be, which
alternative is taken, the no-cost split of what was paid, and the full refund offered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from hypothesis import given, strategies as st

from ticketing.bookings import LegState, RefundPolicy, Status
from ticketing.rebook import allocate, full_refund, offer_legs, replan_for, usable

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def row(n, frm, to, dep, arr, mode="rail", trip=None):
    return {"leg_no": n, "from_stop": frm, "to_stop": to, "departure": at(dep),
            "arrival": at(arr), "mode": mode, "trip_id": trip or f"t{n}",
            "service_date": T0.date(), "board_pos": 0, "alight_pos": 1, "status": "confirmed"}


LEGS = [row(0, "A", "B", 0, 20), row(1, "B", "C", 40, 70, mode="bus"), row(2, "C", "D", 90, 120)]


def lead(prev, first):
    return 900 if prev is None else 60


def test_a_broken_change_replans_from_the_last_running_leg_at_its_realtime_arrival():
    p = replan_for(LEGS, 1, lambda g: g["arrival"] + timedelta(minutes=12), {}, lead, at(-30))
    assert (p.origin, p.destination, p.prev_mode, p.replaced) == ("B", "D", "rail", (1, 2))
    assert (p.ready, p.at) == (at(32), at(33))
    assert p.modes == frozenset({"rail", "bus"})
    opts = {"modes": ["rail"], "wheelchair": True, "max_walk_m": 0.0, "min_transfer_s": 300}
    q = replan_for(LEGS, 2, lambda g: g["arrival"], opts, lead, at(-30))
    assert (q.origin, q.replaced, q.modes, q.wheelchair, q.max_walk_m, q.min_transfer_s) == \
        ("C", (2,), frozenset({"rail"}), True, 0.0, 300)


def test_a_journey_not_started_replans_from_its_origin_at_the_original_departure():
    p = replan_for(LEGS, 0, lambda g: 1 / 0, {}, lead, at(-30))
    assert (p.origin, p.prev_mode, p.ready, p.at) == ("A", None, at(0), at(-15))
    # never in the past
    assert replan_for(LEGS, 0, lambda g: 1 / 0, {}, lead, at(-5)).at == at(-5)


@dataclass
class K:
    trip_id: str
    departure: datetime
    arrival: datetime
    service_date: object = T0.date()
    board_pos: int = 0
    alight_pos: int = 1


@dataclass
class L:
    mode: str


@dataclass
class Key:
    legs: tuple


@dataclass
class It:
    key: Key
    legs: tuple


def it(*legs, mode="rail"):
    return It(Key(tuple(K(t, at(d), at(a)) for t, d, a in legs)), (L("walk"), L(mode)))


def test_the_earliest_arrival_that_keeps_the_change_time_is_taken_first():
    p = replan_for(LEGS, 1, lambda g: at(30), {}, lead, at(0))
    slow, fast, tight, same, gone, late = (it(("x", 60, 150)), it(("y", 50, 130)),
                                           it(("z", 35, 100)), it(("t1", 40, 70), ("t2", 90, 120)),
                                           it(("w", -1, 100)), it(("v", 60, 120 + 61)))
    change = lambda a, b: 600  # noqa: E731
    got = usable(p, [slow, fast, tight, same, gone, late], LEGS[1:], change, at(0),
                 timedelta(minutes=60))
    assert got == [fast, slow]          # tight: 5 min change; same legs; departed; > 60 min late
    assert usable(p, [late], LEGS[1:], change, at(0), None) == [late]


@given(st.integers(0, 10**7), st.lists(st.integers(0, 10**5), min_size=1, max_size=6))
def test_what_was_paid_is_split_over_the_new_legs_exactly(paid, fares):
    shares = allocate(paid, fares)
    assert sum(shares) == paid and len(shares) == len(fares)
    assert all(s >= 0 for s in shares)


def states(prices, active=(True, True, True)):
    return [LegState(n, a, "op", "rail", at(60), p, "tariff", p)
            for n, (p, a) in enumerate(zip(prices, active))]


def test_the_offer_refunds_the_broken_legs_whole_and_only_while_they_are_booked():
    b = {"status": "confirmed", "paid_minor": 3000, "refund_minor": 0, "expires_at": at(-60)}
    out = full_refund(b, states([1000, 1200, 800]), [1, 2], RefundPolicy(), at(30),
                      only_offered=True)
    assert (out.status, out.refund_minor, dict(out.leg_refunds), out.total_minor) == \
        (Status.CONFIRMED, 2000, {1: 1200, 2: 800}, 1000)
    # a whole cancel: the broken legs whole, the kept one by the rules (80 % < 24 h)
    whole = full_refund(b, states([1000, 1200, 800]), [1, 2], RefundPolicy(), at(30))
    assert (whole.status, dict(whole.leg_refunds)) == (Status.CANCELLED, {1: 1200, 2: 800, 0: 800})
    # never more than is left of the payment
    capped = full_refund({**b, "refund_minor": 2500}, states([1000, 1200, 800]), [1, 2],
                         RefundPolicy(), at(30), only_offered=True)
    assert capped.refund_minor == 500
    legs = [{"leg_no": 0, "status": "confirmed"}, {"leg_no": 1, "status": "cancelled"}]
    assert offer_legs({"state": "rebook_failed", "legs": [0, 1]}, legs) == (0,)
    assert offer_legs({"state": "rebooked", "legs": [0, 1]}, legs) == ()
    assert offer_legs(None, legs) == ()
