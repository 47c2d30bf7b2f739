"""Prices as the search sees them (`criteria=price`): a fare table passed in as arrays.

routing/ knows nothing of tariffs or GTFS fares: ticketing fills a `FareTable` (see
`ticketing.fares.search_fares`) and the search adds its numbers up. The fare model it encodes
is the booking's one, for one adult:

- a ride of trip t boarded at stop position b and left at position a costs
  `full[start[c] + b * L + a]` minor units, where c = `classes.trip_class[t]` and L the
  class's stop count (-1: the ride has no price; the search does not use it);
- a journey whose rides have two or more operators (`trip_operator`) pays, for every ride,
  `disc[...]` instead (the linked discount, rounded per leg exactly as the booking rounds it);
  with one operator it pays the sum of `full`. 0 <= disc <= full (a discount: the search
  bounds what a label's journeys will pay by its discounted sum).

A *fare class* is the pair (static pattern, route): trips of one class call at the same stops
with the same route, so every (board, alight) pair of them has one price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from routing.network import Network
from routing.timetable import Patterns

__all__ = ["FareClasses", "FareTable", "fare_classes"]


@dataclass(frozen=True, eq=False)
class FareClasses:
    """What a fare table is indexed by (one per planner's static patterns)."""

    trip_class: np.ndarray      # t -> c (int32)
    rep_trip: np.ndarray        # c -> one trip of the class (its route and stops) (int32)
    length: np.ndarray          # c -> stops of the class (int32)
    start: np.ndarray           # c -> first entry of its L x L block (int64, len C + 1)
    board_ok: np.ndarray        # entry row of the class's stops -> boarding allowed somewhere
    alight_ok: np.ndarray       # (pattern flags, per class row: stop_start-like via `row`)
    row: np.ndarray             # c -> first pattern-stop row of its pattern (int64)

    @property
    def n_classes(self) -> int:
        return len(self.rep_trip)

    @property
    def n_entries(self) -> int:
        return int(self.start[-1])


@dataclass(frozen=True, eq=False)
class FareTable:
    classes: FareClasses
    full: np.ndarray            # entry -> one adult's price, minor units (int32; -1 none)
    disc: np.ndarray            # entry -> the same with the linked discount (int32; -1 none)
    trip_operator: np.ndarray   # t -> operator index (int32)
    linked: bool                # a journey with >= 2 operators pays `disc` (a discount is set)


def fare_classes(net: Network, fwd: Patterns) -> FareClasses:
    """The fare classes of a network: one per (static pattern, route) pair of its trips."""
    n_trips = net.n_trips
    if n_trips == 0:
        z = np.zeros(0, np.int32)
        return FareClasses(z, z, z, np.zeros(1, np.int64), np.zeros(0, bool), np.zeros(0, bool),
                           np.zeros(0, np.int64))
    pair = fwd.trip_pattern.astype(np.int64) * (int(net.trip_route.max()) + 1) + net.trip_route
    uniq, first, inv = np.unique(pair, return_index=True, return_inverse=True)
    rep = first.astype(np.int32)
    pats = fwd.trip_pattern[rep].astype(np.int64)
    length = (fwd.stop_start[pats + 1] - fwd.stop_start[pats]).astype(np.int32)
    start = np.zeros(len(uniq) + 1, np.int64)
    np.cumsum(length.astype(np.int64) ** 2, out=start[1:])
    return FareClasses(trip_class=inv.astype(np.int32), rep_trip=rep, length=length, start=start,
                       board_ok=fwd.board_ok, alight_ok=fwd.alight_ok,
                       row=fwd.stop_start[pats].astype(np.int64))
