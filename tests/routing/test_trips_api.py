"""GET /v1/trips/{trip_id}, GET /v1/stops/{stop_id}/departures, and the train numbers and
intermediate stops of /v1/plan legs, on a small network put into the live holder."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from builders import BASE, timetable
from maas.appkeys import LIVE
from routing.planner import Planner
from routing.stops import StopIndex
from routing.updates import StopTimeEvent, StopTimeUpdate, TripUpdate


def _net():
    net = timetable("""
        G1 G rail A@08:00 B@08:30/08:32 C@09:00
        G2 G rail A@09:00 B@09:30/09:32 C@10:00
        N1 N bus B@23:50 C@24:20/24:25 D@24:40
        L1 L rail C@07:00 A@08:00
    """, stops={"A": (36.60, 117.00), "B": (36.70, 117.05), "C": (36.80, 117.10),
                "D": (36.85, 117.10)}, n_days=3)
    order = [str(x).split(":", 1)[1] for x in net.trip_id]
    short = np.array([{"G1": "G101", "G2": "G103"}.get(t, "") for t in order], dtype=object)
    return dataclasses.replace(net, trip_short_name=short)


def _install(app, planner: Planner) -> None:
    holder = app[LIVE]
    holder.current = dataclasses.replace(holder.current, planner=planner, network=planner.network,
                                         stops=StopIndex.build(planner.network), loaded=True)


@pytest.fixture
async def served(client, app):
    _install(app, Planner.build(_net()))
    return client


async def test_plan_legs_carry_number_and_intermediate_stops(served):
    r = await served.get("/v1/plan", params={"from": "t:A", "to": "t:C", "date": "2026-11-25",
                                             "time": "07:00"})
    assert r.status == 200, await r.text()
    leg = (await r.json())["itineraries"][0]["legs"][0]
    assert leg["trip_id"] == "t:G1" and leg["trip_short_name"] == "G101"
    assert [s["id"] for s in leg["intermediate_stops"]] == ["t:B"]


async def test_trip_without_short_name_is_numbered_by_route(served):
    r = await served.get("/v1/trips/t:L1", params={"date": "2026-11-25"})
    assert r.status == 200, await r.text()
    assert (await r.json())["trip_short_name"] == "L"


async def test_trip_shows_calls_times_and_line(served):
    r = await served.get("/v1/trips/t:G1", params={"date": "2026-11-25"})
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["trip_short_name"] == "G101" and body["route"]["id"] == "t:G"
    assert [c["stop_id"] for c in body["stops"]] == ["t:A", "t:B", "t:C"]
    b = body["stops"][1]
    assert b["arrival"] == "2026-11-25T08:30:00+08:00"
    assert b["departure"] == "2026-11-25T08:32:00+08:00" == b["scheduled_departure"]
    assert b["delay_s"] is None and not body["realtime"]
    line = body["shape"]["geometry"]
    assert line["type"] == "LineString"
    assert line["coordinates"] == [[117.00, 36.60], [117.05, 36.70], [117.10, 36.80]]


async def test_trip_and_departures_show_realtime_delay_and_skip(app, client):
    late = TripUpdate(trip_id="t:G1", service_date=BASE, stop_updates=(
        StopTimeUpdate(stop_id="t:A", departure=StopTimeEvent(delay=300)),
        StopTimeUpdate(stop_id="t:B", skipped=True)))
    _install(app, Planner.build(_net()).with_realtime([late]))
    r = await client.get("/v1/trips/t:G1", params={"date": "2026-11-25"})
    assert r.status == 200, await r.text()
    body = await r.json()
    a, b, c = body["stops"]
    assert body["realtime"] and a["delay_s"] == 300
    assert a["departure"] == "2026-11-25T08:05:00+08:00"
    assert a["scheduled_departure"] == "2026-11-25T08:00:00+08:00"
    assert b["skipped"] and not a["skipped"] and not c["skipped"]
    r = await client.get("/v1/stops/t:A/departures", params={"date": "2026-11-25", "time": "08:00"})
    first = (await r.json())["departures"][0]
    assert (first["trip_id"], first["delay_s"], first["realtime"]) == ("t:G1", 300, True)
    r = await client.get("/v1/stops/t:B/departures", params={"date": "2026-11-25", "time": "08:00"})
    assert [d["trip_id"] for d in (await r.json())["departures"]][:1] == ["t:G2"]


@pytest.mark.parametrize("path,params,status,code", [
    ("/v1/trips/t:NOPE", {"date": "2026-11-25"}, 404, "unknown_trip"),
    ("/v1/trips/t:G1", {"date": "2030-01-01"}, 404, "trip_not_running"),
    ("/v1/trips/t:G1", {"date": "nope"}, 400, "invalid_query"),
    ("/v1/stops/t:NOPE/departures", {"date": "2026-11-25", "time": "08:00"}, 404, "unknown_stop"),
    ("/v1/stops/t:A/departures", {"date": "2026-11-25", "time": "8h"}, 400, "invalid_query"),
    ("/v1/stops/t:A/departures", {"date": "0001-01-01", "time": "00:00"}, 422, "date_out_of_service"),
    ("/v1/trips/t:G1", {"date": "0001-01-01"}, 404, "trip_not_running"),
])
async def test_errors(served, path, params, status, code):
    r = await served.get(path, params=params)
    assert r.status == status, await r.text()
    assert r.content_type == "application/problem+json"
    assert (await r.json())["code"] == code


async def test_departures_are_the_next_boardings(served):
    r = await served.get("/v1/stops/t:B/departures",
                         params={"date": "2026-11-25", "time": "08:31", "limit": 5})
    assert r.status == 200, await r.text()
    deps = (await r.json())["departures"]
    assert [(d["trip_id"], d["departure"]) for d in deps] == [
        ("t:G1", "2026-11-25T08:32:00+08:00"), ("t:G2", "2026-11-25T09:32:00+08:00"),
        ("t:N1", "2026-11-25T23:50:00+08:00")]
    assert deps[0]["trip_short_name"] == "G101" and deps[0]["stop_id"] == "t:B"
    assert deps[0]["destination"] == deps[1]["destination"] != deps[2]["destination"]


async def test_departures_after_midnight_come_from_the_previous_service_day(served):
    r = await served.get("/v1/stops/t:C/departures",
                         params={"date": "2026-11-26", "time": "00:00", "limit": 2})
    assert r.status == 200, await r.text()
    deps = (await r.json())["departures"]
    assert (deps[0]["trip_id"], deps[0]["service_date"], deps[0]["departure"]) == (
        "t:N1", "2026-11-25", "2026-11-26T00:25:00+08:00")
    assert deps[1]["trip_id"] == "t:L1"


async def test_departures_leave_out_last_calls(served):
    r = await served.get("/v1/stops/t:D/departures", params={"date": "2026-11-25", "time": "00:00"})
    assert r.status == 200 and (await r.json())["departures"] == []


# --- names in a language ----------------------------------------------------------------------


@pytest.fixture
async def bilingual(client, app):
    net = _net()
    ids = [str(x) for x in net.stop_id]
    names = np.array(net.stop_name, dtype=object)
    a, b = ids.index("t:A"), ids.index("t:B")
    names[a], names[b] = "甲站", "乙站"
    net = dataclasses.replace(net, stop_name=names, stop_names_i18n={
        a: {"en": "Alpha Station", "zh-Latn-pinyin": "Jia Zhan"}, b: {"zh-Latn-pinyin": "Yi Zhan"}})
    _install(app, Planner.build(net))
    return client


async def test_names_follow_lang_and_accept_language(bilingual):
    day = {"date": "2026-11-25"}
    r = await bilingual.get("/v1/trips/t:G1", params={**day, "lang": "en"})
    assert [c["name"] for c in (await r.json())["stops"]][:2] == ["Alpha Station", "Yi Zhan"]
    r = await bilingual.get("/v1/trips/t:G1", params=day)
    assert [c["name"] for c in (await r.json())["stops"]][:2] == ["甲站", "乙站"]
    r = await bilingual.get("/v1/trips/t:G1", params=day,
                            headers={"Accept-Language": "fr;q=1, en-GB;q=0.8, zh;q=0.5"})
    assert (await r.json())["stops"][0]["name"] == "Alpha Station"
    r = await bilingual.get("/v1/trips/t:G1", params={**day, "lang": "zh-CN"},
                            headers={"Accept-Language": "en"})
    assert (await r.json())["stops"][0]["name"] == "甲站"
    r = await bilingual.get("/v1/stops/t:A/departures", params={**day, "time": "07:00"},
                            headers={"Accept-Language": "en-US"})
    assert (await r.json())["departures"][0]["platform"] == "Alpha Station"
    r = await bilingual.get("/v1/plan", params={"from": "t:A", "to": "t:C", "time": "07:00",
                                                "lang": "en", **day})
    leg = (await r.json())["itineraries"][0]["legs"][0]
    assert leg["from"]["name"] == "Alpha Station"
    assert [s["name"] for s in leg["intermediate_stops"]] == ["Yi Zhan"]
    r = await bilingual.get("/v1/plan", params={"from": "t:A", "to": "t:C", "time": "07:00", **day})
    assert (await r.json())["itineraries"][0]["legs"][0]["from"]["name"] == "甲站"
    r = await bilingual.get("/v1/stops", params={"q": "jiazhan", "lang": "en"})
    assert (await r.json())["stops"][0]["name"] == "Alpha Station"
    r = await bilingual.get("/v1/reach", params={"from": "t:A", "time": "07:00", "max_minutes": 120,
                                                 "lang": "en", **day})
    assert (await r.json())["stops"][0]["name"] == "Alpha Station"
