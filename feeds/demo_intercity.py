"""Demo feeds between cities: high-speed rail, intercity coach, air (incl. Seoul)."""

from __future__ import annotations

import itertools

import numpy as np

from feeds.demo_gtfs import Feed, distance_m, hhmmss
from feeds.demo_places import AIRPORTS, COACH_ROUTES, COACH_STATIONS, FLIGHTS, RAIL_LINES, \
    RAIL_STATIONS

STOPS = ["stop_id", "stop_name", "stop_lat", "stop_lon", "zone_id", "location_type",
         "parent_station", "platform_code", "stop_timezone", "wheelchair_boarding"]
TRIPS = ["route_id", "service_id", "trip_id", "trip_headsign", "trip_short_name", "direction_id",
         "wheelchair_accessible"]
ROUTES = ["route_id", "agency_id", "route_short_name", "route_long_name", "route_type",
          "route_color"]
STOP_TIMES = ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence",
              "pickup_type", "drop_off_type"]
FARES = ["fare_id", "price", "currency_type", "payment_method", "transfers", "agency_id"]
FARE_RULES = ["fare_id", "route_id", "origin_id", "destination_id"]


def _agency(feed: Feed, agency_id: str, zh: str, url: str, phone: str) -> None:
    feed.add("agency.txt", ["agency_id", "agency_name", "agency_url", "agency_timezone",
                            "agency_lang", "agency_phone"],
             [(agency_id, zh, url, "Asia/Shanghai", "zh", phone)])
    feed.feed_info(zh, url)


def _pair_fares(feed: Feed, agency: str, route: str, zones: list[tuple[str, float, float]],
                yuan_per_km: float, base: float = 0.0) -> None:
    for (a, alat, alon), (b, blat, blon) in itertools.permutations(zones, 2):
        km = distance_m(alat, alon, blat, blon) / 1000
        fare = f"{route}-{a}-{b}"
        feed.add("fare_attributes.txt", FARES,
                 [(fare, f"{round(base + km * yuan_per_km, 1):.2f}", "CNY", 1, 0, agency)])
        feed.add("fare_rules.txt", FARE_RULES, [(fare, route, a, b)])


def _stop_times(feed: Feed, trip: str, stops: list[tuple[str, int, int]]) -> None:
    last = len(stops) - 1
    feed.add("stop_times.txt", STOP_TIMES,
             [(trip, hhmmss(a), hhmmss(d), s, i + 1, 1 if i == last else 0, 1 if i == 0 else 0)
              for i, (s, a, d) in enumerate(stops)])


NIGHT_LINE = "jiqing"                        # Jinan–Qingdao runs through the night
# departures every 30 min 21:00-06:00 (service-day times under 24:00): the next train and the
# one after it (what a rebooking takes when the first is cancelled) both leave within a rail
# gate's 2 h window at any hour
NIGHT_TIMES = tuple(range(21 * 3600, 24 * 3600, 1800)) + tuple(range(0, 6 * 3600 + 1, 1800))


def _train(feed: Feed, line: str, stations: tuple[str, ...], order: list[int],
           stops_at: list[int], t: int, kmh: float, number: str, direction: int) -> None:
    """One train of `line` leaving its first station at `t`, calling at `stops_at`."""
    if stops_at[0] != order[0]:
        stops_at.insert(0, order[0])
    if stops_at[-1] != order[-1]:
        stops_at.append(order[-1])
    rows, prev = [], None
    for i in stops_at:
        p = RAIL_STATIONS[stations[i]]
        if prev is not None:
            t += int(distance_m(prev.lat, prev.lon, p.lat, p.lon) * 1.1 / (kmh / 3.6)) + 180
            t = (t + 59) // 60 * 60
        dwell = 0 if i in (order[0], order[-1]) else 120
        rows.append((f"{stations[i]}-{line}", t, t + dwell))
        t += dwell
        prev = p
    head = RAIL_STATIONS[stations[order[-1]]].zh
    feed.add("trips.txt", TRIPS, [(line, "DAILY", number, head, number, direction, 1)])
    _stop_times(feed, number, rows)


def rail_feed(feed: Feed, seed: int) -> Feed:
    rng = np.random.default_rng([seed, 2])
    _agency(feed, "cr-jinan", "中国铁路济南局集团", "https://www.12306.cn", "12306")
    feed.calendar("DAILY", "1234567")
    made: set[str] = set()
    for n, (line, zh, en, stations, trains, kmh, always) in enumerate(RAIL_LINES):
        for key in stations:
            p = RAIL_STATIONS[key]
            if key not in made:
                made.add(key)
                feed.add("stops.txt", STOPS, [(key, p.zh, f"{p.lat:.6f}", f"{p.lon:.6f}", "", 1,
                                               "", "", "", 1)])
                feed.translate_stop(key, p.zh, p.en)
            feed.add("stops.txt", STOPS, [(f"{key}-{line}", p.zh, f"{p.lat:.6f}", f"{p.lon:.6f}",
                                           key, 0, key, str(n + 1), "", 1)])
            feed.translate_stop(f"{key}-{line}", p.zh, f"{p.en}, platform {n + 1}")
        route_type = 101 if line != "qingrong" else 2
        feed.add("routes.txt", ROUTES, [(line, "cr-jinan", "", zh, route_type, "E60012")])
        _pair_fares(feed, "cr-jinan", line,
                    [(k, RAIL_STATIONS[k].lat, RAIL_STATIONS[k].lon) for k in stations], 0.46)
        prefix = "D" if line == "qingrong" else "G"
        first_dep, last_dep = 6 * 3600 + 1800, 20 * 3600
        for direction in (0, 1):
            order = list(range(len(stations)))[:: 1 if direction == 0 else -1]
            for k in range(trains):
                t = first_dep + k * (last_dep - first_dep) // max(trains - 1, 1)
                t += int(rng.integers(-4, 5)) * 60
                pattern = k % 3
                stops_at = [i for i in order if i in always or pattern == 0 or i % 2 == pattern % 2]
                number = f"{prefix}{(n + 1) * 100 + 2 * k + direction + 1}"
                _train(feed, line, stations, order, stops_at, t, kmh, number, direction)
            if line == NIGHT_LINE:
                # night trains (动卧) every 30 min from 21:00 to 06:00, fast stops only, so
                # two trains leave within a rail gate's window (2 h) at any hour: the README
                # walkthrough boards "the next train" whenever it runs, and its rebooking
                # onto the one after
                for j, t0 in enumerate(NIGHT_TIMES):
                    stops_at = [i for i in order if i in always]
                    number = f"D{(n + 1) * 100 + 50 + 2 * j + direction + 1}"
                    _train(feed, line, stations, order, stops_at, t0, kmh, number, direction)
    return feed


def coach_feed(feed: Feed, seed: int) -> Feed:
    rng = np.random.default_rng([seed, 3])
    _agency(feed, "sd-coach", "山东交运集团", "http://www.sdjy.example.cn", "96516")
    feed.calendar("DAILY", "1234567")
    for key in sorted({k for route in COACH_ROUTES for k in route[0]}):
        p = COACH_STATIONS[key]
        feed.add("stops.txt", STOPS, [(key, p.zh, f"{p.lat:.6f}", f"{p.lon:.6f}", key, 0, "", "",
                                       "", 1)])
        feed.translate_stop(key, p.zh, p.en)
    for n, (stations, per_day, route_type) in enumerate(COACH_ROUTES):
        route = f"C{n + 1:02d}"
        names = "—".join(COACH_STATIONS[k].zh.replace("长途汽车", "").removesuffix("总站")
                         .removesuffix("站").removesuffix("汽车") for k in stations)
        long_name = names + (" 城际快客" if route_type == 3 else "")
        feed.add("routes.txt", ROUTES, [(route, "sd-coach", "", long_name, route_type, "008000")])
        _pair_fares(feed, "sd-coach", route, [(k, COACH_STATIONS[k].lat, COACH_STATIONS[k].lon)
                                              for k in stations], 0.30, 5.0)
        for direction in (0, 1):
            seq = list(stations)[:: 1 if direction == 0 else -1]
            for k in range(per_day):
                t = 6 * 3600 + 1800 + k * (12 * 3600) // max(per_day - 1, 1)
                t = (t + int(rng.integers(0, 3)) * 600) // 600 * 600
                rows, prev = [], None
                for i, key in enumerate(seq):
                    p = COACH_STATIONS[key]
                    if prev is not None:
                        t += int(distance_m(prev.lat, prev.lon, p.lat, p.lon) * 1.25 / (75 / 3.6))
                        t = (t + 299) // 300 * 300
                    dwell = 600 if 0 < i < len(seq) - 1 else 0
                    rows.append((key, t, t + dwell))
                    t += dwell
                    prev = p
                trip = f"{route}-{direction}-{k + 1:02d}"
                feed.add("trips.txt", TRIPS, [(route, "DAILY", trip, COACH_STATIONS[seq[-1]].zh,
                                               "", direction, 1)])
                _stop_times(feed, trip, rows)
    return feed


def air_feed(feed: Feed, seed: int) -> Feed:
    _agency(feed, "SC", "山东航空", "https://www.sda.cn", "95369")
    used = sorted({a for f in FLIGHTS for a in f[:2]})
    for key in used:
        p = AIRPORTS[key]
        feed.add("stops.txt", STOPS, [(key, p.zh, f"{p.lat:.6f}", f"{p.lon:.6f}", key, 0, "", "",
                                       p.tz, 1)])
        feed.translate_stop(key, p.zh, p.en)
    routes: set[str] = set()
    services: set[str] = set()
    for origin, dest, number, local, days in FLIGHTS:
        a, b = AIRPORTS[origin], AIRPORTS[dest]
        route = "-".join(sorted((origin, dest)))
        if route not in routes:
            routes.add(route)
            x, y = (AIRPORTS[k] for k in route.split("-"))
            feed.add("routes.txt", ROUTES, [(route, "SC", "", f"{x.zh}—{y.zh}", 1100, "0050A0")])
            km = distance_m(a.lat, a.lon, b.lat, b.lon) / 1000
            for o, d in ((origin, dest), (dest, origin)):
                feed.add("fare_attributes.txt", FARES, [(f"{o}-{d}", f"{round(300 + km * 0.7, -1):.2f}",
                                                         "CNY", 1, 0, "SC")])
                feed.add("fare_rules.txt", FARE_RULES, [(f"{o}-{d}", route, o, d)])
        service = f"D{days}"
        if service not in services:
            services.add(service)
            feed.calendar(service, days)
        hh, mm = map(int, local.split(":"))
        dep = hh * 3600 + mm * 60 - (3600 if a.tz == "Asia/Seoul" else 0)  # to feed time (UTC+8)
        block = distance_m(a.lat, a.lon, b.lat, b.lon) / (800 / 3.6) + 35 * 60
        arr = dep + int(-(-block // 300) * 300)
        direction = 0 if route.startswith(origin) else 1
        feed.add("trips.txt", TRIPS, [(route, service, number, b.zh, number, direction, 1)])
        _stop_times(feed, number, [(origin, dep, dep), (dest, arr, arr)])
    return feed
