"""Connection protection, the rebooking (issue 11), pure: where a disrupted passenger will be,
which re-planned journey replaces the broken legs, what the new legs are recorded at, and what a
failed rebooking refunds. No I/O: maas/protection.py plans and runs the swap
(ticketing.store.replace_legs) under the booking's row lock.

Definitions (docs/DESIGN.md, connection protection):
- the first broken leg b is the lowest leg of the `disrupted` findings; the legs replaced are the
  booking's confirmed legs from b on, the legs before it are kept;
- where the passenger will be: if a leg is kept, the alighting stop of the last kept leg at its
  realtime arrival, ready to board after the change time asked there (alighting time of its
  mode + the transfer time; the planner adds the next mode's boarding time itself); if none is
  kept (not started), the boarding stop of the first leg at its original departure less the
  boarding time of its mode (when the passenger was to be there); never before now;
- the journey: same destination (the last leg's alighting stop), earliest arrival, the options
  sold (modes, wheelchair, longest walk, own minimum connection time), arriving at most
  `protection.rebook_max_delay_min` after the journey sold (a later one, e.g. the next day's,
  is the passenger's choice: the refund is offered instead);
- no cost: the new legs together are recorded at what was paid for the replaced legs (split in
  proportion to their fares); the fare difference is recorded on the event, never charged;
- a failed rebooking offers the broken legs' full refund (their price, the refund rules' fee
  waived), capped by what is left of the payment, as `cancel_booking` computes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ticketing.bookings import (
    CancelOutcome, LegState, RefundPolicy, RefundRule, Status, cancel_booking,
)

__all__ = ["Replan", "replan_for", "usable", "allocate", "FULL_REFUND", "full_refund",
           "offer_legs"]

# every leg refunded whole, whenever (the refund of a broken connection)
FULL_REFUND = RefundPolicy(RefundRule(full_until_h=float("-inf"), before_departure=1.0,
                                      after_departure=1.0))


@dataclass(frozen=True)
class Replan:
    """What to plan for a disrupted booking."""

    from_leg: int                    # the first broken leg: it and the confirmed legs after it go
    replaced: tuple[int, ...]        # leg numbers replaced
    origin: str                      # "feed:stop_id" where the passenger will be
    ready: datetime                  # when they are there (UTC): realtime arrival, or departure
    at: datetime                     # plan from this time (ready + the change time asked there)
    destination: str
    prev_mode: str | None            # mode of the last kept leg (None: not started)
    modes: frozenset[str]
    wheelchair: bool = False
    max_walk_m: float | None = None
    min_transfer_s: int | None = None
    profile: tuple[tuple[str, Any], ...] = ()   # the planner Query's travel-profile fields

    @property
    def query_key(self) -> tuple:
        """Replans with equal keys plan the same (one search for all of them)."""
        return (self.origin, self.at, self.destination, self.modes, self.wheelchair,
                self.max_walk_m, self.min_transfer_s, self.profile)


def replan_for(legs: Sequence[Mapping[str, Any]], first_broken: int,
               realtime_arrival: Callable[[Mapping[str, Any]], datetime],
               options: Mapping[str, Any], lead_s: Callable[[str | None, str], int],
               now: datetime) -> Replan:
    """The replan of a booking whose confirmed legs (rows, in leg order) break at leg
    `first_broken`. `lead_s(prev_mode, first_mode)` is the change time to allow before the
    planner's own boarding time (prev_mode None: before the first boarding)."""
    kept = [g for g in legs if g["leg_no"] < first_broken]
    replaced = [g for g in legs if g["leg_no"] >= first_broken]
    if not replaced:
        raise ValueError(f"no confirmed leg from {first_broken} on")
    modes = frozenset(options.get("modes") or {g["mode"] for g in legs})
    if kept:
        prev = kept[-1]
        ready = realtime_arrival(prev)
        at = ready + timedelta(seconds=lead_s(prev["mode"], replaced[0]["mode"]))
        origin, prev_mode = prev["to_stop"], prev["mode"]
    else:
        first = replaced[0]
        ready = first["departure"]
        at = ready - timedelta(seconds=lead_s(None, first["mode"]))
        origin, prev_mode = first["from_stop"], None
    return Replan(first_broken, tuple(g["leg_no"] for g in replaced), origin, ready,
                  max(at, now), replaced[-1]["to_stop"], prev_mode, modes,
                  bool(options.get("wheelchair")), options.get("max_walk_m"),
                  options.get("min_transfer_s"),
                  tuple(sorted((options.get("profile") or {}).items())))


def usable(plan: Replan, itineraries: Sequence[Any], replaced: Sequence[Mapping[str, Any]],
           change_s: Callable[[str, str], int], now: datetime,
           max_delay: timedelta | None = None) -> list[Any]:
    """The itineraries (routing Itineraries: `.key.legs` LegKeys, `.legs` with modes) that can
    replace the broken legs, best first (earliest arrival, then fewest legs, then latest
    departure): transit legs that have not left, arriving at most `max_delay` after the
    replaced legs were to arrive, a change from the last kept leg that keeps the change time
    asked (`change_s(prev_mode, first mode)`), and not the legs replaced."""
    old = [(g["trip_id"], g["service_date"], g["board_pos"], g["alight_pos"]) for g in replaced]
    latest = replaced[-1]["arrival"] + max_delay if max_delay is not None else None
    out = []
    for it in itineraries:
        legs = it.key.legs
        if not legs or legs[0].departure <= now:
            continue
        if latest is not None and legs[-1].arrival > latest:
            continue
        if [(k.trip_id, k.service_date, k.board_pos, k.alight_pos) for k in legs] == old:
            continue
        if plan.prev_mode is not None:
            mode = next((g.mode for g in it.legs if g.mode != "walk"), "other")
            need = change_s(plan.prev_mode, mode)
            if (legs[0].departure - plan.ready).total_seconds() < need:
                continue
        out.append(it)
    return sorted(out, key=lambda it: (it.key.legs[-1].arrival, len(it.key.legs),
                                       -it.key.legs[0].departure.timestamp()))


def allocate(paid_minor: int, fares: Sequence[int]) -> list[int]:
    """`paid_minor` split over the new legs in proportion to their fares (integers summing to
    it; the last leg takes the rounding; equal shares if every fare is 0)."""
    n = len(fares)
    if n == 0:
        return []
    total = sum(fares)
    if total <= 0:
        shares = [paid_minor // n] * n
    else:
        shares = [paid_minor * f // total for f in fares]
    shares[-1] += paid_minor - sum(shares)
    return shares


def offer_legs(protection: Mapping[str, Any] | None, legs: Sequence[Mapping[str, Any]]
               ) -> tuple[int, ...]:
    """The legs a standing refund offer covers: the booking's protection is `rebook_failed` and
    those legs are still confirmed (empty if no offer stands)."""
    if not protection or protection.get("state") != "rebook_failed":
        return ()
    confirmed = {g["leg_no"] for g in legs if g["status"] == "confirmed"}
    return tuple(n for n in protection.get("legs", ()) if n in confirmed)


def full_refund(row: Mapping[str, Any], legs: Sequence[LegState], offered: Sequence[int],
                policy: RefundPolicy, now: datetime,
                only_offered: bool = False) -> CancelOutcome:
    """Cancelling while a refund offer stands: the `offered` legs refunded in full first, then
    (unless `only_offered`) the other active legs by `policy`; never more than is left of the
    payment. The booking stays confirmed while an active leg is left."""
    paid_left = row["paid_minor"] - row["refund_minor"]
    before = Status(row["status"])
    mine = [g for g in legs if g.leg_no in set(offered) and g.active]
    full = cancel_booking(before, mine, FULL_REFUND, now, row["expires_at"], paid_left)
    refunds = dict(full.leg_refunds)
    if not only_offered:
        rest = [g for g in legs if g.leg_no not in refunds and g.active]
        more = cancel_booking(before, rest, policy, now, row["expires_at"],
                              paid_left - full.refund_minor)
        refunds.update(more.leg_refunds)
    left = [g for g in legs if g.active and g.leg_no not in refunds]
    status = Status.CONFIRMED if left else Status.CANCELLED
    return CancelOutcome(status, sum(refunds.values()), refunds, {},
                         sum(g.price_minor for g in left))
