"""Planner configuration: walking, minimum connection times, caps. A plain frozen dataclass.

Minimum connection times are modelled the way airports and rail stations state them:
  * `board_s[mode]`  - time a passenger must be at the stop before the vehicle departs
    (check-in, security, gate closing). Applies to every boarding, the first one included.
    `board_route_type_s[route_type]` refines it by the route's GTFS route_type: the exact
    type, else its family (t // 100 * 100, e.g. 300 for every suburban railway 300-399),
    else the mode's `board_s`. Only high-speed and long-distance rail keep a gate time;
    regional, suburban and commuter rail board at the platform (a basic `route_type` 2 route
    says nothing more than "rail" and keeps `board_s["rail"]`).
  * `alight_s[mode]` - time after the vehicle arrives before the passenger is free to walk
    away or change (leaving an airport). Not added to the arrival at the destination stop.
  * `transfer_s`     - minimum change time at one stop, and the floor of every footpath:
    a walk between two stops takes max(walking time, transfer_s).
Operators override these per station (`station_rules`, by "feed:stop_id"; applies to the stop
and its child platforms). transfers.txt (types 0-3, min_transfer_time) always applies.

A query's `min_transfer_s` v replaces every *default* above: board defaults become v (every
boarding, the first one included), alight defaults and transfer_s become 0, so a change at
one stop takes exactly v; station_rules and transfers.txt still apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["PROFILES", "Profile", "RoutingConfig", "StationRule", "route_board_s"]


@dataclass(frozen=True)
class StationRule:
    """Operator override for one station; None keeps the default."""

    board_s: int | None = None
    alight_s: int | None = None
    transfer_s: int | None = None


def _ro(d: dict) -> Mapping:
    return MappingProxyType(d)


@dataclass(frozen=True)
class RoutingConfig:
    walk_speed_mps: float = 1.2          # about 4.3 km/h
    walk_radius_m: float = 500.0         # footpaths between stops up to this walking distance
    walk_detour: float = 1.25            # walking distance = straight line x this factor
    access_radius_m: float = 1000.0      # from/to given as lat,lon: stops within this distance
    transfer_s: int = 60                 # default minimum change time at a stop
    board_s: Mapping[str, int] = field(default_factory=lambda: _ro({
        "air": 3600,    # at the airport >= 60 min before a domestic flight
        "rail": 900,    # gates close 5 min before departure + 10 min security
    }))
    # Extended route types (Google "Extended GTFS Route Types"): 101 high-speed rail
    # (security + gates close 5 min before), 102 long distance and 105 sleeper (ticket check),
    # 103 inter-regional, 106 regional, 107 tourist, 108 rail shuttle, 109 suburban and the
    # 300 family (suburban railway): board at the platform.
    board_route_type_s: Mapping[int, int] = field(default_factory=lambda: _ro({
        101: 900, 102: 600, 105: 600, 103: 0, 106: 0, 107: 0, 108: 0, 109: 0, 300: 0,
    }))
    board_international_air_s: int = 5400   # >= 90 min before an international flight
    alight_s: Mapping[str, int] = field(default_factory=lambda: _ro({
        "air": 1200,    # >= 20 min after landing to leave the airport
    }))
    station_rules: Mapping[str, StationRule] = field(default_factory=lambda: _ro({}))
    # Caps (a query asking for more is capped, not rejected).
    max_transfers: int = 6               # rounds = max_transfers + 1
    max_window_min: int = 360            # range queries: departure window
    max_limit: int = 20                  # itineraries per response
    default_limit: int = 5
    # Service days expanded around the query date (trips of D-1 running past midnight,
    # journeys lasting more than a day).
    days_before: int = 1
    days_after: int = 1
    # A search that finds nothing arriving within those days (overnight trains, long-haul
    # flights, a ferry tomorrow night) is repeated on a longer expansion reaching this many
    # days after the query time (before it, for arrive-by).
    horizon_days: int = 3
    date_cache_size: int = 4             # expanded days kept per planner
    id_secret: bytes = b"maas-itinerary-id-v1"


def route_board_s(cfg: RoutingConfig, route_type: int, mode: str) -> int:
    """Seconds to be at the stop before a departure of a route of this type and mode (before
    station rules and the international-flight time)."""
    t = int(route_type)
    by_type = cfg.board_route_type_s
    if t in by_type:
        return int(by_type[t])
    if t >= 100 and t // 100 * 100 in by_type:
        return int(by_type[t // 100 * 100])
    return int(cfg.board_s.get(mode, 0))


@dataclass(frozen=True)
class Profile:
    """A travel profile: defaults a query takes unless it sets the option itself.

    `walk_speed_mps` replaces the network's walking speed for every walk (access, egress,
    footpaths); `extra_transfer_s` is added to every change between two vehicles (on top of
    the change time, walk, transfers.txt and station rules); `transfer_penalty_s` is what one
    transfer costs when the itineraries of the Pareto set are ranked (a journey with one change
    fewer arriving up to that much later comes first); `step_free` leaves out the stops
    (wheelchair_boarding, a platform inheriting its station's) and trips (wheelchair_accessible)
    the feed marks as NOT accessible (2), keeping those it says nothing about."""

    walk_speed_mps: float | None = None
    extra_transfer_s: int = 0
    transfer_penalty_s: int = 0
    max_transfers: int | None = None
    step_free: bool = False


# profile=elderly: 0.8 m/s is the walking speed older pedestrians keep (crossing-time studies
# use 0.8-0.9 m/s, against 1.2 m/s for the general population); 5 min more per change; a
# change costs 10 min when itineraries are ranked; at most 3 changes; step-free where known.
PROFILES: Mapping[str, Profile] = MappingProxyType({
    "default": Profile(),
    "elderly": Profile(walk_speed_mps=0.8, extra_transfer_s=300, transfer_penalty_s=600,
                       max_transfers=3, step_free=True),
})
