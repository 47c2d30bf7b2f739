"""via=STOP[,STOP] with a minimum stay: the engine against the brute-force reference chained
through the via stops on generated networks, the itineraries' shape (each via alighted at and
boarded from, in order, with the stay), and the option over HTTP."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from builders import timetable
from checks import assert_feasible, epoch, value
from maas.appkeys import LIVE
from reference import Reference
from routing.errors import InvalidQuery
from routing.planner import Planner, Query
from test_bruteforce import CFG, _t0, networks

HORIZON = 30 * 3600


def _members(pl: Planner, stop: str) -> set[str]:
    s = pl.stop(stop)
    net = pl.network
    par = int(net.stop_parent[s])
    out = {stop, *(str(net.stop_id[c]) for c in pl.children.get(s, []))}
    return out | ({str(net.stop_id[par])} if par >= 0 else set())


def _reference_via(pl: Planner, chain: list[str], d: date, secs: int, stay: int) -> int | None:
    """Earliest arrival through the chain by the reference: each segment from when the
    previous one is free at its via stop + max(change time, stay)."""
    walk = pl.config.walk_radius_m
    t = _t0(pl, chain[0], d, secs)
    for i, (a, b) in enumerate(zip(chain, chain[1:])):
        if i:
            t += max(pl.config.transfer_s, stay)
        ref = Reference(pl, d, t, HORIZON)
        src = pl._reach(a, pl.fps, walk)
        dst = pl._reach(b, pl.fps_rev, walk)
        got = ref.earliest({s: w for s, (w, _) in src.items()}, {s: w for s, (w, _) in dst.items()})
        if got is None:
            return None
        t = got
    return t


def _check_shape(pl: Planner, it, vias: list[str], stay: int) -> None:
    """Each via in order: a leg ends there (or at a platform of it) and the next starts there,
    the next departure at least `stay` after the arrival."""
    assert_feasible(pl, it)
    legs = list(it.legs)
    i = 0
    for v in vias:
        near = _members(pl, v)
        while i < len(legs) - 1 and not (legs[i].to_place.id in near and legs[i + 1].from_place.id in near):
            i += 1
        assert i < len(legs) - 1, (v, [(leg.from_place.id, leg.to_place.id) for leg in legs])
        assert epoch(legs[i + 1].departure) - epoch(legs[i].arrival) >= stay
        i += 1


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(data=st.data())
def test_via_matches_the_chained_brute_force(data):
    net, names = data.draw(networks())
    assume(len(names) >= 3)
    pl = Planner.build(net, CFG)
    d = date(2026, 11, 26)
    assume(pl.valid_from <= d <= pl.valid_to)
    n_via = data.draw(st.integers(1, min(2, len(names) - 2)))
    picked = data.draw(st.lists(st.sampled_from(names), min_size=n_via + 2, max_size=n_via + 2,
                                unique=True))
    chain = [f"t:{x}" for x in picked]
    secs = data.draw(st.integers(5, 11)) * 3600
    stay = data.draw(st.sampled_from([0, 0, 300, 1800]))
    expected = _reference_via(pl, chain, d, secs, stay)
    its = pl.plan(Query(chain[0], chain[-1], d, secs, via=tuple(chain[1:-1]),
                        via_min_stay_s=stay, limit=50))
    got = min((value(pl, it) for it in its), default=None)
    assert got == expected, (chain, stay, got, expected)
    t0 = _t0(pl, chain[0], d, secs)
    for it in its:
        _check_shape(pl, it, chain[1:-1], stay)
        assert epoch(it.departure) >= t0


def _net():
    return timetable("""
        T1 R1 bus A@08:00 B@08:10 C@08:20
        T2 R2 bus B@08:15 C@08:22
        T3 R3 bus B@08:40 C@08:50
        T4 R4 bus A@08:00 C@08:12
    """, n_days=3)


def test_via_alights_and_reboards_with_the_stay():
    pl = Planner.build(_net())
    d = date(2026, 11, 25)
    direct = pl.plan(Query("t:A", "t:C", d, 8 * 3600))
    assert [leg.trip_id for leg in direct[0].legs] == ["t:T4"]
    [it] = pl.plan(Query("t:A", "t:C", d, 8 * 3600, via=("t:B",)))[:1]
    assert [leg.trip_id for leg in it.legs] == ["t:T1", "t:T2"]        # off at B, on again
    [it] = pl.plan(Query("t:A", "t:C", d, 8 * 3600, via=("t:B",), via_min_stay_s=600))[:1]
    assert [leg.trip_id for leg in it.legs] == ["t:T1", "t:T3"]        # 10 min at B: the 08:40
    assert it.transfers == 1 and it.id


@pytest.mark.parametrize("kw", [
    {"via": ("t:A",)}, {"via": ("t:B", "t:B")}, {"via": ("t:C",)},
    {"via": ("t:B",), "arrive_by": True}, {"via": ("t:B",), "window_s": 3600},
    {"via": ("t:B", "t:A", "t:B", "t:A")},
])
def test_bad_via_is_invalid_query(kw):
    pl = Planner.build(_net())
    with pytest.raises(InvalidQuery):
        pl.plan(Query("t:A", "t:C", date(2026, 11, 25), 8 * 3600, **kw))


@pytest.fixture
async def planned(client, app):
    net = _net()
    holder = app[LIVE]
    holder.current = dataclasses.replace(holder.current, planner=Planner.build(net), network=net,
                                         loaded=True)
    return client


async def test_via_over_http(planned):
    q = {"from": "t:A", "to": "t:C", "date": "2026-11-25", "time": "08:00", "via": "t:B",
         "via_min_stay_s": "600"}
    r = await planned.get("/v1/plan", params=q)
    assert r.status == 200, await r.text()
    it = (await r.json())["itineraries"][0]
    assert [leg["trip_id"] for leg in it["legs"]] == ["t:T1", "t:T3"]
    for bad, code, status in ((dict(q, via="t:NOPE"), "unknown_stop", 404),
                              (dict(q, via="t:B", arrive_by="true"), "invalid_query", 400),
                              (dict(q, via_min_stay_s="-1"), "invalid_parameter", 400),
                              (dict(q, via=""), None, 200)):
        r = await planned.get("/v1/plan", params=bad)
        assert r.status == status, await r.text()
        if code:
            assert (await r.json())["code"] == code
