"""A small two-operator network (Jinan city bus + Jinan-Qingdao high-speed rail) for tests,
benchmarks and demos of bookings, built from inline GTFS through `feeds.compile`.

    bus:JNBUS  route bus:K5   B1 Quancheng Sq -> B2 -> B3 -> B4 -> B5 Jinan West Station
               trips bus:K5-HHMM every 20 min 06:00-21:40, 8 min per hop
    rail:CR    route rail:G   R1 Jinan West -> R2 Zibo -> R3 Weifang -> R4 Qingdao
               trips rail:G-HHMM every 30 min 07:00-20:30, 30 min per hop
               GTFS fare rail:F-JN-QD 118.50 CNY for zone JN -> zone QD on route G;
               other rail pairs and every bus ride are priced by tariff.

`leg_key` and `itinerary_id` make a bookable itinerary id without the planner.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from feeds.compile import compile_feed
from routing.itinerary import ItineraryKey, LegKey, encode_id
from routing.network import Network, merge

__all__ = ["sample_network", "leg_key", "itinerary_id", "FIRST_DAY", "LAST_DAY"]

FIRST_DAY, LAST_DAY = date(2026, 1, 1), date(2027, 12, 31)
_TZ = "Asia/Shanghai"
_CAL = ("service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
        f"D,1,1,1,1,1,1,1,{FIRST_DAY:%Y%m%d},{LAST_DAY:%Y%m%d}\n")


def _hms(s: int) -> str:
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def _feed(feed: str, agency: str, name: str, route: str, route_type: int,
          stops: list[tuple[str, str, float, float, str]], starts: range, hop_s: int,
          fares: str = "", fare_rules: str = "") -> Network:
    stop_rows = "".join(f"{i},{n},{lat},{lon},{z}\n" for i, n, lat, lon, z in stops)
    trips, times = [], []
    for start in starts:
        trip = f"{route}-{_hms(start)[:5].replace(':', '')}"
        trips.append(f"{route},D,{trip}\n")
        for k, (sid, *_rest) in enumerate(stops):
            t = _hms(start + k * hop_s)
            times.append(f"{trip},{t},{t},{sid},{k + 1}\n")
    files = {
        "agency.txt": f"agency_id,agency_name,agency_url,agency_timezone\n"
                      f"{agency},{name},http://example.cn,{_TZ}\n",
        "stops.txt": "stop_id,stop_name,stop_lat,stop_lon,zone_id\n" + stop_rows,
        "routes.txt": f"route_id,agency_id,route_short_name,route_type\n"
                      f"{route},{agency},{route},{route_type}\n",
        "calendar.txt": _CAL,
        "trips.txt": "route_id,service_id,trip_id\n" + "".join(trips),
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                          + "".join(times),
    }
    if fares:
        files["fare_attributes.txt"] = ("fare_id,price,currency_type,payment_method,transfers,"
                                        "agency_id\n" + fares)
        files["fare_rules.txt"] = "fare_id,route_id,origin_id,destination_id\n" + fare_rules
    return compile_feed({k: v.encode() for k, v in files.items()}, feed=feed, version=f"{feed}-v1")


def sample_network() -> Network:
    bus = _feed("bus", "JNBUS", "Jinan Public Transport", "K5", 3, [
        ("B1", "Quancheng Square", 36.6612, 117.0207, ""),
        ("B2", "Baotu Spring", 36.6617, 117.0123, ""),
        ("B3", "Jingshi Road", 36.6640, 116.9800, ""),
        ("B4", "Weishan Road", 36.6670, 116.9400, ""),
        ("B5", "Jinan West Station", 36.6697, 116.8904, ""),
    ], range(6 * 3600, 22 * 3600, 20 * 60), 8 * 60)
    rail = _feed("rail", "CR", "China Railway Jinan", "G", 2, [
        ("R1", "Jinan West", 36.6694, 116.8891, "JN"),
        ("R2", "Zibo", 36.7925, 118.0440, "ZB"),
        ("R3", "Weifang", 36.7069, 119.1619, "WF"),
        ("R4", "Qingdao", 36.0649, 120.3119, "QD"),
    ], range(7 * 3600, 21 * 3600, 30 * 60), 30 * 60,
        fares="F-JN-QD,118.50,CNY,0,0,CR\n", fare_rules="F-JN-QD,G,JN,QD\n")
    return merge([bus, rail])


def leg_key(net: Network, trip_id: str, day: date, board_pos: int, alight_pos: int) -> LegKey:
    """The LegKey of riding `trip_id` on `day` between two stop positions."""
    t = int(list(net.trip_id).index(trip_id))
    start = int(net.trip_st_start[t])
    tz = ZoneInfo(net.timezones[int(net.agency_tz[int(net.route_agency[int(net.trip_route[t])])])])
    ref = datetime(day.year, day.month, day.day, 12, tzinfo=tz) - timedelta(hours=12)
    dep = ref + timedelta(seconds=int(net.st_dep[start + board_pos]))
    arr = ref + timedelta(seconds=int(net.st_arr[start + alight_pos]))
    return LegKey(trip_id, day, board_pos, alight_pos,
                  str(net.stop_id[int(net.st_stop[start + board_pos])]),
                  str(net.stop_id[int(net.st_stop[start + alight_pos])]),
                  dep.astimezone(ZoneInfo("UTC")), arr.astimezone(ZoneInfo("UTC")))


def itinerary_id(net: Network, legs: list[LegKey]) -> str:
    """An itinerary id over `legs`, planned on the network's feed versions."""
    return encode_id(ItineraryKey(tuple(zip(net.feeds, net.feed_versions)), tuple(legs)))
