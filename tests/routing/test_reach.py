"""The one-to-all reach against the brute-force reference (generated networks) and the
planner's own point queries, and GET /v1/reach over HTTP."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from builders import timetable
from checks import value
from maas.appkeys import LIVE
from reference import Reference
from routing.planner import Planner, Query
from routing.reach import reach
from test_bruteforce import CFG, _load, _t0, networks

HORIZON = 30 * 3600


def _check(pl: Planner, origin: str, d: date, secs: int, budget: int,
           sample: list[int] | None = None) -> int:
    """Reach from `origin` against the reference on every stop (or `sample`); returns how many
    of them were reached by a ride."""
    q = Query(origin, origin, d, secs)
    got = reach(pl, q, budget)
    t0 = _t0(pl, origin, d, secs)
    assert got.t0 == t0
    by_stop = {int(s): (int(a), int(k)) for s, a, k in zip(got.stops, got.arrival, got.transfers)}
    ref = Reference(pl, d, t0, HORIZON)
    src = pl._reach(origin, pl.fps, pl.config.walk_radius_m)
    net = pl.network
    rode = 0
    for s in (range(net.n_stops) if sample is None else sample):
        if s in src or net.stop_parent[s] >= 0 and int(net.stop_parent[s]) in src:
            assert s in by_stop and by_stop[s][1] == -1
            continue
        sid = str(net.stop_id[s])
        dst = pl._reach(sid, pl.fps_rev, pl.config.walk_radius_m)
        expected = ref.earliest({m: w for m, (w, _) in src.items()},
                                {m: w for m, (w, _) in dst.items()})
        if expected is None or expected > t0 + budget:
            assert s not in by_stop, (sid, by_stop.get(s), expected)
            continue
        assert by_stop.get(s, (None,))[0] == expected, (sid, by_stop.get(s), expected)
        # fewest transfers reaching it that early, as the planner's point queries say
        fewest = min(it.transfers for it in pl.plan(Query(origin, sid, d, secs, limit=50))
                     if value(pl, it) == expected)
        assert by_stop[s][1] == fewest, (sid, by_stop[s], fewest)
        rode += 1
    return rode


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(data=st.data())
def test_generated_networks_match_brute_force(data):
    net, names = data.draw(networks())
    pl = Planner.build(net, CFG)
    d = date(2026, 11, 26)
    assume(pl.valid_from <= d <= pl.valid_to)
    a = data.draw(st.sampled_from(names))
    secs = data.draw(st.integers(5, 11)) * 3600
    budget = data.draw(st.sampled_from([30 * 60, 2 * 3600, 20 * 3600]))
    _check(pl, f"t:{a}", d, secs, budget)


@pytest.mark.slow
def test_real_feeds_match_brute_force():
    net = _load("marta-rail-blue-green-2021", "cobblinc-route30-2021")
    pl = Planner.build(net, CFG)
    d = date(2021, 10, 20)
    rng = np.random.default_rng(7)
    col = d.toordinal() - net.service_base_date
    running = np.flatnonzero(net.service_days[net.trip_service, col])
    firsts = sorted({int(net.st_stop[net.trip_st_start[t]]) for t in running.tolist()})
    served = sorted({int(s) for t in running.tolist()
                     for s in net.st_stop[net.trip_st_start[t]:net.trip_st_start[t + 1]].tolist()})
    rode = 0
    for o in rng.choice(firsts, 3, replace=False).tolist():
        sample = rng.choice(served, min(25, len(served)), replace=False).tolist()
        rode += _check(pl, str(net.stop_id[o]), d, 7 * 3600 + 1800, 90 * 60, sample)
    assert rode >= 10       # the sample really exercises rides


def _small():
    return timetable("""
        G1 G rail A@08:00 B@08:30 C@09:00
        B1 X bus C@09:20 D@09:50
    """, stops={"A": (36.60, 117.00), "B": (36.70, 117.05), "C": (36.80, 117.10),
                "D": (36.90, 117.10)}, n_days=3)


def test_small_network_by_hand():
    pl = Planner.build(_small())
    got = reach(pl, Query("t:A", "t:A", date(2026, 11, 25), 7 * 3600), 4 * 3600)
    ids = [str(pl.network.stop_id[s]) for s in got.stops]
    assert ids == ["t:A", "t:B", "t:C", "t:D"]
    assert list(got.transfers) == [-1, 0, 0, 1]
    short = reach(pl, Query("t:A", "t:A", date(2026, 11, 25), 7 * 3600), 100 * 60)
    assert [str(pl.network.stop_id[s]) for s in short.stops] == ["t:A", "t:B"]


@pytest.fixture
async def served(client, app):
    pl = Planner.build(_small())
    holder = app[LIVE]
    holder.current = dataclasses.replace(holder.current, planner=pl, network=pl.network, loaded=True)
    return client


async def test_reach_json_and_geojson(served):
    params = {"from": "t:A", "date": "2026-11-25", "time": "07:00", "max_minutes": "240"}
    r = await served.get("/v1/reach", params=params)
    assert r.status == 200, await r.text()
    body = await r.json()
    stops = {s["id"]: s for s in body["stops"]}
    assert set(stops) == {"t:A", "t:B", "t:C", "t:D"}
    assert stops["t:D"]["transfers"] == 1 and stops["t:D"]["rides"] == 2
    assert stops["t:A"]["rides"] == 0 and stops["t:A"]["minutes"] == 0
    assert stops["t:C"]["arrival"].startswith("2026-11-25T09:")
    r = await served.get("/v1/reach", params={**params, "format": "geojson", "modes": "rail"})
    assert r.status == 200, await r.text()
    gj = await r.json()
    assert gj["type"] == "FeatureCollection"
    points = [f for f in gj["features"] if "id" in f["properties"]]
    assert {f["properties"]["id"] for f in points} == {"t:A", "t:B", "t:C"}
    bands = [f for f in gj["features"] if f["properties"].get("band_minutes") is not None]
    assert bands and all(f["geometry"]["type"] in ("Polygon", "Point", "LineString") for f in bands)


@pytest.mark.parametrize("params,status", [
    ({"from": "t:NOPE"}, 404), ({"max_minutes": "0"}, 400), ({"max_minutes": "99999"}, 400),
    ({"format": "xml"}, 400), ({"modes": "rocket"}, 400), ({"date": "2030-01-01"}, 422),
])
async def test_reach_errors(served, params, status):
    base = {"from": "t:A", "date": "2026-11-25", "time": "07:00", "max_minutes": "60"}
    r = await served.get("/v1/reach", params={**base, **params})
    assert r.status == status, await r.text()
    assert r.content_type == "application/problem+json"
