"""Route names and headsigns from translations.txt (tests/data/translated, a small feed with
one), else the names stop search knows; lang= and Accept-Language on /v1/plan legs,
/v1/stops, /v1/trips and departures."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from feeds.compile import compile_feed
from maas.appkeys import LIVE
from routing.names import headsign, route_name
from routing.network import from_bytes, merge, to_bytes
from routing.planner import Planner
from routing.stops import StopIndex

DATA = Path(__file__).resolve().parents[1] / "data" / "translated"
DAY = {"date": "2026-12-09"}


def _net_named(feed: str):
    return compile_feed({p.name: p.read_bytes() for p in DATA.glob("*.txt")}, feed=feed,
                        version="v1")


def _net():
    return _net_named("cr")


def test_compiled_translations_survive_storage_and_merge():
    net = _net()
    again = merge([from_bytes(to_bytes(net)), from_bytes(to_bytes(_net_named("cr2")))])
    for n in (net, from_bytes(to_bytes(net)), again):
        r = [str(x) for x in n.route_id].index("cr:jq")
        t = [str(x) for x in n.trip_id].index("cr:G1")
        assert route_name(n, r, "route_long_name", "en") == "Jinan West – Qingdao"
        assert route_name(n, r, "route_short_name", "en") == "Jiqing"
        assert route_name(n, r, "route_long_name", "zh") == "济南西—青岛"
        assert route_name(n, r, "route_long_name", None) == "济南西—青岛"
        assert headsign(n, t, "en") == "Qingdao" and headsign(n, t, "zh") == "青岛"
    r2 = [str(x) for x in again.route_id].index("cr2:jq")
    assert route_name(again, r2, "route_long_name", "en") == "Jinan West – Qingdao"
    # a network stored before these columns still loads (no translations: the fallbacks)
    old = dataclasses.replace(net, route_names_i18n=net.route_names_i18n[:0],
                              trip_headsign_i18n=net.trip_headsign_i18n[:0])
    merged = merge([old, _net_named("cr3")])
    assert len(merged.route_names_i18n) == merged.n_routes
    assert len(merged.trip_headsign_i18n) == merged.n_trips


def test_without_a_translation_the_names_stop_search_knows():
    net = _net()
    r = [str(x) for x in net.route_id].index("cr:ts")
    t = [str(x) for x in net.trip_id].index("cr:K7")
    assert headsign(net, t, "en") == "Mount Tai"            # the stop called 泰山站
    assert route_name(net, r, "route_long_name", "en") == "Jinanxi—Taishan"   # pinyin
    assert route_name(net, r, "route_short_name", "en") == "Taishanxian"


@pytest.fixture
async def served(client, app):
    net = _net()
    holder = app[LIVE]
    holder.current = dataclasses.replace(holder.current, planner=Planner.build(net), network=net,
                                         stops=StopIndex.build(net), loaded=True)
    return client


async def _leg(client, to: str, **kw):
    r = await client.get("/v1/plan", params={"from": "cr:jnx", "to": to, "time": "07:00",
                                             **DAY, **kw.get("params", {})},
                         headers=kw.get("headers", {}))
    assert r.status == 200, await r.text()
    return (await r.json())["itineraries"][0]["legs"][0]


async def test_plan_legs_in_lang_and_accept_language(served):
    leg = await _leg(served, "cr:qd", params={"lang": "en"})
    assert (leg["route"]["long_name"], leg["route"]["short_name"], leg["headsign"]) == \
        ("Jinan West – Qingdao", "Jiqing", "Qingdao")
    assert (leg["from"]["name"], leg["to"]["name"]) == ("Jinan West", "Qingdao")
    leg = await _leg(served, "cr:qd", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    assert leg["headsign"] == "Qingdao" and leg["from"]["name"] == "Jinan West"
    leg = await _leg(served, "cr:qd", params={"lang": "zh"}, headers={"Accept-Language": "en"})
    assert (leg["route"]["long_name"], leg["headsign"], leg["from"]["name"]) == ("济南西—青岛", "青岛", "济南西站")
    leg = await _leg(served, "cr:qd")
    assert leg["headsign"] == "青岛"                           # as published without either
    leg = await _leg(served, "cr:tai", headers={"Accept-Language": "en"})
    assert (leg["headsign"], leg["route"]["long_name"]) == ("Mount Tai", "Jinanxi—Taishan")


async def test_stops_trips_and_departures_in_lang(served):
    r = await served.get("/v1/stops", params={"q": "qingdao"}, headers={"Accept-Language": "en"})
    assert (await r.json())["stops"][0]["name"] == "Qingdao"
    r = await served.get("/v1/stops", params={"q": "qingdao"})
    assert (await r.json())["stops"][0]["name"] == "青岛站"
    r = await served.get("/v1/stops", params={"q": "qingdao", "lang": "zh"},
                         headers={"Accept-Language": "en"})
    assert (await r.json())["stops"][0]["name"] == "青岛站"
    r = await served.get("/v1/trips/cr:G1", params=DAY, headers={"Accept-Language": "en"})
    body = await r.json()
    assert r.status == 200, body
    assert body["headsign"] == "Qingdao" and body["route"]["long_name"] == "Jinan West – Qingdao"
    r = await served.get("/v1/stops/cr:jnx/departures", params={**DAY, "time": "07:00", "lang": "en"})
    deps = (await r.json())["departures"]
    assert [d["headsign"] for d in deps] == ["Qingdao", "Mount Tai", "Qingdao"]
