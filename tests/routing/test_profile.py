"""Travel profiles (walk_speed, extra_transfer_s, profile=elderly): the engine against the
brute-force reference on generated networks (the reference walks at the query's speed and
adds the extra time to every change), the effect on a real feed (NYC subway), step-free
where known, and the options over HTTP (/v1/plan, /v1/reach)."""

from __future__ import annotations

import copy
import math
from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from builders import timetable
from checks import assert_feasible, value
from maas.api.plan import PlanQuery, to_query
from reference import Reference
from routing.config import PROFILES
from routing.planner import Planner, Query
from routing.reach import reach
from test_bruteforce import CFG, _load, _t0, networks

ELDERLY = PROFILES["elderly"]


def _elderly(q: Query) -> Query:
    return Query(**{**q.__dict__, "walk_speed_mps": ELDERLY.walk_speed_mps,
                    "extra_transfer_s": ELDERLY.extra_transfer_s,
                    "transfer_penalty_s": ELDERLY.transfer_penalty_s,
                    "max_transfers": ELDERLY.max_transfers, "step_free": ELDERLY.step_free})


def _changes(it) -> list[tuple[str, str, int]]:
    """(trip before, trip after, seconds from its arrival to the next departure) per change."""
    out, prev = [], None
    for leg in it.legs:
        if leg.mode == "walk":
            continue
        if prev is not None:
            out.append((prev.trip_id, leg.trip_id,
                        int((leg.departure - prev.arrival).total_seconds())))
        prev = leg
    return out


# ------------------------------------------------------------------ generated networks
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(data=st.data())
def test_walk_speed_and_extra_transfer_match_brute_force(data):
    net, names = data.draw(networks())
    pl = Planner.build(net, CFG)
    d = date(2026, 11, 26)
    assume(pl.valid_from <= d <= pl.valid_to)
    a, b = data.draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
    secs = data.draw(st.integers(5, 11)) * 3600
    speed = data.draw(st.sampled_from([0.5, 0.8, 1.2, 2.0]))
    extra = data.draw(st.sampled_from([0, 120, 300]))
    origin, dest = f"t:{a}", f"t:{b}"
    t0 = _t0(pl, origin, d, secs)
    # the reference on footpaths walked at `speed`, every change `extra` longer
    like = copy.copy(pl)
    like.fps = pl.searches.footpaths(False, speed, extra)
    ref = Reference(like, d, t0, 30 * 3600, min_conn=CFG.transfer_s + extra)
    walk = pl.config.walk_radius_m
    src = pl._reach(origin, pl.searches.footpaths(False, speed), walk, speed)
    dst = pl._reach(dest, pl.searches.footpaths(True, speed), walk, speed)
    expected = ref.earliest({s: w for s, (w, _) in src.items()}, {s: w for s, (w, _) in dst.items()})
    its = pl.plan(Query(origin, dest, d, secs, limit=50, walk_speed_mps=speed,
                        extra_transfer_s=extra))
    got = min((value(pl, it) for it in its), default=None)
    assert (got if got is None or got <= ref.t1 else None) == expected, (origin, dest, got, expected)
    plain = pl.plan(Query(origin, dest, d, secs, limit=50))
    for it in its:
        assert_feasible(pl, it)
        for leg in it.legs:
            if leg.mode == "walk" and leg.distance_m:
                assert leg.duration_s >= math.floor(leg.distance_m / speed) - 1
        assert all(gap >= extra for _, _, gap in _changes(it))
    if speed <= CFG.walk_speed_mps and extra and got is not None:
        # slower and longer changes never arrive earlier than the network's defaults
        assert min(value(pl, it) for it in plain) <= got


def test_step_free_leaves_out_what_the_feed_marks_not_accessible():
    net = timetable("""
        T1 R1 bus A@08:00 B@08:10
        T2 R2 bus B@08:15 C@08:30
        T3 R3 bus B@08:40 C@09:00
        T4 R4 bus A@08:05 D@08:20
        T5 R5 bus D@08:25 C@08:35
    """, wheelchair_stops={"D": 2}, wheelchair_trips={"T2": 2})
    pl = Planner.build(net)
    d = date(2026, 11, 26)
    plain = pl.plan(Query("t:A", "t:C", d, 8 * 3600))
    assert [leg.trip_id for leg in plain[0].legs] == ["t:T1", "t:T2"]
    assert pl.plan(Query("t:A", "t:D", d, 8 * 3600))
    free = pl.plan(Query("t:A", "t:C", d, 8 * 3600, step_free=True))
    # no stop marked 2 (D), no trip marked 2 (T2); unknown (0) passes
    assert [leg.trip_id for leg in free[0].legs] == ["t:T1", "t:T3"]
    assert pl.plan(Query("t:A", "t:D", d, 8 * 3600, step_free=True)) == []


def test_transfer_penalty_ranks_fewer_changes_first():
    net = timetable("""
        T1 R1 bus A@08:00 B@08:10
        T2 R2 bus B@08:12 C@08:20
        T3 R3 bus A@08:05 C@08:28
    """)
    pl = Planner.build(net)
    d = date(2026, 11, 26)
    q = Query("t:A", "t:C", d, 8 * 3600)
    assert [it.transfers for it in pl.plan(q)] == [1, 0]
    ranked = pl.plan(Query(**{**q.__dict__, "transfer_penalty_s": 600}))
    assert [it.transfers for it in ranked] == [0, 1]        # 8 min later, one change fewer
    ranked = pl.plan(Query(**{**q.__dict__, "transfer_penalty_s": 300}))
    assert [it.transfers for it in ranked] == [1, 0]        # 8 min is worth more than 5


# ------------------------------------------------------------------ a real feed
@pytest.fixture(scope="module")
def nyc():
    return Planner.build(_load("nyc-subway-2018"), CFG)


def test_elderly_on_the_nyc_subway(nyc):
    """On a real feed: elderly itineraries walk longer for the same metres, never offer a
    connection tighter than its 5 extra minutes (which the default plans use), change at most
    3 times and come ranked by arrival + 10 min per change."""
    pl, d = nyc, date(2018, 7, 11)
    rng = np.random.default_rng(7)
    net = pl.network
    stations = [str(s) for s, t in zip(net.stop_id, net.stop_location_type) if t == 1]
    tight_seen = later = 0
    for _ in range(25):
        a, b = rng.choice(stations, 2, replace=False)
        q = Query(str(a), str(b), d, 8 * 3600)
        plain, old = pl.plan(q), pl.plan(_elderly(q))
        tight = {c for it in plain for c in _changes(it) if c[2] < ELDERLY.extra_transfer_s}
        tight_seen += len(tight)
        for it in old:
            assert_feasible(pl, it)
            assert it.transfers <= ELDERLY.max_transfers
            for change in _changes(it):
                assert change not in tight
                assert change[2] >= ELDERLY.extra_transfer_s
        cost = [int(it.arrival.timestamp()) + ELDERLY.transfer_penalty_s * it.transfers for it in old]
        assert cost == sorted(cost)
        if plain and old:
            later += int(min(it.arrival for it in old) > min(it.arrival for it in plain))
    assert tight_seen >= 5 and later >= 5, (tight_seen, later)
    # walking from a point near Times Sq: the same metres take 1.5 times as long
    s = pl.stop("nyc:127")
    here = (float(net.stop_lat[s]) + 0.003, float(net.stop_lon[s]))
    q = Query(here, "nyc:A27", d, 8 * 3600)
    walks = {}
    for name, query in (("plain", q), ("elderly", _elderly(q))):
        legs = [leg for it in pl.plan(query) for leg in it.legs if leg.mode == "walk"]
        assert legs
        walks[name] = {round(leg.distance_m): leg.duration_s for leg in legs}
    # walked metres (a transfers.txt time shows as its walk, whatever the speed)
    same = {m for m in set(walks["plain"]) & set(walks["elderly"])
            if abs(walks["plain"][m] - m / pl.config.walk_speed_mps) <= 2}
    assert same
    for m in same:
        assert walks["elderly"][m] == math.ceil(m / ELDERLY.walk_speed_mps) or \
            abs(walks["elderly"][m] - m / ELDERLY.walk_speed_mps) <= 2
        assert walks["elderly"][m] > walks["plain"][m]


def test_reach_with_the_elderly_profile_is_never_faster(nyc):
    pl, d = nyc, date(2018, 7, 11)
    q = Query("nyc:127", "nyc:127", d, 8 * 3600)
    plain, old = reach(pl, q, 3600), reach(pl, _elderly(q), 3600)
    fast = dict(zip(plain.stops.tolist(), plain.arrival.tolist()))
    slow = dict(zip(old.stops.tolist(), old.arrival.tolist()))
    assert set(slow) <= set(fast) and len(slow) < len(fast)
    assert all(slow[s] >= fast[s] for s in slow)
    assert sum(slow[s] > fast[s] for s in slow) > len(slow) // 4   # those needing a change


def test_profile_options_from_the_query_model():
    base = {"from": "a:1", "to": "a:2", "date": "2026-12-06", "time": "08:00"}
    q = to_query(PlanQuery.model_validate({**base, "profile": "elderly"}))
    assert (q.walk_speed_mps, q.extra_transfer_s, q.max_transfers, q.step_free) == (0.8, 300, 3, True)
    q = to_query(PlanQuery.model_validate({**base, "profile": "elderly", "walk_speed": 0.6,
                                           "extra_transfer_s": 0, "max_transfers": 5}))
    assert (q.walk_speed_mps, q.extra_transfer_s, q.max_transfers) == (0.6, 0, 5)
    q = to_query(PlanQuery.model_validate(base))
    assert (q.walk_speed_mps, q.extra_transfer_s, q.transfer_penalty_s, q.step_free) == (None, 0, 0, False)
