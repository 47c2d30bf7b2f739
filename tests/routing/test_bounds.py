"""The kernel's lower-bound pruning (`Searches.bounds`, `raptor.bound_graph`): a label whose
time plus a lower bound of the rest of the way cannot beat the target's best is neither
written nor walked from. The same journeys as without the bounds, fewer labels written; a
day whose rides the shared graph does not bound (a realtime catch-up) gets its own, its
rows made as targets need them."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from builders import timetable
from routing import raptor
from routing import search as search_mod
from routing.planner import Planner, Query
from routing.updates import StopTimeEvent, StopTimeUpdate, TripUpdate
from test_bruteforce import CFG
from test_kernel import D, _queries, _shape
from test_kernel import net  # noqa: F401  (the fixture)
from test_realtime import D0, at, hm, line, plan


def _unbounded(monkeypatch) -> None:
    monkeypatch.setattr(search_mod.Searches, "bounds", lambda self, day: search_mod._NO_BOUNDS)


def test_the_bounds_keep_every_journey(net, monkeypatch):  # noqa: F811
    """Point, arrive-by and range queries plan the same itineraries with the bounds as
    without (a fresh planner each way)."""
    qs = _queries(net, 40, 21) + _queries(net, 10, 22, window_s=3600) + \
        _queries(net, 10, 23, max_transfers=1, min_transfer_s=120)
    with_bounds = Planner.build(net, CFG)
    got = {q: _shape(with_bounds.plan(q)) for q in qs}
    assert with_bounds.searches._bounds, "no table was made"
    _unbounded(monkeypatch)
    plain = Planner.build(net, CFG)
    assert {q: _shape(plain.plan(q)) for q in qs} == got
    assert sum(map(len, got.values())) > 60


def test_the_bounds_write_fewer_labels(net, monkeypatch):  # noqa: F811
    """The same kernel outputs with the table as with none, and fewer vehicle and ready
    labels set over the queries."""
    pl = Planner.build(net, CFG)
    written = {True: 0, False: 0}
    for q in _queries(net, 30, 24):
        search = pl.searches.resolve(q, pl.day(q.date, q.arrive_by))
        src, dst = pl._reach(q.origin, search.fps, search.max_walk), \
            pl._reach(q.destination, search.fps, search.max_walk)
        if q.arrive_by:
            src, dst = dst, src
        outs = []
        for bounded in (True, False):
            kernel = search.kernel if bounded else (*search.kernel[:-2], *search_mod._NO_BOUNDS)
            sc = pl.searches.scratch(search.day.n_q)
            out = sc.outputs(raptor.OUT_ROWS)
            s, t = search_mod.Sources.of(src), search_mod.Sources.of(dst)
            n, best, _ = raptor.search(raptor.pin(kernel, raptor.KERNEL), sc.pinned, s.rows,
                                       t.rows, search_mod._NO_STARTS, q.time_s, int(raptor.INF),
                                       True, True, out.pinned)
            outs.append((n, best, out.rows[:, :n].tolist(), out.rides[:, :n].tolist()))
            written[bounded] += int((sc.veh[1:] < raptor.INF).sum() +
                                    (sc.ready[1:] < raptor.INF).sum())
            pl.searches.release(sc)
        assert outs[0] == outs[1], q
    assert written[True] < 0.9 * written[False], written


def test_the_table_is_a_lower_bound_of_every_ride_found(net):  # noqa: F811
    """Every journey found (no bounds involved in checking it): from each ride's boarding
    to the last ride's arrival takes no less than the table's bound between those stops."""
    pl = Planner.build(net, CFG)
    checked = 0
    for q in _queries(net, 40, 25):
        if q.arrive_by:
            continue
        day = pl.day(q.date)
        table = pl.searches.bounds(day)[0]
        for it in pl.plan(q):
            rides = [leg for leg in it.legs if leg.mode != "walk"]
            if not rides:
                continue
            end = rides[-1]
            t = pl.stop(end.to_place.id)
            assert table[t, -1] == 1        # the row of a target: made
            for leg in rides:
                s = pl.stop(leg.from_place.id)
                assert (end.arrival - leg.departure).total_seconds() >= table[t, s]
                checked += 1
    assert checked > 40


def test_another_static_day_shares_the_table(net):  # noqa: F811
    pl = Planner.build(net, CFG)
    made = pl.searches.bounds(pl.day(D))
    table = made[0]
    assert table.dtype == np.int16 and table.shape == (net.n_stops, net.n_stops + 1)
    assert table[:, -1].all()       # the shared table: made whole with its first day
    assert pl.searches.bounds(pl.day(D + timedelta(days=7))) is made
    assert pl.searches.bounds(pl.day(D, reverse=True)) is not made     # the other direction


def test_a_row_is_each_stops_shortest_path_in_the_graph(net):  # noqa: F811
    """`raptor._fill_row` against a plain Dijkstra over the same graph (capped at 32767)."""
    import heapq

    pl = Planner.build(net, CFG)
    table, graph = pl.searches.bounds(pl.day(D))
    n = net.n_stops
    n_e = (len(graph) - n - 1) // 2
    for t in range(0, n, 37):
        dist = {t: 0}
        heap = [(0, t)]
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist[u]:
                continue
            for x in range(graph[u], graph[u + 1]):
                v, nd = int(graph[n + 1 + x]), d + int(graph[n + 1 + n_e + x])
                if nd < dist.get(v, 32767):
                    dist[v] = nd
                    heapq.heappush(heap, (nd, v))
        assert table[t, :n].tolist() == [dist.get(s, 32767) for s in range(n)]


def test_warming_makes_both_directions_bounds(net):  # noqa: F811
    """`maas.live.warm` plans leaving and arriving: neither direction's table is made on a
    passenger's plan."""
    from datetime import datetime

    from maas.live import warm

    pl = Planner.build(net, CFG)
    warm(pl, datetime(D.year, D.month, D.day, 9, 0))
    assert sorted(pl.searches._tables) == [False, True]
    assert all(made[0][:, -1].all() for _, made in pl.searches._tables.values())


def test_a_network_too_large_for_a_table_is_searched_without(net, monkeypatch):  # noqa: F811
    qs = _queries(net, 10, 26)
    found = [_shape(Planner.build(net, CFG).plan(q)) for q in qs]
    monkeypatch.setattr(search_mod, "BOUND_STOPS", net.n_stops - 1)
    pl = Planner.build(net, CFG)
    assert pl.searches.bounds(pl.day(D))[0].shape == (0, 0)
    assert [_shape(pl.plan(q)) for q in qs] == found and any(found)


def test_a_slower_walk_speed_is_bounded_a_faster_one_is_not(net):  # noqa: F811
    pl = Planner.build(net, CFG)
    q = _queries(net, 1, 27)[0]
    day = pl.day(q.date)
    plain = Query(q.origin, q.destination, q.date, q.time_s, walk_speed_mps=2.5)
    assert pl.searches.resolve(plain, day).bounds.shape == (0, 0)
    extra = Query(q.origin, q.destination, q.date, q.time_s, extra_transfer_s=300)
    assert pl.searches.resolve(extra, day).bounds is pl.searches.bounds(day)[0]


def test_a_realtime_catch_up_is_not_pruned_by_the_static_table():
    """T3's realtime ride B -> C takes 5 minutes against 50 in the timetable: the static
    table's bound from B would prune the change at B once T2 reached C at 08:40, and miss
    T1 | T3 at 08:20. The realtime day is checked against the shared table and gets its
    own."""
    net = timetable("""
        T1 R1 bus A@08:00 B@08:10
        T2 R2 bus A@08:00 X@08:20 C@08:40
        T3 R3 bus B@08:15 C@09:05
    """)
    pl = Planner.build(net)
    assert [line(it) for it in plan(pl, "t:A", "t:C", D0, hm(7, 55), limit=1)] == \
        ["t:T2 t:A@08:00 t:C@08:40"]
    static = pl.searches.bounds(pl.day(D0))[0]
    rt = pl.with_realtime([TripUpdate("t:T3", D0, stop_updates=(
        StopTimeUpdate(stop_id="t:C", arrival=StopTimeEvent(time=at(8, 20))),))])
    got = [line(it) for it in plan(rt, "t:A", "t:C", D0, hm(7, 55))]
    assert got[0].startswith("t:T1 t:A@08:00 t:B@08:10 | "), got
    assert got[0].endswith("t:C@08:20 (sched 08:15-09:05 +0)"), got
    table = rt.searches.bounds(rt.day(D0))[0]
    assert table is not static
    assert table[pl.stop("t:C"), pl.stop("t:B")] <= 300 < static[pl.stop("t:C"), pl.stop("t:B")]
    # its own table's rows are made as targets need them: t:C's (and its footpaths' reach)
    assert 0 < table[:, -1].sum() < net.n_stops and table[pl.stop("t:C"), -1] == 1
