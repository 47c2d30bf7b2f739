"""The booking state machine and the money rules of a cancellation. Pure.

States (names aligned with TOMP-API and OSDM where they fit):

    state       TOMP-API      OSDM        meaning
    held        PENDING       PREBOOKED   seats held on every leg until expires_at, nothing paid
    confirmed   CONFIRMED     CONFIRMED   paid; one ticket per leg per passenger
    cancelled   CANCELLED     CANCELLED   seats released; refund per the operators' rules
    expired     EXPIRED       RELEASED    the hold ran out before confirm; seats released

    (start) --hold--> held --confirm--> confirmed
    held --expire--> expired            (sweeper; and "held past expires_at" reads as expired)
    held|confirmed --cancel--> cancelled
    held|confirmed --cancel_leg--> same state, or cancelled when no leg is left

Every transition the store performs is one `booking_events` row with these event names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from ticketing.errors import BookingCancelled, HoldExpired, InvalidTransition, LegNotCancellable
from ticketing.fares import FareConfig, Quote, price_units

__all__ = [
    "Status", "Event", "TRANSITIONS", "effective_status", "transition",
    "RefundRule", "RefundPolicy", "LegState", "CancelOutcome", "cancel_booking", "cancel_leg",
]


class Status(StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Event(StrEnum):
    HOLD = "hold"
    CONFIRM = "confirm"
    EXPIRE = "expire"
    CANCEL = "cancel"
    CANCEL_LEG = "cancel_leg"


# (state before, event) -> state after. cancel_leg of the last leg goes to CANCELLED.
TRANSITIONS: Mapping[tuple[Status | None, Event], Status] = {
    (None, Event.HOLD): Status.HELD,
    (Status.HELD, Event.CONFIRM): Status.CONFIRMED,
    (Status.HELD, Event.EXPIRE): Status.EXPIRED,
    (Status.HELD, Event.CANCEL): Status.CANCELLED,
    (Status.CONFIRMED, Event.CANCEL): Status.CANCELLED,
    (Status.HELD, Event.CANCEL_LEG): Status.HELD,
    (Status.CONFIRMED, Event.CANCEL_LEG): Status.CONFIRMED,
}


def effective_status(status: Status | str, expires_at: datetime, now: datetime) -> Status:
    """A hold past its expiry is expired, whether or not the sweeper has written it yet."""
    status = Status(status)
    if status is Status.HELD and now >= expires_at:
        return Status.EXPIRED
    return status


def transition(status: Status | str | None, event: Event, *, expires_at: datetime | None = None,
               now: datetime | None = None, legs_left: int = 1) -> Status:
    """The state after `event`, or the typed error explaining why it is not allowed."""
    current = None if status is None else Status(status)
    if current is Status.HELD and event is not Event.EXPIRE and expires_at and now:
        current = effective_status(current, expires_at, now)
    after = TRANSITIONS.get((current, event))
    if after is None:
        if current is Status.EXPIRED:
            raise HoldExpired("the hold has expired", status=current.value)
        if current is Status.CANCELLED:
            raise BookingCancelled("the booking is cancelled", status=current.value)
        raise InvalidTransition(f"cannot {event.value} a {current} booking",
                                status=None if current is None else current.value)
    if event is Event.CANCEL_LEG and legs_left == 0:
        return Status.CANCELLED
    return after


# --- refunds -------------------------------------------------------------------------------

@dataclass(frozen=True)
class RefundRule:
    full_until_h: float = 24.0      # full refund until this many hours before departure
    before_departure: float = 0.8   # fraction refunded after that, until departure
    after_departure: float = 0.0    # fraction refunded once the leg has departed

    def fraction(self, departure: datetime, now: datetime) -> Decimal:
        hours = (departure - now).total_seconds() / 3600
        if hours >= self.full_until_h:
            return Decimal(1)
        if hours > 0:
            return Decimal(str(self.before_departure))
        return Decimal(str(self.after_departure))


@dataclass(frozen=True)
class RefundPolicy:
    default: RefundRule = RefundRule()
    by_mode: Mapping[str, RefundRule] = field(default_factory=dict)      # mode -> rule
    by_operator: Mapping[str, RefundRule] = field(default_factory=dict)  # "feed:agency" -> rule

    def rule(self, operator: str, mode: str) -> RefundRule:
        return self.by_operator.get(operator) or self.by_mode.get(mode) or self.default


@dataclass(frozen=True)
class LegState:
    """What the money rules need of a booked leg."""
    leg_no: int
    active: bool        # not cancelled
    operator: str       # "feed:agency_id"
    mode: str
    departure: datetime
    unit_minor: int     # one adult's base price
    source: str         # price source
    price_minor: int    # current price for all passengers


@dataclass(frozen=True)
class CancelOutcome:
    status: Status                       # booking status after
    refund_minor: int                    # refund of this cancellation
    leg_refunds: Mapping[int, int]       # leg_no -> refund of that leg
    leg_prices: Mapping[int, int]        # leg_no -> new price of each remaining leg
    total_minor: int                     # new booking total (remaining legs)


def _refund(amount: int, fraction: Decimal) -> int:
    return int((Decimal(amount) * fraction).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cancel_booking(status: Status, legs: Sequence[LegState], policy: RefundPolicy,
                   now: datetime, expires_at: datetime,
                   paid_left: int | None = None) -> CancelOutcome:
    """Cancel the whole booking: a held one refunds nothing (nothing was paid).

    `paid_left` (paid minus already refunded) caps the refunds, leg by leg in leg order: after
    a leg was cancelled the rest may cost more than was paid for them (the linked discount
    gone), and no passenger is refunded more than they paid."""
    after = transition(status, Event.CANCEL, expires_at=expires_at, now=now)
    paid = Status(status) is Status.CONFIRMED
    left = paid_left
    refunds = {}
    for leg in legs:
        if not leg.active:
            continue
        refund = _refund(leg.price_minor,
                         policy.rule(leg.operator, leg.mode).fraction(leg.departure, now)) \
            if paid else 0
        if left is not None:
            refund = min(refund, max(0, left))
            left -= refund
        refunds[leg.leg_no] = refund
    return CancelOutcome(after, sum(refunds.values()), refunds, {}, 0)


def cancel_leg(status: Status, legs: Sequence[LegState], leg_no: int, categories: Sequence[str],
               fares: FareConfig, policy: RefundPolicy, now: datetime,
               expires_at: datetime, paid_left: int | None = None) -> CancelOutcome:
    """Cancel one leg and re-price the rest (the linked discount may no longer apply).

    The cancelled leg was worth (old total - new total of the rest); the refund is that
    value times the cancelled leg's operator rule (never negative), at most `paid_left`
    (paid minus already refunded). Held: refund 0.
    """
    target = next((leg for leg in legs if leg.leg_no == leg_no), None)
    if target is None or not target.active:
        raise LegNotCancellable(f"leg {leg_no} is not an active leg of this booking", leg=leg_no)
    rest = [leg for leg in legs if leg.active and leg.leg_no != leg_no]
    after = transition(status, Event.CANCEL_LEG, expires_at=expires_at, now=now,
                       legs_left=len(rest))
    old_total = sum(leg.price_minor for leg in legs if leg.active)
    quote: Quote = price_units(fares, [(leg.unit_minor, leg.source) for leg in rest],
                               [leg.operator for leg in rest], categories)
    value = max(0, old_total - quote.total_minor)
    fraction = policy.rule(target.operator, target.mode).fraction(target.departure, now)
    refund = _refund(value, fraction) if Status(status) is Status.CONFIRMED else 0
    if paid_left is not None:
        refund = min(refund, max(0, paid_left))
    prices = {leg.leg_no: p.amount_minor for leg, p in zip(rest, quote.legs, strict=True)}
    return CancelOutcome(after, refund, {leg_no: refund}, prices, quote.total_minor)
