"""Memos of `Planner.plan`'s own steps: a query's time as an epoch (`Planner._local_epoch`,
per zone and date) and a stop place's members (`Planner._place_stops`) give what the
datetime arithmetic and the stop lookups give, on every day of a year in zones with daylight
saving at any hour (midnight included, half an hour, a skipped day), and stay bounded."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from builders import BASE, timetable
from routing.planner import Planner, Query

NET = timetable("""
    T1 R1 bus A@08:00 B@08:30 C@09:00
    T2 R1 bus C@09:10 D@09:40
""", stops={"A": (36.60, 117.00), "B": (36.70, 117.00), "C": (36.80, 117.00),
            "D": (36.801, 117.001)})

ZONES = ("America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Havana",
         "America/Santiago", "Asia/Beirut", "Pacific/Apia", "Asia/Shanghai", "UTC")
TIMES = (0, 1, 3599, 3600, 5400, 7199, 7200, 9000, 10800, 43200, 86399, 86400, 90000, 100000)


def _datetime_way(tz: str, d: date, time_s: int) -> int:
    return int((datetime.combine(d, time(0), ZoneInfo(tz))
                + timedelta(seconds=time_s)).timestamp())


def test_local_epoch_is_the_datetime_way_on_every_day():
    pl = Planner.build(NET)
    for tz in ZONES:
        for d in [date(2011, 12, 28) + timedelta(n) for n in range(5)] + \
                [date(2026, 1, 1) + timedelta(n) for n in range(365)]:
            for time_s in TIMES:
                assert pl._local_epoch(tz, d, time_s) == _datetime_way(tz, d, time_s), \
                    (tz, d, time_s)
    # a transition day is kept as such (None), every other day as its midnight
    assert pl._midnights[("America/New_York", date(2026, 3, 8))] is None
    assert pl._midnights[("America/New_York", date(2026, 3, 9))] == \
        _datetime_way("America/New_York", date(2026, 3, 9), 0)


def test_local_epoch_memo_is_bounded():
    pl = Planner.build(NET)
    for n in range(5000):
        pl._local_epoch("Europe/London", date(2020, 1, 1) + timedelta(n), 60)
    assert 0 < len(pl._midnights) <= 4097


def test_plans_on_the_memos_are_a_fresh_planners():
    warm = Planner.build(NET)
    queries = [Query(o, z, BASE + timedelta(n), t, arrive_by=ab)
               for n in range(2) for o, z in (("t:A", "t:C"), ("t:C", "t:D"), ("t:B", "t:D"))
               for t, ab in ((7 * 3600, False), (10 * 3600, True))]
    for q in queries:
        warm.plan(q)
    walks = rides = 0
    for q in queries:
        got = warm.plan(q)
        assert got == Planner.build(NET).plan(q), q
        walks += sum(it.legs[0].mode == "walk" and len(it.legs) == 1 for it in got)
        rides += sum(it.legs[0].mode != "walk" for it in got)
    assert walks and rides
    assert set(warm._place_members) == {"t:A", "t:B", "t:C", "t:D"}
    assert warm._place_members["t:C"] == warm._members(warm.stop("t:C"))
