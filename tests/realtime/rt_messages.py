"""Small generated feeds and GTFS-RT messages built with gtfs-realtime-bindings (tests only).

Town bus (Asia/Shanghai), every day 2026-11-20 .. 2026-12-31, and W only at weekends:

    trip  A      B      C      D
    T1    08:00  08:10  08:20  08:30
    T2    08:15  08:25  08:35  08:45
    W     08:00  08:10  08:20  08:30   (Saturdays and Sundays)

City bus: one trip X1 (S -> U), to be named by a town message (another feed's trip).
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from google.transit import gtfs_realtime_pb2 as rt

TZ = ZoneInfo("Asia/Shanghai")
DAY = "20261123"          # a Monday


def at(hhmm: str, day: str = DAY) -> int:
    """POSIX seconds of a local time in town on `day`."""
    d = datetime.strptime(day + hhmm, "%Y%m%d%H:%M").replace(tzinfo=TZ)
    return int(d.timestamp())


def utc(hhmm: str, day: str = DAY) -> datetime:
    return datetime.fromtimestamp(at(hhmm, day), timezone.utc)


def _zip(tmp: Path, name: str, files: dict[str, str]) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for member, text in files.items():
            z.writestr(member, text)
    path = tmp / f"{name}.zip"
    path.write_bytes(buf.getvalue())
    return path


def town_zip(tmp: Path) -> Path:
    times = []
    for trip, start in (("T1", 8 * 60), ("T2", 8 * 60 + 15), ("W", 8 * 60)):
        for k, stop in enumerate("ABCD"):
            m = start + 10 * k
            hh = f"{m // 60:02d}:{m % 60:02d}:00"
            times.append(f"{trip},{hh},{hh},{stop},{k + 1}\n")
    return _zip(tmp, "town", {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
                      "A,Town Bus,http://town.example.cn,Asia/Shanghai\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"
                     "A,Alpha,36.6500,117.0000\nB,Bravo,36.6600,117.0200\n"
                     "C,Charlie,36.6700,117.0400\nD,Delta,36.6800,117.0600\n",
        "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\nR,A,1,Line 1,3\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                        "start_date,end_date\nD,1,1,1,1,1,1,1,20261120,20261231\n"
                        "WE,0,0,0,0,0,1,1,20261120,20261231\n",
        "trips.txt": "route_id,service_id,trip_id\nR,D,T1\nR,D,T2\nR,WE,W\n",
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n" + "".join(times),
    })


def city_zip(tmp: Path) -> Path:
    return _zip(tmp, "city", {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
                      "C,City Bus,http://city.example.cn,Asia/Shanghai\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\nS,Square,36.0,120.0\nU,University,36.1,120.1\n",
        "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\nK,C,9,Line 9,3\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                        "start_date,end_date\nD,1,1,1,1,1,1,1,20261120,20261231\n",
        "trips.txt": "route_id,service_id,trip_id\nK,D,X1\n",
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                          "X1,08:00:00,08:00:00,S,1\nX1,08:30:00,08:30:00,U,2\n",
    })


def message(*entities: rt.FeedEntity, full: bool = True, ts: int | None = None) -> bytes:
    msg = rt.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.incrementality = rt.FeedHeader.FULL_DATASET if full else rt.FeedHeader.DIFFERENTIAL
    if ts is not None:
        msg.header.timestamp = ts
    for e in entities:
        msg.entity.add().CopyFrom(e)
    return msg.SerializeToString()


def trip_update(eid: str, trip: str, *, start_date: str | None = DAY, delays=(), canceled=False,
                skipped=(), ts: int | None = None, times=(), start_time: str | None = None
                ) -> rt.FeedEntity:
    """delays: (stop_sequence or None, stop_id or None, delay s); times: (stop_sequence, stop_id,
    POSIX s); skipped: (stop_sequence, stop_id)."""
    e = rt.FeedEntity(id=eid)
    tu = e.trip_update
    tu.trip.trip_id = trip
    if start_date:
        tu.trip.start_date = start_date
    if start_time:
        tu.trip.start_time = start_time
    if canceled:
        tu.trip.schedule_relationship = rt.TripDescriptor.CANCELED
    if ts is not None:
        tu.timestamp = ts
    rows = [(seq, stop, "delay", v) for seq, stop, v in delays] + \
           [(seq, stop, "time", v) for seq, stop, v in times] + \
           [(seq, stop, "skip", None) for seq, stop in skipped]
    for seq, stop, kind, v in sorted(rows, key=lambda r: r[0] or 0):
        stu = tu.stop_time_update.add()
        if seq is not None:
            stu.stop_sequence = seq
        if stop:
            stu.stop_id = stop
        if kind == "skip":
            stu.schedule_relationship = rt.TripUpdate.StopTimeUpdate.SKIPPED
        else:
            setattr(stu.arrival, kind, v)
            setattr(stu.departure, kind, v)
    return e


def alert(eid: str, *, header: dict[str, str], description: dict[str, str] | None = None,
          periods=(), informed=(), effect=rt.Alert.DETOUR, cause=rt.Alert.CONSTRUCTION) -> rt.FeedEntity:
    """informed: dicts with agency_id / route_id / trip_id / stop_id."""
    e = rt.FeedEntity(id=eid)
    a = e.alert
    a.cause, a.effect = cause, effect
    for start, end in periods:
        p = a.active_period.add()
        if start is not None:
            p.start = start
        if end is not None:
            p.end = end
    for sel in informed:
        s = a.informed_entity.add()
        for k, v in sel.items():
            if k == "trip_id":
                s.trip.trip_id = v
            else:
                setattr(s, k, v)
    for lang, text in header.items():
        a.header_text.translation.add(text=text, language=lang)
    for lang, text in (description or {}).items():
        a.description_text.translation.add(text=text, language=lang)
    return e


def deleted(eid: str, trip: str | None = None) -> rt.FeedEntity:
    e = rt.FeedEntity(id=eid, is_deleted=True)
    if trip:
        e.trip_update.trip.trip_id = trip
    return e
