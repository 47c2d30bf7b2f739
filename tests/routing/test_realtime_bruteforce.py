"""The realtime overlay against brute force: generated networks, random delays (early and
late, relative and absolute), cancellations and skipped stops. The overlay must answer
exactly like a planner built from scratch on the timetable with the updates written in
(`realtime_oracle.bake`), whose earliest arrival the time-expanded Dijkstra confirms."""

from __future__ import annotations

from datetime import date, timedelta

from builders import timetable
from checks import value
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from realtime_oracle import bake
from reference import Reference
from test_bruteforce import _t0, networks

from routing.config import RoutingConfig
from routing.planner import Planner, Query
from routing.timetable import service_ref_epoch
from routing.updates import StopTimeEvent, StopTimeUpdate, TripUpdate

CFG = RoutingConfig(max_transfers=12)
D = date(2026, 11, 26)


@st.composite
def updates(draw, pl: Planner) -> list[TripUpdate]:
    net = pl.network
    out = []
    for t in range(net.n_trips):
        for sd in (D - timedelta(days=1), D, D + timedelta(days=1)):
            kind = draw(st.sampled_from(["none", "none", "delay", "delay", "cancel", "skip"]))
            if kind == "none":
                continue
            u = TripUpdate(str(net.trip_id[t]), sd, canceled=kind == "cancel")
            if pl.check_update(u) is not None:
                continue
            a, b = int(net.trip_st_start[t]), int(net.trip_st_start[t + 1])
            ref = service_ref_epoch(sd, net.timezones[int(pl.trip_tz[t])])
            sus = []
            for i in sorted(draw(st.sets(st.integers(0, b - a - 1), max_size=3))):
                def event(scheduled: int = ref + int(net.st_dep[a + i])) -> StopTimeEvent:
                    d = draw(st.integers(-5, 40)) * 60
                    if draw(st.booleans()):
                        return StopTimeEvent(delay=d)
                    return StopTimeEvent(time=scheduled + d)
                sus.append(StopTimeUpdate(
                    stop_id=str(net.stop_id[net.st_stop[a + i]]),
                    arrival=event() if draw(st.booleans()) else None,
                    departure=event() if draw(st.booleans()) else None,
                    skipped=kind == "skip" and draw(st.booleans())))
            out.append(TripUpdate(u.trip_id, sd, canceled=u.canceled, stop_updates=tuple(sus)))
    return out


def _triples(its) -> list[tuple[int, int, int]]:
    return sorted((int(i.departure.timestamp()), int(i.arrival.timestamp()), i.transfers)
                  for i in its)


@st.composite
def headway_lines(draw):
    """Two lines, each run every few minutes on one stop sequence, so delays overtake."""
    names = [f"S{i}" for i in range(5)]
    coords = {n: (36.6 + i * 0.002, 117.0) for i, n in enumerate(names)}
    lines = []
    for k, seq in enumerate((names[:4], names[1:][::-1])):
        first = draw(st.integers(6 * 60, 9 * 60))
        for n in range(draw(st.integers(2, 6))):
            t = (first + n * draw(st.integers(3, 12))) * 60
            calls = []
            for s in seq:
                calls.append(f"{s}@{t // 3600:02d}:{t % 3600 // 60:02d}")
                t += draw(st.integers(2, 10)) * 60
            lines.append(f"L{k}x{n} R{k} bus 0,1,2 " + " ".join(calls))
    return timetable("\n".join(lines), coords, n_days=3), names


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(data=st.data())
def test_realtime_on_generated_networks_matches_the_baked_timetable_and_brute_force(data):
    _check(data, *data.draw(networks()), exact_range=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(data=st.data())
def test_realtime_with_overtaking_runs_matches_the_baked_timetable_and_brute_force(data):
    _check(data, *data.draw(headway_lines()))


def _check(data, net, names, exact_range: bool = False) -> None:
    pl = Planner.build(net, CFG)
    assume(pl.valid_from <= D <= pl.valid_to)
    ups = data.draw(updates(pl))
    rt = pl.with_realtime(ups)
    baked = Planner.build(bake(net, ups), CFG)
    a, b = data.draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
    o, dst = f"t:{a}", f"t:{b}"
    secs = data.draw(st.integers(5, 11)) * 3600
    t0 = _t0(pl, o, D, secs)
    ref = Reference(baked, D, t0, 30 * 3600)
    src = rt._reach(o, rt.fps, CFG.walk_radius_m)
    egress = rt._reach(dst, rt.fps_rev, CFG.walk_radius_m)
    expected = ref.earliest({s: w for s, (w, _) in src.items()},
                            {s: w for s, (w, _) in egress.items()})
    if rt.stop(o) in egress:        # walking there (a walk-only itinerary)
        on_foot = t0 + egress[rt.stop(o)][0]
        expected = on_foot if expected is None else min(expected, on_foot)
    its = rt.plan(Query(o, dst, D, secs, limit=50))
    got = min((value(rt, it) for it in its), default=None)
    if got is not None and got > ref.t1:
        got = None
    assert got == expected, (o, dst, got, expected)
    assert _triples(its) == _triples(baked.plan(Query(o, dst, D, secs, limit=50)))
    for it in its:
        end = None
        for leg in it.legs:
            assert end is None or int(leg.departure.timestamp()) >= end
            end = int(leg.arrival.timestamp())
            if leg.key is None:
                continue
            status = rt.leg_status(leg.key)
            assert not status.cancelled
            assert int(status.departure.timestamp()) == int(leg.departure.timestamp())
            assert int(status.arrival.timestamp()) == int(leg.arrival.timestamp())
    for q in (Query(o, dst, D, secs + 3 * 3600, arrive_by=True, limit=50),
              Query(o, dst, D, secs, max_transfers=1, limit=50)):
        assert _triples(rt.plan(q)) == _triples(baked.plan(q)), q
    if exact_range:
        q = Query(o, dst, D, secs, window_s=4 * 3600, limit=50)
        assert _triples(rt.plan(q)) == _triples(baked.plan(q)), q
    # Runs of one line overtaking each other: the overlay groups them into day patterns
    # unlike a fresh build of the baked timetable, and range queries then meet the known
    # range gap (issue 14; pinned in test_bruteforce, e.g. the static planner misses a
    # walk + ride + walk journey of the range that the baked build finds): not compared.
