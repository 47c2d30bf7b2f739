"""A small Jinan network that runs around the clock, as GTFS zips, for the browser tests.

    jnbus  route K5  B1 泉城广场 -> B2 -> B3 -> B4 -> B5 济南西站公交枢纽   every 10 min, 8 min a hop
    crh    route G   R1 济南西 -> R2 淄博 -> R3 潍坊 -> R4 青岛              every 20 min, 30 min a hop

Trips start from 00:00 to 27:50 (GTFS times past midnight), every day from two days ago to
two months ahead, so a plan made "now" always finds a departure within minutes and its
first leg's gate admits at once (whatever the hour the tests run).
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, timedelta

TZ = "Asia/Shanghai"


def _hms(s: int) -> str:
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def _zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


def _feed(agency: str, name: str, route: str, long_name: str, route_type: int,
          stops: list[tuple[str, str, str, float, float]], every_s: int, hop_s: int,
          today: date) -> bytes:
    first, last = today - timedelta(days=2), today + timedelta(days=60)
    trips, times = [], []
    for start in range(0, 28 * 3600, every_s):
        trip = f"{route}-{_hms(start)[:5].replace(':', '')}"
        trips.append(f"{route},D,{trip},{stops[-1][1]}\n")
        for k, (sid, *_rest) in enumerate(stops):
            t = _hms(start + k * hop_s)
            times.append(f"{trip},{t},{t},{sid},{k + 1}\n")
    return _zip({
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone,agency_lang\n"
                      f"{agency},{name},https://example.cn,{TZ},zh\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon\n"
                     + "".join(f"{i},{zh},{lat},{lon}\n" for i, zh, _, lat, lon in stops),
        "feed_info.txt": "feed_publisher_name,feed_publisher_url,feed_lang\n"
                         f"{name},https://example.cn,zh\n",
        "translations.txt": "table_name,field_name,language,translation,record_id\n"
                            + "".join(f"stops,stop_name,en,{en},{i}\n" for i, _, en, _, _ in stops),
        "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\n"
                      f"{route},{agency},{route},{long_name},{route_type}\n",
        "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                        f"start_date,end_date\nD,1,1,1,1,1,1,1,{first:%Y%m%d},{last:%Y%m%d}\n",
        "trips.txt": "route_id,service_id,trip_id,trip_headsign\n" + "".join(trips),
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                          + "".join(times),
    })


def bus_zip(today: date) -> bytes:
    return _feed("JNBUS", "济南公交", "K5", "泉城广场—济南西站", 3, [
        ("B1", "泉城广场", "Quancheng Square", 36.6612, 117.0207),
        ("B2", "趵突泉", "Baotu Spring", 36.6617, 117.0123),
        ("B3", "经十路", "Jingshi Road", 36.6640, 116.9800),
        ("B4", "威山路", "Weishan Road", 36.6670, 116.9400),
        ("B5", "济南西站公交枢纽", "Jinan West Station Bus Hub", 36.6697, 116.8904),
    ], 10 * 60, 8 * 60, today)


def rail_zip(today: date) -> bytes:
    return _feed("CR", "中国铁路济南局", "G", "济南西—青岛", 2, [
        ("R1", "济南西", "Jinan West", 36.6694, 116.8891),
        ("R2", "淄博", "Zibo", 36.7925, 118.0440),
        ("R3", "潍坊", "Weifang", 36.7069, 119.1619),
        ("R4", "青岛", "Qingdao", 36.0649, 120.3119),
    ], 20 * 60, 30 * 60, today)
