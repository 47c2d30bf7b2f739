"""Memos of `Planner.plan`'s own steps: a query's time as an epoch (`Planner._local_epoch`,
per zone and date) and a stop place's members (`Planner._place_stops`) give what the
datetime arithmetic and the stop lookups give, on every day of a year in zones with daylight
saving at any hour (midnight included, half an hour, a skipped day), and stay bounded."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

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


def test_raw_from_the_legs_is_raw_from_the_timetable():
    """A point query's `_Builder.raw` reads the first and last ride's memoised leg; a range
    query's the timetable: the same (departure, arrival, transfers), start and value, on a
    static and a realtime planner (a delayed run), both directions."""
    from routing import journeys
    from routing.updates import StopTimeEvent, StopTimeUpdate, TripUpdate
    from test_bruteforce import _load
    from test_kernel import _queries

    net = _load("marta-rail-blue-green-2021", "cobblinc-route30-2021")
    static = Planner.build(net)
    got = []
    assemble = journeys.assemble

    def spy(ctx, catalog, search, found, query, src, dst, *args, **kw):
        got.append((ctx, catalog, search, found, query, src, dst))
        return assemble(ctx, catalog, search, found, query, src, dst, *args, **kw)

    import routing.planner as planner_mod
    planner_mod.assemble = spy
    try:
        queries = _queries(net, 30, 21)
        ridden = {leg.key for q in queries for it in static.plan(q) for leg in it.legs
                  if leg.key is not None}
        delayed = static.with_realtime([TripUpdate(k.trip_id, k.service_date, stop_updates=(
            StopTimeUpdate(stop_id=k.from_stop, departure=StopTimeEvent(delay=120)),))
            for k in ridden])
        assert delayed.realtime is not None
        assert any(leg.realtime for q in queries for it in delayed.plan(q) for leg in it.legs)
    finally:
        planner_mod.assemble = assemble
    compared = 0
    for ctx, catalog, search, found, query, src, dst in got:
        for rides in found:
            key = tuple((int(search.day.inst_trip[r.inst]), int(search.day.inst_date[r.inst]),
                         r.board, r.alight) for r in rides)
            a = journeys._Builder(ctx, catalog, query, src, dst)
            b = journeys._Builder(ctx, catalog, query, src, dst)
            assert (a.raw(key, True), a.start, a.value) == (b.raw(key, False), b.start, b.value)
            compared += 1
    assert compared > 20


def test_a_plain_querys_search_is_made_once_per_day():
    """`Searches.resolve` gives every plain query of a day (no option that changes the
    search) one Search, equal to a fresh one; a query with such an option its own, the
    same for the next query with the same options; the memo holds a few, each checked to
    be of the day asked for."""
    from dataclasses import fields, replace

    import numpy as np

    from routing import raptor
    from routing.search import Search

    pl = Planner.build(NET)
    day = pl.day(BASE)
    a = pl.searches.resolve(Query("t:A", "t:C", BASE, 7 * 3600), day)
    b = pl.searches.resolve(Query("t:B", "t:D", BASE, 9 * 3600, transfer_penalty_s=60), day)
    fresh = Planner.build(NET)
    c = fresh.searches._resolve(Query("t:A", "t:C", BASE, 7 * 3600), fresh.day(BASE))
    assert a is b
    for f in fields(Search):
        x, y = getattr(a, f.name), getattr(c, f.name)
        if f.name == "pinned":          # the kernel's addresses (each planner's own arrays)
            assert np.array_equal(x, raptor.pin(a.kernel, raptor.KERNEL))
        elif isinstance(x, np.ndarray):
            assert np.array_equal(x, y), f.name
        elif f.name == "kernel":        # the arrays and values above, as the kernel takes them
            assert len(x) == len(y) and all(map(np.array_equal, x, y))
        elif f.name not in ("day", "pats", "fps"):
            assert x == y, f.name
    plain = Query("t:A", "t:C", BASE, 7 * 3600)
    for option in (dict(modes=frozenset({"bus"})), dict(min_transfer_s=0),
                   dict(extra_transfer_s=60), dict(walk_speed_mps=1.0), dict(max_transfers=1),
                   dict(max_walk_m=100.0), dict(wheelchair=True), dict(step_free=True)):
        got = pl.searches.resolve(replace(plain, **option), day)
        assert got is not a, option
        again = replace(plain, origin="t:B", time_s=8 * 3600, **option)
        assert pl.searches.resolve(again, day) is got, option
    assert len(pl.searches._made[id(day)][1]) <= 8
    for n in range(6):
        d = pl.day(BASE + timedelta(n))
        assert pl.searches.resolve(plain, d).day is d
        assert len(pl.searches._made) <= 4
    rt = pl.with_realtime([])
    assert rt.searches.resolve(plain, rt.day(BASE)).day is rt.day(BASE)


def test_an_itinerarys_versions_are_the_feeds_it_rides():
    """`Catalog.versions` (memoised per set of feeds, from the legs' `feed`) names the
    versions of the feeds an itinerary's trips belong to, in the network's order."""
    from test_bruteforce import _load
    from test_kernel import _queries

    net = _load("marta-rail-blue-green-2021", "cobblinc-route30-2021")
    pl = Planner.build(net)
    seen = set()
    for q in _queries(net, 20, 5):
        for it in pl.plan(q):
            used = {k.trip_id.split(":", 1)[0] for k in it.key.legs}
            assert it.key.versions == tuple(fv for fv in pl.versions if fv[0] in used)
            seen.add(it.key.versions)
    assert len(pl.versions) == 2 and len(seen) >= 2
    assert pl.catalog.versions(frozenset()) == ()
    assert pl.catalog.versions(frozenset(f for f, _ in pl.versions)) == pl.versions


def test_a_legs_times_are_made_once_and_as_fromtimestamp_makes_them():
    """`journeys._dt`/`_utc` keep each zone's datetimes by epoch: the datetime
    `fromtimestamp` makes (folds of a repeated hour included), the same object when asked
    again, and at most `_MAX_TIMES` kept a zone."""
    from datetime import timezone

    from routing import journeys

    epochs = [1_772_946_000 + 600 * n for n in range(-20, 20)]     # 2026-03-08, New York
    epochs += [1_793_505_600 + 300 * n for n in range(-30, 30)]   # 2026-11-01, its repeat
    for tz in ZONES:
        for e in epochs:
            got = journeys._dt(e, tz)
            want = datetime.fromtimestamp(e, ZoneInfo(tz))
            assert (got, got.fold, got.utcoffset(), got.isoformat()) == \
                (want, want.fold, want.utcoffset(), want.isoformat()), (tz, e)
            assert journeys._dt(e, tz) is got
    for e in epochs:
        got = journeys._utc(e)
        assert got == datetime.fromtimestamp(e, timezone.utc) and got.tzinfo is timezone.utc
        assert journeys._utc(e) is got
    for n in range(journeys._MAX_TIMES + 10):
        journeys._dt(n, "Europe/London")
        journeys._utc(n)
    assert 0 < len(journeys._TIMES["Europe/London"]) <= journeys._MAX_TIMES
    assert 0 < len(journeys._UTC) <= journeys._MAX_TIMES


def test_a_catalogs_trips_read_their_routes_names_once():
    """`Catalog.trip` takes a route's mode, names and operator from the route's entry
    (`Catalog._route`, made by its first trip), and every field is what the network says."""
    from routing.trips import trip_number

    pl = Planner.build(NET)
    cat, net = pl.catalog, pl.network
    t1, t2 = cat.trip(0), cat.trip(1)
    assert list(cat._routes) == [int(net.trip_route[0])] == [int(net.trip_route[1])]
    for t, trip in ((0, t1), (1, t2)):
        route = int(net.trip_route[t])
        assert trip.trip_id == str(net.trip_id[t]) and trip.feed == trip.trip_id.split(":")[0]
        assert (trip.row, trip.tz, trip.pattern) == (int(net.trip_st_start[t]),
                                                     int(pl.trip_tz[t]),
                                                     int(pl.fwd.trip_pattern[t]))
        assert (trip.mode, trip.route_id, trip.route_short_name, trip.route_long_name,
                trip.operator, trip.headsign, trip.number) == cat._routes[route][:5] + (
            str(net.trip_headsign[t]), trip_number(net, t)) == (
            str(net.route_mode[route]), str(net.route_id[route]),
            str(net.route_short_name[route]), str(net.route_long_name[route]),
            str(net.agency_name[int(net.route_agency[route])]), str(net.trip_headsign[t]),
            trip_number(net, t))
        assert all(type(v) in (int, str) for v in trip[:-1])


def test_a_prepared_query_searched_at_other_times_is_the_query_searched():
    """`Planner.prepared` once, `searched_at` at every time of two days (both directions,
    stops and coordinates, a walk-only offer among them): the same journeys, key and
    itineraries as `searched` of the query at that time on a fresh planner; after the day
    was dropped from the cache and made again, still (the search is resolved again)."""
    from routing.planner import Prepared

    warm, fresh = Planner.build(NET), Planner.build(NET)
    checked = 0
    for n in range(2):
        for o, z in (("t:A", "t:C"), ("t:C", "t:D"), ("t:B", "t:D"), ((36.6001, 117.0), "t:A")):
            for ab in (False, True):
                prep = warm.prepared(Query(o, z, BASE + timedelta(n), 0, arrive_by=ab))
                assert isinstance(prep, Prepared)
                for t in range(6 * 3600, 11 * 3600, 600):
                    q = prep.query.at(t)
                    assert q == Query(o, z, BASE + timedelta(n), t, arrive_by=ab)
                    got, want = warm.searched_at(prep, q), fresh.searched(q)
                    assert got.key() == want.key() and got.found == want.found, q
                    assert got.itineraries() == want.itineraries(), q
                    checked += 1
                warm.days._days.clear()     # the day made again: another Day object
                q = prep.query.at(7 * 3600)
                got = warm.searched_at(prep, q)
                assert got.search.day is not prep.search.day
                assert got.itineraries() == fresh.plan(q)
    assert checked == 2 * 4 * 2 * 30
    other = Planner.build(NET)
    with pytest.raises(ValueError):
        other.searched_at(prep, prep.query)
