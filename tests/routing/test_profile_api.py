"""The travel-profile options over HTTP: /v1/plan and /v1/reach take profile, walk_speed and
extra_transfer_s; out-of-bounds values are 400 invalid_parameter; they are documented."""

from __future__ import annotations

import dataclasses

import pytest

from builders import timetable
from maas.appkeys import LIVE
from routing.planner import Planner


@pytest.fixture
async def planned(client, app):
    net = timetable("""
        T1 R1 bus A@08:00 B@08:10
        T2 R2 bus C@08:14 D@08:30
        T3 R3 bus C@08:40 D@08:55
    """, stops={"A": (36.600, 117.000), "B": (36.610, 117.000), "C": (36.6115, 117.000),
                "D": (36.700, 117.000)}, n_days=3)
    holder = app[LIVE]
    holder.current = dataclasses.replace(holder.current, planner=Planner.build(net), network=net,
                                         loaded=True)
    return client


Q = {"from": "t:A", "to": "t:D", "date": "2026-11-25", "time": "07:55"}


async def _plan(client, **extra):
    r = await client.get("/v1/plan", params={**Q, **extra})
    assert r.status == 200, await r.text()
    return (await r.json())["itineraries"]


async def test_elderly_walks_slower_and_misses_the_tight_connection(planned):
    [plain] = await _plan(planned)
    [old] = await _plan(planned, profile="elderly")
    walk = [leg for leg in plain["legs"] if leg["mode"] == "walk"][0]
    walk_old = [leg for leg in old["legs"] if leg["mode"] == "walk"][0]
    assert walk["distance_m"] == walk_old["distance_m"]
    assert walk_old["duration_s"] > walk["duration_s"]
    assert [leg["trip_id"] for leg in plain["legs"] if leg["trip_id"]] == ["t:T1", "t:T2"]
    assert [leg["trip_id"] for leg in old["legs"] if leg["trip_id"]] == ["t:T1", "t:T3"]
    # the same by its options: a 5-minute extra per change alone misses T2 too
    [slow] = await _plan(planned, extra_transfer_s="300")
    assert [leg["trip_id"] for leg in slow["legs"] if leg["trip_id"]] == ["t:T1", "t:T3"]
    # an explicit option beats the profile's
    [fast] = await _plan(planned, profile="elderly", extra_transfer_s="0", walk_speed="1.2")
    assert [leg["trip_id"] for leg in fast["legs"] if leg["trip_id"]] == ["t:T1", "t:T2"]


@pytest.mark.parametrize("params,word", [
    ({"walk_speed": "0"}, "walk_speed"),
    ({"walk_speed": "5"}, "walk_speed"),
    ({"walk_speed": "fast"}, "walk_speed"),
    ({"extra_transfer_s": "-1"}, "extra_transfer_s"),
    ({"extra_transfer_s": "3601"}, "extra_transfer_s"),
    ({"profile": "athlete"}, "profile"),
])
@pytest.mark.parametrize("path", ["/v1/plan", "/v1/reach"])
async def test_out_of_bounds_is_invalid_parameter(planned, path, params, word):
    base = Q if path == "/v1/plan" else {k: v for k, v in Q.items() if k != "to"}
    r = await planned.get(path, params={**base, **params})
    assert r.status == 400, await r.text()
    assert r.content_type == "application/problem+json"
    body = await r.json()
    assert body["code"] == "invalid_parameter" and word in str(body)


async def test_reach_takes_the_profile(planned):
    async def minutes(**extra):
        r = await planned.get("/v1/reach", params={"from": "t:A", "date": "2026-11-25",
                                                   "time": "07:55", "max_minutes": "90", **extra})
        assert r.status == 200, await r.text()
        return {s["id"]: s["minutes"] for s in (await r.json())["stops"]}

    plain, old = await minutes(), await minutes(profile="elderly")
    assert plain["t:D"] < old["t:D"]
    assert all(old[s] >= plain[s] for s in old)


async def test_profile_options_are_documented(planned):
    doc = await (await planned.get("/openapi.json")).json()
    for path in ("/v1/plan", "/v1/reach"):
        params = {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}
        assert {"profile", "walk_speed", "extra_transfer_s", "max_transfers"} <= set(params)
    assert "elderly" in str(doc["paths"]["/v1/plan"]["get"]["parameters"])
