"""An itinerary id names only the feed versions it rides, so a new version of an unrelated
feed (another city's buses) does not make it stale for booking."""

from __future__ import annotations

from datetime import date

from builders import grid_stops, timetable
from routing.network import merge
from routing.planner import Planner, Query


def test_itinerary_names_only_the_feeds_it_rides():
    bus = timetable("""
        B1  R1  bus  A@08:00 B@08:20
    """, grid_stops("AB"), feed="jnbus", version="jn7")
    other = timetable("""
        Q1  R9  bus  X@08:00 Y@08:30
    """, grid_stops("XY", lat0=36.0), feed="qdbus", version="qd3")
    planner = Planner.build(merge([bus, other]))
    (it,) = planner.plan(Query("jnbus:A", "jnbus:B", date(2026, 11, 26), 7 * 3600))
    assert it.key.versions == (("jnbus", "jn7"),)
