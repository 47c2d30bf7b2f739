"""Refund arithmetic as properties (pure): whatever the legs, prices, discounts, rules and
order of cancellation, a passenger is never refunded more than they paid, never a negative
amount, the per-leg refunds add up to the booking's, and each is the leg's value times its
rule's fraction rounded to the minor unit."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from ticketing.bookings import RefundPolicy, RefundRule, Status, cancel_booking, cancel_leg
from ticketing.fares import price_units

from tests.strategies import PURE, booked_legs, categories, fare_configs, refund_policies

NOW = datetime(2026, 12, 1, 8, tzinfo=timezone.utc)
EXPIRES = datetime(2026, 12, 1, 8, 15, tzinfo=timezone.utc)


def priced(legs, fares, cats):
    """The legs as the store keeps them after a hold: each with its price for all passengers."""
    quote = price_units(fares, [(unit, leg.source) for leg, unit in legs],
                        [leg.operator for leg, _ in legs], cats)
    return [replace(leg, price_minor=p.amount_minor) for (leg, _), p in zip(legs, quote.legs)], \
        quote.total_minor


@st.composite
def bookings(draw):
    fares, cats = draw(fare_configs), draw(categories)
    legs, paid = priced(draw(booked_legs(NOW)), fares, cats)
    order = draw(st.permutations([leg.leg_no for leg in legs]))
    cut = draw(st.integers(0, len(legs)))     # legs cancelled one by one, then the rest at once
    return fares, cats, legs, paid, order[:cut]


def cancel_in_turn(status, legs, fares, cats, policy, one_by_one, paid):
    """Cancel `one_by_one` leg by leg, then whatever is left as a whole, bookkeeping as the
    store does (cancelled legs inactive with their refund, the rest re-priced, the booking's
    paid and refunded amounts). Returns the booking's refunds and each leg's refund."""
    legs = list(legs)
    refunds, per_leg = [], {}
    for n in one_by_one:
        out = cancel_leg(status, legs, n, cats, fares, policy, NOW, EXPIRES, paid - sum(refunds))
        refunds.append(out.refund_minor)
        per_leg.update(out.leg_refunds)
        legs = [replace(g, active=False) if g.leg_no in out.leg_refunds
                else replace(g, price_minor=out.leg_prices.get(g.leg_no, g.price_minor))
                for g in legs]
        if out.status is Status.CANCELLED:
            return refunds, per_leg, legs
    out = cancel_booking(status, legs, policy, NOW, EXPIRES, paid - sum(refunds))
    refunds.append(out.refund_minor)
    per_leg.update(out.leg_refunds)
    return refunds, per_leg, legs


@PURE
@given(bookings(), refund_policies)
def test_refunds_are_never_negative_never_above_paid_and_add_up(booking, policy):
    fares, cats, legs, paid, one_by_one = booking
    refunds, per_leg, _ = cancel_in_turn(Status.CONFIRMED, legs, fares, cats, policy, one_by_one, paid)
    assert all(type(r) is int and r >= 0 for r in refunds)
    assert all(type(r) is int and r >= 0 for r in per_leg.values())
    assert sorted(per_leg) == sorted(g.leg_no for g in legs)     # every leg refunded once
    assert sum(per_leg.values()) == sum(refunds) <= paid


FULL = RefundPolicy(default=RefundRule(full_until_h=0.0, before_departure=1.0, after_departure=1.0))


@PURE
@given(bookings())
def test_cancelling_everything_at_full_refund_returns_exactly_what_was_paid(booking):
    """Re-pricing the rest (the linked discount lost) moves money between the legs' refunds,
    never in or out of the passenger's pocket."""
    fares, cats, legs, paid, one_by_one = booking
    refunds, _, _ = cancel_in_turn(Status.CONFIRMED, legs, fares, cats, FULL, one_by_one, paid)
    assert sum(refunds) == paid


@PURE
@given(bookings(), refund_policies)
def test_a_held_booking_refunds_nothing(booking, policy):
    fares, cats, legs, _, one_by_one = booking
    refunds, per_leg, _ = cancel_in_turn(Status.HELD, legs, fares, cats, policy, one_by_one, 0)
    assert sum(refunds) == 0 and set(per_leg.values()) <= {0}


@PURE
@given(bookings(), refund_policies)
def test_a_whole_cancellation_refunds_each_leg_its_fraction_to_the_minor_unit(booking, policy):
    fares, cats, legs, paid, _ = booking
    out = cancel_booking(Status.CONFIRMED, legs, policy, NOW, EXPIRES, paid)
    for leg in legs:
        fraction = policy.rule(leg.operator, leg.mode).fraction(leg.departure, NOW)
        exact = Decimal(leg.price_minor) * fraction
        assert abs(out.leg_refunds[leg.leg_no] - exact) <= Decimal("0.5")   # rounded, not cut
        assert 0 <= out.leg_refunds[leg.leg_no] <= leg.price_minor
    assert out.refund_minor == sum(out.leg_refunds.values()) <= paid
