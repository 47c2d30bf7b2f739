"""shapes.txt compiled into the network (CSR per shape, trip -> shape), merged, stored, and
shown by GET /v1/trips as the trip's line."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np

from feeds.compile import compile_feed
from maas.appkeys import LIVE
from routing.network import from_bytes, merge, to_bytes
from routing.planner import Planner
from routing.trips import trip

FILES = {
    "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\nA,Op,http://x,Asia/Shanghai\n",
    "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\nS1,One,36.60,117.00\nS2,Two,36.70,117.10\n",
    "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\nR,A,K1,,3\n",
    "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
                    "D,1,1,1,1,1,1,1,20261123,20261129\n",
    "trips.txt": "route_id,service_id,trip_id,shape_id,trip_short_name\nR,D,T1,SH,K1-01\nR,D,T2,,\n",
    "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                      "T1,08:00:00,08:00:00,S1,1\nT1,08:20:00,08:20:00,S2,2\n"
                      "T2,09:00:00,09:00:00,S1,1\nT2,09:20:00,09:20:00,S2,2\n",
    # out of order on purpose, and one unparsable row
    "shapes.txt": "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence\n"
                  "SH,36.70,117.10,3\nSH,36.60,117.00,1\nSH,36.65,117.02,2\nSH,x,117,4\n",
}


def _net(feed: str = "f"):
    return compile_feed({k: v.encode() for k, v in FILES.items()}, feed=feed, version="1")


def test_shapes_compile_in_sequence_order():
    net = _net()
    t1 = list(net.trip_id).index("f:T1")
    h = int(net.trip_shape[t1])
    a, b = net.shape_start[h], net.shape_start[h + 1]
    assert list(net.shape_lat[a:b]) == [36.60, 36.65, 36.70]
    assert net.trip_shape[list(net.trip_id).index("f:T2")] == -1
    assert net.trip_short_name[t1] == "K1-01"


def test_shapes_survive_merge_and_storage():
    one, two = _net("f"), _net("g")
    old = dataclasses.replace(_net("h"), shape_start=np.zeros(0, np.int64),
                              shape_lat=np.zeros(0), shape_lon=np.zeros(0),
                              trip_shape=np.zeros(0, np.int32))    # stored before shapes
    net = from_bytes(to_bytes(merge([one, old, two])))
    pl = Planner.build(net)
    d = date(2026, 11, 24)
    for feed in ("f", "g"):
        v = trip(pl, f"{feed}:T1", d)
        assert v.line_source == "shape" and v.line[1] == (117.02, 36.65)
    v = trip(pl, "h:T1", d)
    assert v.line_source == "stops" and v.line == ((117.0, 36.6), (117.1, 36.7))
    assert trip(pl, "g:T2", d).line_source == "stops"


async def test_trip_endpoint_shows_the_shape(client, app):
    pl = Planner.build(_net())
    holder = app[LIVE]
    holder.current = dataclasses.replace(holder.current, planner=pl, network=pl.network, loaded=True)
    r = await client.get("/v1/trips/f:T1", params={"date": "2026-11-24"})
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["trip_short_name"] == "K1-01"
    assert body["shape"]["properties"]["source"] == "shape"
    assert len(body["shape"]["geometry"]["coordinates"]) == 3
