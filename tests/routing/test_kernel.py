"""The RAPTOR kernel's contract with `collect` (`raptor.search`): it resets the labels itself,
returns the best target value with the journey count, and writes a point query's journeys
into rows its Scratch keeps (`Scratch.outputs`); a negative min_transfer_s (the
kernel's target pruning relies on slacks >= 0) is refused."""

from __future__ import annotations

import copy
import inspect
from dataclasses import fields
from datetime import date

import numpy as np
import pytest

from routing import raptor
from routing import planner as planner_mod
from routing import search as search_mod
from routing.errors import InvalidQuery
from routing.search import Search
from routing.planner import Planner, Query
from test_bruteforce import CFG, _load

D = date(2021, 10, 20)


@pytest.fixture(scope="module")
def net():
    return _load("marta-rail-blue-green-2021", "cobblinc-route30-2021")


def _queries(net, n: int, seed: int, **options) -> list[Query]:
    served = np.unique(net.st_stop)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a, b = rng.choice(served, 2, replace=False).tolist()
        secs = int(rng.integers(6 * 3600, 20 * 3600))
        for arrive_by in (False, True):
            out.append(Query(str(net.stop_id[a]), str(net.stop_id[b]), D, secs,
                             arrive_by=arrive_by, **options))
    return out


def _shape(its) -> list:
    return [(it.key, it.departure, it.arrival) for it in its]


def test_a_reused_scratch_plans_as_a_fresh_one(net):
    """One scratch for every query (the pool's), its labels and output rows left by the
    query before, against a brand-new Scratch per query (all labels unreached)."""
    pl, fresh = Planner.build(net, CFG), Planner.build(net, CFG)
    made = []

    def new_scratch(n_q: int) -> raptor.Scratch:
        made.append(raptor.Scratch(CFG.max_transfers + 1, net.n_stops, n_q))
        return made[-1]

    fresh.searches.scratch = new_scratch
    qs = _queries(net, 30, 5) + _queries(net, 10, 6, window_s=3600)
    found = 0
    for q in qs + qs[::-1]:
        got = _shape(pl.plan(q))
        assert got == _shape(fresh.plan(q)), q
        found += len(got)
    assert found > 50 and len(made) >= len(qs)
    assert len(pl.searches._pool) <= 2      # a scratch or two (n_q per direction) served all


def _lent(pl: Planner) -> list[raptor.Scratch]:
    """The scratches `pl`'s searches lend, in order (`search`'s `scratch` block is one's)."""
    lent = []
    scratch = pl.searches.scratch

    def kept(n_q: int) -> raptor.Scratch:
        lent.append(scratch(n_q))
        return lent[-1]

    pl.searches.scratch = kept
    return lent


def test_the_kernel_returns_the_best_target_value(net, monkeypatch):
    pl = Planner.build(net, CFG)
    kernel = search_mod.raptor.search
    lent = _lent(pl)
    seen = []

    def kept(*args):
        n, best, m = kernel(*args)
        assert args[1] is lent[-1].pinned
        tgt = lent[-1].tgt                  # k -> best arrival, k rides
        assert tgt.shape == (CFG.max_transfers + 2,)
        seen.append((best, int(tgt.min()), n))
        out = lent[-1].outputs(raptor.OUT_ROWS)     # (a point query's: the scratch's own)
        assert args[-1] is out.pinned
        rows, found = out.rows, out.found   # `collect`'s journeys: rides, then 4 ints a ride
        assert m == n + 4 * int(rows[2, :n].sum()) and found[0] == (rows[2, 0] if n else 0) \
            or m == 0 == n
        return n, best, m

    monkeypatch.setattr(search_mod.raptor, "search", kept)
    for q in _queries(net, 20, 7):
        pl.plan(q)
    assert seen and all(best == low for best, low, _ in seen)
    assert any(best < raptor.INF for best, _, _ in seen)


def test_the_pinned_kernel_runs_as_on_its_arrays(net, monkeypatch):
    """`raptor.search` on `Search.pinned` and `Scratch.pinned` (addresses and shapes) writes
    the same journeys, labels and target values as `raptor._search` on the arrays they
    point into: point, arrive-by and range queries, with and without filters."""
    pl = Planner.build(net, CFG)
    calls = []
    collect = planner_mod.collect

    def kept(search, scratch, sources, targets, start, window):
        calls.append((search, sources, targets, -start if search.day.reverse else start,
                      window))
        return collect(search, scratch, sources, targets, start, window)

    monkeypatch.setattr(planner_mod, "collect", kept)
    for q in _queries(net, 12, 15) + _queries(net, 4, 16, window_s=3600) + \
            _queries(net, 4, 17, wheelchair=True, max_transfers=1):
        pl.plan(q)
    compared = 0
    for search, src, dst, rel, window in calls:
        starts = search_mod.departures(search, src, rel, rel + window).astype(np.int32) \
            if window else search_mod._NO_STARTS
        times = (starts, int(raptor.INF) if window else rel,
                 rel + window if window else int(raptor.INF))
        ends = (src.stops, src.walk_s, dst.stops, dst.walk_s, *times)
        got = []
        for pinned in (True, False):
            sc = raptor.Scratch(search.rounds, net.n_stops, search.day.n_q)
            out = sc.outputs(max(raptor.OUT_ROWS, 4 * search.rounds * len(starts)))
            if pinned:
                n, best, m = raptor.search(search.pinned, sc.pinned, src.rows, dst.rows, *times,
                                           True, True, out.pinned)
            else:
                n, best, m = raptor._search(*search.kernel, *ends, sc.egress, True, True,
                                            sc.labels, sc.tgts, sc.tgt_improved, sc.flags,
                                            sc.lists, sc.q_state, out.rows, out.rides,
                                            out.found)
            rides = [out.rides[:, i, :out.rows[2, i]].tolist() for i in range(n)]
            got.append((n, best, out.rows[:, :n].tolist(), rides, out.found[:m].tolist(),
                        sc.labels.tolist(),
                        sc.tgts.tolist(), sc.egress.tolist()))
        assert got[0] == got[1]
        compared += got[0][0]
    assert len(calls) > 40 and compared > 30


def test_pin_takes_only_what_the_kernel_reads():
    """`raptor.pin`: a row per value, an array's address and shape, a scalar's value; an
    array of another dtype, another number of dimensions, not C-contiguous, or a
    scalar's place taken by an array (or the other way round), refused."""
    a, b = np.arange(6, dtype=np.int32), np.zeros((2, 3), np.int16)
    spec = ((np.int32, 1), None, (np.int16, 2))
    block = raptor.pin((a, 7, b), spec)
    assert block.dtype == np.int64 and block.flags.c_contiguous
    assert block.tolist() == [[a.ctypes.data, 6, 0, 0], [7, 0, 0, 0], [b.ctypes.data, 2, 3, 0]]
    assert raptor.pin((a, True, b), spec)[1, 0] == 1
    for bad in ((a.astype(np.int64), 7, b), (a, 7, b.ravel()), (a[::2], 7, b), (a, a, b),
                (a, 7.5, b), (7, 7, b), (a, 7)):
        with pytest.raises(TypeError):
            raptor.pin(bad, spec)


def test_a_call_of_the_kernel_takes_ten_arguments(net, monkeypatch):
    """`raptor.search` takes the sources and the targets as one (2, n) int32 array each
    (stops, walks: `Sources.rows`, whose rows `stops` and `walk_s` are) and the outputs as
    their pinned block (`Outputs.pinned`, the rows a point query's scratch keeps): numba
    types and unboxes every argument of a call, ~2 us more cache-cold for 14."""
    pl = Planner.build(net, CFG)
    kernel = search_mod.raptor.search
    names = list(inspect.signature(kernel.py_func).parameters)
    assert len(names) == 10
    lent = _lent(pl)
    calls = []

    def kept(*args):
        calls.append(dict(zip(names, args)))
        return kernel(*args)

    monkeypatch.setattr(search_mod.raptor, "search", kept)
    for q in _queries(net, 3, 18):
        pl.plan(q)
        got = calls[-1]
        src = pl._reach(q.destination if q.arrive_by else q.origin,
                        pl.searches.footpaths(q.arrive_by), CFG.walk_radius_m)
        s = search_mod.Sources.of(src)
        assert got["src"].dtype == np.int32 and got["src"].tolist() == s.rows.tolist() \
            == [s.stops.tolist(), s.walk_s.tolist()] == [list(src), [w for w, _ in src.values()]]
        out = lent[-1].outputs(raptor.OUT_ROWS)
        assert got["out"] is out.pinned
        assert got["out"].tolist() == raptor.pin(out[:3], raptor._OUTPUTS).tolist()
    assert search_mod.Sources.of({}).rows.shape == (2, 0)


def test_a_negative_min_transfer_is_refused(net):
    """(The API refuses it first: its min_transfer_s is >= 0.)"""
    pl = Planner.build(net, CFG)
    for q in _queries(net, 1, 8, min_transfer_s=-600):
        with pytest.raises(InvalidQuery) as e:
            pl.plan(q)
        assert e.value.extra == {"parameter": "min_transfer_s"}
    assert pl.plan(_queries(net, 1, 8, min_transfer_s=0)[0]) is not None


def test_sources_are_made_once_per_kept_reach(net, monkeypatch):
    """A stop's reach is memoised (`Planner._reach`), and so is its `Sources`; a coordinate's
    reach is new each query and its Sources not kept."""
    pl = Planner.build(net, CFG)
    collect = planner_mod.collect
    seen = []

    def kept(search, scratch, sources, *args):
        seen.append(sources)
        return collect(search, scratch, sources, *args)

    monkeypatch.setattr(planner_mod, "collect", kept)
    q = _queries(net, 1, 9)[0]
    pl.plan(q)
    pl.plan(q)
    assert len(seen) == 2 and seen[0] is seen[1]
    src = pl._reach(q.origin, pl.fps, CFG.walk_radius_m)
    assert seen[0].stops.tolist() == list(src)
    assert seen[0].walk_s.tolist() == [w for w, _ in src.values()]
    kept_n = len(pl._sources_memo)
    lat, lon = float(net.stop_lat[net.st_stop[0]]), float(net.stop_lon[net.st_stop[0]])
    at = Query((lat, lon), q.destination, D, q.time_s)
    pl.plan(at)
    pl.plan(at)
    assert seen[-1] is not seen[-2] and seen[-1].stops.tolist() == seen[-2].stops.tolist()
    assert len(pl._sources_memo) == kept_n


def test_resolve_makes_a_whole_search(net):
    """`Searches.resolve` makes its Search without the dataclass __init__: every field set,
    the same as `Search(**fields)`, for each kind of query."""
    pl = Planner.build(net, CFG)
    for q in (_queries(net, 1, 10)[0], _queries(net, 1, 10, wheelchair=True)[1],
              _queries(net, 1, 10, modes=frozenset({"bus"}), min_transfer_s=60)[0]):
        got = pl.searches.resolve(q, pl.day(q.date, q.arrive_by))
        values = {f.name: getattr(got, f.name) for f in fields(Search)}
        assert vars(got) == values and vars(Search(**values)) == values
        # the kernel's leading arguments, by its names
        p, d, f = got.pats, got.day, got.fps
        named = {"pat_stop_start": p.stop_start, "pat_stops": p.stops,
                 "pat_board_ok": p.board_ok, "pat_alight_ok": p.alight_ok,
                 **{n: getattr(d, n) for n in ("q_pattern", "q_inst_start", "q_time_start",
                                               "t_arr", "t_dep", "stop_q_start", "stop_q",
                                               "stop_q_pos", "inst_q")},
                 "fp_start": f.start, "fp_rows": f.rows, "reverse": d.reverse,
                 **{n: values[n] for n in ("board_slack", "alight_slack", "q_ok", "inst_ok",
                                           "stop_ok", "unfiltered", "min_conn", "max_walk",
                                           "rounds", "pat_len", "bounds",
                                           "bounds_graph")}}
        names = list(inspect.signature(raptor._search.py_func).parameters)[:len(got.kernel)]
        assert sorted(names) == sorted(named)
        assert all(a is named[n] or a == named[n] for n, a in zip(names, got.kernel))
        assert np.array_equal(got.pinned, raptor.pin(got.kernel, raptor.KERNEL))


def test_the_kernel_skips_the_filters_of_a_search_without_any(net, monkeypatch):
    """`Search.unfiltered` (the kernel then reads neither q_ok, inst_ok nor stop_ok) only
    where all three are all true: no modes, wheelchair, step-free or realtime; and a search
    told to read them plans the same journeys."""
    from routing.updates import TripUpdate

    pl = Planner.build(net, CFG)
    plain = _queries(net, 6, 12)
    for q in plain:
        s = pl.searches.resolve(q, pl.day(q.date, q.arrive_by))
        assert s.unfiltered and s.q_ok.all() and s.inst_ok.all() and s.stop_ok.all()
    a = plain[0]
    for options in ({"modes": frozenset({"bus", "rail"})}, {"wheelchair": True},
                    {"step_free": True}):
        q = Query(a.origin, a.destination, a.date, a.time_s, **options)
        assert not pl.searches.resolve(q, pl.day(q.date)).unfiltered, options
    t = int(np.flatnonzero(net.service_days[net.trip_service, D.toordinal()
                                            - net.service_base_date])[0])
    rt = pl.with_realtime([TripUpdate(str(net.trip_id[t]), D, canceled=True)])
    assert not rt.searches.resolve(a, rt.day(D)).unfiltered
    found = {q: _shape(pl.plan(q)) for q in plain}
    resolve = pl.searches.resolve

    at = list(inspect.signature(raptor._search.py_func).parameters).index("unfiltered")

    def filtered(query, day):
        s = copy.copy(resolve(query, day))
        vars(s)["unfiltered"] = False
        vars(s)["kernel"] = (*s.kernel[:at], False, *s.kernel[at + 1:])
        vars(s)["pinned"] = raptor.pin(s.kernel, raptor.KERNEL)
        return s

    monkeypatch.setattr(pl.searches, "resolve", filtered)
    assert {q: _shape(pl.plan(q)) for q in plain} == found
    assert sum(map(len, found.values())) > 5


def test_footpath_rows_are_the_footpaths_as_the_kernel_reads_them(net):
    """`Footpaths.rows` (to, walk, floor, metres; -1 metres where no max_walk_m drops the
    footpath: transfers.txt and the change at one stop) for the built footpaths, the
    reversed ones (arrive-by) and those a travel profile adjusts."""
    pl = Planner.build(net, CFG)
    fps = [pl.fps, pl.fps_rev, pl.searches.footpaths(False, 0.7, 120),
           pl.searches.footpaths(True, None, 60)]
    for f in fps:
        frm = np.repeat(np.arange(len(f.start) - 1), np.diff(f.start))
        assert f.rows.dtype == np.int32 and f.rows.flags.c_contiguous
        assert f.rows[:, 0].tolist() == f.to.tolist()
        assert f.rows[:, 1].tolist() == f.walk_s.tolist()
        assert f.rows[:, 2].tolist() == f.floor_s.tolist()
        free = f.rule | (frm == f.to)
        assert f.rows[:, 3].tolist() == np.where(free, -1, f.dist_m).tolist()
        assert (f.dist_m >= 0).all() and free.any() and not free.all()
    assert fps[2].rows[:, 1].tolist() != pl.fps.rows[:, 1].tolist()


def test_the_kernel_writes_the_targets_walks_for_its_call_only(net, monkeypatch):
    """`raptor.search` takes the targets (stops and walks, search direction, as the two rows
    of one array) and writes them
    into the scratch's egress only for its call: all -1 before and after, point, arrive-by
    and range queries alike; a point query's start goes as `point` (no `starts`), a range
    query's runs as `starts`."""
    pl = Planner.build(net, CFG)
    kernel = search_mod.raptor.search
    names = list(inspect.signature(kernel.py_func).parameters)
    lent = _lent(pl)
    seen = []

    def kept(*args):
        egress = lent[-1].egress
        assert args[names.index("scratch")] is lent[-1].pinned
        assert (egress == -1).all()
        got = kernel(*args)
        assert (egress == -1).all()
        seen.append(tuple(args[names.index("dst")].tolist()))
        runs.append((len(args[names.index("starts")]), args[names.index("point")]))
        return got

    monkeypatch.setattr(search_mod.raptor, "search", kept)
    found = 0
    runs: list[tuple[int, int]] = []
    for q in _queries(net, 10, 13) + _queries(net, 3, 14, window_s=3600):
        found += len(pl.plan(q))
        dst = pl._reach(q.origin if q.arrive_by else q.destination,
                        pl.searches.footpaths(not q.arrive_by), CFG.walk_radius_m)
        assert seen[-1] == (list(dst), [w for w, _ in dst.values()])
        n_starts, point = runs[-1]
        if q.window_s and not q.arrive_by:
            assert point == raptor.INF and n_starts > 0
        elif not q.window_s:
            assert n_starts == 0 and point < raptor.INF
    assert found > 10
