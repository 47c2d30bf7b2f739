"""Board times set by a feed's operator at publish (POST /v1/feeds?board_times=): a commuter
railway published as basic route_type 2 gets the 15 min rail gate time by default and loses
its trains; published with board_times=2:120 it keeps them."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from feeds.compile import compile_feed
from feeds.ingest import parse_board_times, version_id
from tests.conftest import bearer
from tests.feeds.test_http import publish, wait_live


def commuter_zip() -> bytes:
    files = {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
                      "cr,Commuter Rail,https://example.org,Asia/Shanghai\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"
                     "A,Alpha,36.60,117.00\nB,Beta,36.70,117.10\n",
        "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\n"
                      "S1,cr,S1,Suburban line 1,2\n",
        "trips.txt": "route_id,service_id,trip_id\nS1,all,t0805\nS1,all,t0835\n",
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                          "t0805,08:05:00,08:05:00,A,1\nt0805,08:30:00,08:30:00,B,2\n"
                          "t0835,08:35:00,08:35:00,A,1\nt0835,09:00:00,09:00:00,B,2\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                        "start_date,end_date\nall,1,1,1,1,1,1,1,20260101,20271231\n",
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


def test_parse_board_times():
    assert parse_board_times("2:120, 101:900") == {2: 120, 101: 900}
    for bad in ("2", "2:abc", "2:120,2:60", "1800:60", "2:99999", ""):
        with pytest.raises(ValueError):
            parse_board_times(bad)


def test_compiled_routes_carry_the_operators_board_times():
    with zipfile.ZipFile(io.BytesIO(commuter_zip())) as z:
        files = {n: z.read(n) for n in z.namelist()}
    assert compile_feed(files, feed="cr", version="v").route_board_s.tolist() == [-1]
    assert compile_feed(files, feed="cr", version="v", board_times={2: 120}).route_board_s.tolist() == [120]
    # an extended type matches its family; another type is left to the defaults
    assert compile_feed(files, feed="cr", version="v", board_times={3: 0}).route_board_s.tolist() == [-1]
    assert version_id("cr", "ab" * 32) != version_id("cr", "ab" * 32, {2: 120}) \
        != version_id("cr", "ab" * 32, {2: 60})
    assert version_id("cr", "ab" * 32, {}) == version_id("cr", "ab" * 32)


async def _first_train(client, day: str) -> str | None:
    r = await client.get("/v1/plan", params={"from": "cr:A", "to": "cr:B", "date": day,
                                             "time": "08:00", "modes": "rail"})
    assert r.status == 200, await r.text()
    its = (await r.json())["itineraries"]
    return its[0]["legs"][0]["trip_id"] if its else None


async def test_commuter_rail_keeps_its_trains_with_two_minutes(client, make_key, app):
    key = await make_key("operator", operator="cr-op")
    zipped = commuter_zip()
    plain = await publish(client, key, zipped, feed="cr")
    assert plain.status == 201, await plain.text()
    v1 = (await plain.json())["version"]
    assert (await client.post(f"/v1/feeds/{v1}/activate", headers=bearer(key))).status == 200
    await wait_live(app, {"cr": v1})
    day = "2026-12-09"
    assert await _first_train(client, day) == "cr:t0835"      # the 08:05 needs 15 min of gates
    own = await publish(client, key, zipped, feed="cr", board_times="2:120")
    assert own.status == 201, await own.text()
    body = await own.json()
    v2 = body["version"]
    assert v2 != v1 and body["stats"]["board_times"] == {"2": 120}
    assert (await client.post(f"/v1/feeds/{v2}/activate", headers=bearer(key))).status == 200
    await wait_live(app, {"cr": v2})
    assert await _first_train(client, day) == "cr:t0805"      # at the platform 2 min before
    detail = await (await client.get(f"/v1/feeds/{v2}", headers=bearer(key))).json()
    assert detail["stats"]["board_times"] == {"2": 120}


@pytest.mark.parametrize("value", ["2", "2:-1", "x:60", "2:120,2:60", "2:20000"])
async def test_bad_board_times_are_invalid_parameter(client, make_key, value):
    key = await make_key("operator", operator="cr-op")
    r = await publish(client, key, commuter_zip(), feed="cr", board_times=value)
    assert r.status == 400, await r.text()
    body = await r.json()
    assert body["code"] == "invalid_parameter" and "board_times" in body["detail"]
