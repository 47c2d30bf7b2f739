"""Seat inventory per trip segment and service date. Pure.

Segment `seg` of a trip is the stretch between its stop positions seg and seg+1; a leg
boarding at position b and alighting at a occupies segments b..a-1, so a seat sold A->B
is free again from B onwards. The store counts occupancy per segment from the booking
legs and locks the segment rows in `segment_keys` order (a total order -> no deadlocks);
this module says which segments a request needs, how many seats, and which leg does not
fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

__all__ = ["SegmentKey", "SeatRequest", "CapacityConfig", "capacity_for", "segment_keys",
           "demand", "first_short_leg"]

SegmentKey = tuple[str, date, int]  # (trip_id "feed:trip", service date, segment)


@dataclass(frozen=True)
class CapacityConfig:
    by_mode: Mapping[str, int] = field(default_factory=dict)  # mode -> seats per trip
    default: int = 100                                        # modes not listed


@dataclass(frozen=True)
class SeatRequest:
    leg_no: int
    trip_id: str
    service_date: date
    board_pos: int
    alight_pos: int
    seats: int       # passengers
    capacity: int    # seats of this trip run

    def segments(self) -> range:
        return range(self.board_pos, self.alight_pos)


def capacity_for(cfg: CapacityConfig, mode: str, route_id: str, trip_id: str,
                 overrides: Mapping[tuple[str, str], int]) -> int:
    """Seats of a trip: its override, else its route's, else the mode default.

    `overrides` maps ("trip" | "route", id) -> seats. A frequency run "feed:t@08:00:00"
    takes the override of its GTFS trip "feed:t".
    """
    base_trip = trip_id.split("@", 1)[0]
    for key in (("trip", trip_id), ("trip", base_trip), ("route", route_id)):
        if key in overrides:
            return overrides[key]
    return cfg.by_mode.get(mode, cfg.default)


def segment_keys(requests: Iterable[SeatRequest]) -> list[SegmentKey]:
    """Every segment the requests touch, once, in lock order."""
    return sorted({(r.trip_id, r.service_date, s) for r in requests for s in r.segments()})


def demand(requests: Iterable[SeatRequest]) -> dict[SegmentKey, int]:
    """Seats needed per segment (two legs of one booking on one trip add up)."""
    need: dict[SegmentKey, int] = {}
    for r in requests:
        for s in r.segments():
            key = (r.trip_id, r.service_date, s)
            need[key] = need.get(key, 0) + r.seats
    return need


def first_short_leg(requests: Sequence[SeatRequest],
                    taken: Mapping[SegmentKey, int]) -> SeatRequest | None:
    """The first leg (journey order) with a segment lacking seats, or None if all fit."""
    need = demand(requests)
    for r in sorted(requests, key=lambda r: r.leg_no):
        for s in r.segments():
            key = (r.trip_id, r.service_date, s)
            if taken.get(key, 0) + need[key] > r.capacity:
                return r
    return None
