"""The booking state machine and the money of a cancellation (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ticketing.bookings import (
    TRANSITIONS, Event, LegState, RefundPolicy, RefundRule, Status, cancel_booking, cancel_leg,
    effective_status, transition,
)
from ticketing.errors import BookingCancelled, HoldExpired, InvalidTransition, LegNotCancellable
from ticketing.fares import FareConfig

T0 = datetime(2026, 12, 1, 8, tzinfo=timezone.utc)
EXP = T0 + timedelta(minutes=15)
FARES = FareConfig(linked_discount=0.1, concessions={"child": 0.5})
POLICY = RefundPolicy(default=RefundRule(full_until_h=24, before_departure=0.8),
                      by_mode={"bus": RefundRule(full_until_h=0)},
                      by_operator={"air:X": RefundRule(full_until_h=72, before_departure=0.5)})


def test_happy_path_and_every_terminal_state():
    assert transition(None, Event.HOLD) is Status.HELD
    assert transition("held", Event.CONFIRM, expires_at=EXP, now=T0) is Status.CONFIRMED
    assert transition("held", Event.EXPIRE, expires_at=EXP, now=EXP) is Status.EXPIRED
    assert transition("confirmed", Event.CANCEL) is Status.CANCELLED
    assert transition("confirmed", Event.CANCEL_LEG, legs_left=1) is Status.CONFIRMED
    assert transition("confirmed", Event.CANCEL_LEG, legs_left=0) is Status.CANCELLED
    # terminal states accept nothing
    for state in (Status.CANCELLED, Status.EXPIRED):
        assert not [e for (s, e) in TRANSITIONS if s is state]


def test_a_hold_past_expiry_reads_expired_and_cannot_be_confirmed():
    assert effective_status("held", EXP, EXP - timedelta(seconds=1)) is Status.HELD
    assert effective_status("held", EXP, EXP) is Status.EXPIRED
    with pytest.raises(HoldExpired):
        transition("held", Event.CONFIRM, expires_at=EXP, now=EXP)
    with pytest.raises(HoldExpired):
        transition("held", Event.CANCEL, expires_at=EXP, now=EXP + timedelta(hours=1))


@pytest.mark.parametrize("state,event,error", [
    ("cancelled", Event.CONFIRM, BookingCancelled),
    ("cancelled", Event.CANCEL, BookingCancelled),
    ("expired", Event.CONFIRM, HoldExpired),
    ("confirmed", Event.CONFIRM, InvalidTransition),
    ("confirmed", Event.EXPIRE, InvalidTransition),
])
def test_forbidden_transitions_are_409s(state, event, error):
    with pytest.raises(error) as err:
        transition(state, event, expires_at=EXP, now=T0)
    assert err.value.status == 409


def test_refund_rule_by_time_before_departure():
    rule = RefundRule(full_until_h=24, before_departure=0.8, after_departure=0.0)
    dep = T0 + timedelta(hours=48)
    assert rule.fraction(dep, T0) == 1
    assert rule.fraction(dep, dep - timedelta(hours=23)) == Decimal("0.8")
    assert rule.fraction(dep, dep + timedelta(seconds=1)) == 0
    assert POLICY.rule("air:X", "air").full_until_h == 72
    assert POLICY.rule("bus:B", "bus").full_until_h == 0
    assert POLICY.rule("rail:R", "rail") is POLICY.default


def leg(n: int, operator: str, mode: str, unit: int, price: int, hours: float) -> LegState:
    return LegState(n, True, operator, mode, T0 + timedelta(hours=hours), unit, "s", price)


def test_cancel_confirmed_booking_refunds_per_leg_rule():
    legs = [leg(0, "bus:B", "bus", 300, 270, 2), leg(1, "rail:R", "rail", 10000, 9000, 3)]
    out = cancel_booking(Status.CONFIRMED, legs, POLICY, T0, EXP)
    assert out.status is Status.CANCELLED
    assert out.leg_refunds == {0: 270, 1: 7200}      # bus full until departure; rail 80% < 24 h
    assert out.refund_minor == 7470 and out.total_minor == 0


def test_cancel_held_booking_refunds_nothing():
    out = cancel_booking(Status.HELD, [leg(0, "bus:B", "bus", 300, 300, 2)], POLICY, T0, EXP)
    assert out.status is Status.CANCELLED and out.refund_minor == 0


def test_cancel_one_leg_reprices_the_rest():
    # Linked discount 10% on both legs; cancelling the bus leaves rail alone at full price.
    legs = [leg(0, "bus:B", "bus", 300, 270, 30), leg(1, "rail:R", "rail", 10000, 9000, 31)]
    out = cancel_leg(Status.CONFIRMED, legs, 0, ["adult"], FARES, POLICY, T0, EXP)
    assert out.status is Status.CONFIRMED
    assert out.leg_prices == {1: 10000} and out.total_minor == 10000
    # paid 9270, the rest now costs 10000: the bus leg was worth nothing -> no refund
    assert out.refund_minor == 0
    three = legs + [leg(2, "air:X", "air", 50000, 45000, 40)]
    out3 = cancel_leg(Status.CONFIRMED, three, 2, ["adult"], FARES, POLICY, T0, EXP)
    assert out3.leg_prices == {0: 270, 1: 9000}       # still linked (two operators left)
    assert out3.refund_minor == 45000 // 2              # air:X: 50% before 72 h


def test_cancelling_the_last_leg_cancels_the_booking_and_twice_is_refused():
    legs = [leg(0, "rail:R", "rail", 100, 100, 30)]
    out = cancel_leg(Status.CONFIRMED, legs, 0, ["adult"], FARES, POLICY, T0, EXP)
    assert out.status is Status.CANCELLED and out.refund_minor == 100
    gone = [LegState(0, False, "rail:R", "rail", T0, 100, "s", 100)]
    with pytest.raises(LegNotCancellable):
        cancel_leg(Status.CONFIRMED, gone, 0, ["adult"], FARES, POLICY, T0, EXP)
    with pytest.raises(LegNotCancellable):
        cancel_leg(Status.CONFIRMED, legs, 5, ["adult"], FARES, POLICY, T0, EXP)
