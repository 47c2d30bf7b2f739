"""GTFS route_type (basic and extended) -> the small set of modes the planner speaks.

Modes: bus, coach, rail, metro, tram, ferry, air, other.

Basic types: 0 tram, 1 metro, 2 rail, 3 bus, 4 ferry, 5 cable tram, 6 aerial lift,
7 funicular, 11 trolleybus, 12 monorail. Extended (Google "Extended GTFS Route Types",
HVT): 100-199 railway, 200-299 coach, 300-399 suburban railway, 400-499 urban railway,
500/600 metro/underground, 700-799 bus, 800-899 trolleybus, 900-999 tram,
1000-1099 water, 1100-1199 air, 1200-1299 ferry, 1300+ aerial lift, funicular, taxi,
misc -> other.

The intercity rule — a route of bus type (3, 700-799, 800-899) is a **coach** when
  * its agency, short or long name says so (`INTERCITY_WORDS`, e.g. "intercity", "coach",
    "长途", "城际") — station names are taken out first, so a city bus to the
    "长途汽车总站" (long-distance bus station) or "Victoria Coach Station" stays a bus, or
  * its stops are far apart: mean distance between consecutive stops of its trips
    >= `INTERCITY_SPACING_M` (5 km). City buses stop every 300-800 m and even express buses
    rarely average more than 2-3 km, while intercity coaches run 10-100 km between stops
    (HighDesert POINT averages ~40 km, SNCF's TER coach lines ~10 km).
Type 200-299 is always coach.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MODES", "INTERCITY_SPACING_M", "INTERCITY_WORDS", "mode_of"]

MODES = ("bus", "coach", "rail", "metro", "tram", "ferry", "air", "other")

INTERCITY_SPACING_M = 5_000.0
INTERCITY_WORDS = ("intercity", "inter-city", "coach", "长途", "城际")
_STATION_NAMES = re.compile(
    r"(coach|bus)\s+(station|terminal|stop)|(长途|客运|城际)[^—\-–,，/ ]{0,6}站")

_BASIC = {
    0: "tram", 1: "metro", 2: "rail", 3: "bus", 4: "ferry", 5: "tram", 6: "other",
    7: "other", 11: "bus", 12: "metro",
}


def _base_mode(route_type: int) -> str:
    t = int(route_type)
    if t in _BASIC:
        return _BASIC[t]
    century = t // 100
    return {
        1: "rail", 2: "coach", 3: "rail", 4: "metro", 5: "metro", 6: "metro",
        7: "bus", 8: "bus", 9: "tram", 10: "ferry", 11: "air", 12: "ferry",
    }.get(century, "other")


def mode_of(
    route_type: int,
    *,
    names: Iterable[str] = (),
    stop_spacing_m: float | None = None,
) -> str:
    """The mode of a route: `names` are its agency/short/long names, `stop_spacing_m` the
    mean distance between consecutive stops of its trips (None when unknown)."""
    mode = _base_mode(route_type)
    if mode != "bus":
        return mode
    text = _STATION_NAMES.sub(" ", " ".join(n for n in names if n).casefold())
    if any(w in text for w in INTERCITY_WORDS):
        return "coach"
    if stop_spacing_m is not None and stop_spacing_m >= INTERCITY_SPACING_M:
        return "coach"
    return "bus"
