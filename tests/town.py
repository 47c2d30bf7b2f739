"""Town bus, a small valid GTFS feed whose versions differ visibly: version n runs n trips
(T0.. at 08:00, 09:00, ..., 20 min from C to H) and names its central stop "Central n". The
hot-reload tests (tests/test_live.py) and the activation test on a real `maas serve`
(tests/test_activation_workers.py) publish versions 1, 2, 3 of it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tests.realtime.rt_messages import _zip


def town_zip(folder: Path, version: int, first: date, last: date) -> Path:
    """`folder`/town-`version`.zip, running every day from `first` to `last`."""
    trips = "".join(f"R,D,T{k}\n" for k in range(version))
    times = "".join(f"T{k},0{8 + k}:00:00,0{8 + k}:00:00,C,1\nT{k},0{8 + k}:20:00,0{8 + k}:20:00,H,2\n"
                    for k in range(version))
    return _zip(folder, f"town-{version}", {
        "agency.txt": ("agency_id,agency_name,agency_url,agency_timezone\n"
                       "A,Town Bus,http://town.example.cn,Asia/Shanghai\n"),
        "stops.txt": ("stop_id,stop_name,stop_lat,stop_lon\n"
                      f"C,Central {version},36.6500,117.0000\nH,Harbour,36.6600,117.0100\n"),
        "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\nR,A,1,Line 1,3\n",
        "calendar.txt": ("service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                         f"start_date,end_date\nD,1,1,1,1,1,1,1,{first:%Y%m%d},{last:%Y%m%d}\n"),
        "trips.txt": "route_id,service_id,trip_id\n" + trips,
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n" + times,
    })
