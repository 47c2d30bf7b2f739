"""Errors the compiler repairs without changing what is ridden load with a warning per row;
errors that change the timetable still refuse the feed (issue 12)."""

from __future__ import annotations

import io
import zipfile

import pytest

from feeds.compile import compile_feed
from feeds.reader import read_archive
from tests.conftest import bearer

STOPS = ("stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
         "JNX,Jinan West,36.6700,116.8900,1,\n"
         "P1,Platform 1,36.6701,116.8901,0,JNX\n"
         "C,Central,36.6500,117.0000,0,GONE\n"            # a station cut out of a national feed
         "H,Harbour,36.6600,117.0100,0,ALSO_GONE\n")
TIMES = ("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
         "T0,08:00:00,08:00:00,C,1\nT0,08:20:00,08:20:00,H,2\nT0,08:40:00,08:40:00,P1,3\n")


def feed(stops: str = STOPS, times: str = TIMES) -> bytes:
    files = {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\nA,Town,http://t.example.cn,Asia/Shanghai\n",
        "stops.txt": stops,
        "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\nR,A,1,Line 1,3\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,"
                        "end_date\nD,1,1,1,1,1,1,1,20261120,20261231\n",
        "trips.txt": "route_id,service_id,trip_id\nR,D,T0\n",
        "stop_times.txt": times,
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


async def publish(client, key: str, body: bytes, name: str):  # type: ignore[no-untyped-def]
    r = await client.post(f"/v1/feeds?feed={name}", data=body,
                          headers={**bearer(key), "Content-Type": "application/zip"})
    return r.status, await r.json()


async def test_a_parent_station_missing_from_the_file_is_dropped_with_a_warning_per_row(
        client, make_key, tmp_path):
    key = await make_key("operator", operator="op-town")
    status, body = await publish(client, key, feed(), "town")
    assert status == 201, body
    repaired = [n for n in body["report"] if n["field"] == "parent_station"]
    assert [(n["code"], n["severity"], n["file"], n["row"]) for n in repaired] == [
        ("foreign_key_violation", "warning", "stops.txt", 4),
        ("foreign_key_violation", "warning", "stops.txt", 5)]
    assert all("dropped" in n["message"] for n in repaired)
    assert not [n for n in body["report"] if n["severity"] == "error"]
    # what is ridden is unchanged; only the broken grouping is gone
    path = tmp_path / "town.zip"
    path.write_bytes(feed())
    net = compile_feed(read_archive(path), feed="town", version="v1")
    ids = [str(s) for s in net.stop_id]
    parent = {ids[i]: (ids[p] if p >= 0 else None) for i, p in enumerate(net.stop_parent)}
    assert parent["town:C"] is None and parent["town:H"] is None
    assert parent["town:P1"] == "town:JNX"
    assert net.n_trips == 1


@pytest.mark.parametrize("times, code", [
    (TIMES.replace("T0,08:20:00,08:20:00,H,2", "T0,08:20:00,08:20:00,NOWHERE,2"), "foreign_key_violation"),
    (TIMES.replace("T0,08:20:00,08:20:00,H,2", "T0,07:20:00,07:20:00,H,2"),
     "stop_time_with_arrival_before_previous_departure_time"),
], ids=["unknown-stop-in-stop_times", "times-going-backwards"])
async def test_errors_that_change_the_timetable_still_refuse_the_feed(client, make_key, times, code):
    key = await make_key("operator", operator="op-town")
    status, body = await publish(client, key, feed(times=times), "town")
    assert (status, body["code"]) == (422, "feed_has_errors"), body
    assert code in {n["code"] for n in body["report"] if n["severity"] == "error"}
