"""Realtime on frequency trips (frequencies.txt): GTFS-Realtime names a run by trip_id and
start_time; the network names it "feed:trip@HH:MM:SS"."""

from __future__ import annotations

from rt_messages import _zip, message, trip_update, utc

from feeds.ingest import import_feed
from maas.appkeys import DB, LIVE
from tests.polling import eventually

OP = "loop-op"


def loop_zip(tmp):
    """Loop bus L every 10 min 08:00-09:00, P -> Q in 15 min."""
    return _zip(tmp, "loop", {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
                      "L,Loop Bus,http://loop.example.cn,Asia/Shanghai\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\nP,Pier,36.60,117.00\nQ,Quay,36.62,117.02\n",
        "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\nLR,L,L,Loop,3\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                        "start_date,end_date\nD,1,1,1,1,1,1,1,20261120,20261231\n",
        "trips.txt": "route_id,service_id,trip_id\nLR,D,F\n",
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                          "F,08:00:00,08:00:00,P,1\nF,08:15:00,08:15:00,Q,2\n",
        "frequencies.txt": "trip_id,start_time,end_time,headway_secs\nF,08:00:00,09:00:00,600\n",
    })


async def test_a_run_of_a_frequency_trip_is_named_by_its_start_time(app, client, make_key, tmp_path):
    result = await import_feed(app[DB], loop_zip(tmp_path), feed="loop", operator_id=OP, activate=True,
                               today=utc("07:30").date())
    assert not result.rejected, result.report
    await app[LIVE].reload()
    key = await make_key("operator", operator=OP)
    body = message(trip_update("e1", "F", start_time="08:10:00", delays=[(1, "P", 300)]),
                   trip_update("e2", "F", delays=[(1, "P", 60)]),                # which run?
                   trip_update("e3", "F", start_time="08:05:00", canceled=True))  # no such run
    r = await client.post("/v1/realtime", params={"feed": "loop"}, data=body,
                          headers={"Authorization": f"Bearer {key}",
                                   "Content-Type": "application/x-protobuf"})
    got = await r.json()
    assert r.status == 200, got
    assert got["applied"] == 1 and got["reasons"] == {"unknown_run": 2}
    rows = await app[DB].fetch("SELECT trip_id FROM realtime_trip_updates")
    assert [r["trip_id"] for r in rows] == ["loop:F@08:10:00"]

    # the 08:10 run now leaves at 08:15: a plan at 08:11 boards it, before the 08:20 run
    await eventually(lambda: app[LIVE].current.realtime.revisions.get("loop", 0) >= 1)
    r = await client.get("/v1/plan", params={"from": "loop:P", "to": "loop:Q",
                                             "date": "2026-11-23", "time": "08:11"})
    plan = await r.json()
    assert r.status == 200, plan
    first = plan["itineraries"][0]["legs"][0]
    assert first["trip_id"] == "loop:F@08:10:00" and first["delay_s"] == 300 and first["realtime"] is True
