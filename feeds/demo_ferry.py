"""Demo ferry feed (渤海轮渡): Yantai–Dalian across the Bohai strait, Penglai–Changdao.

Yantai–Dalian (烟台—大连) takes about 6.5 h, three sailings a day each way, the last one
overnight (arriving after midnight, times past 24:00:00 as GTFS writes them); Penglai–Changdao
(蓬莱—长岛) takes about 1 h, several sailings a day. Ports are at their real coordinates;
fares per route and direction in fare_attributes.txt (seat class, CNY).
"""

from __future__ import annotations

from feeds.demo_gtfs import Feed
from feeds.demo_intercity import FARE_RULES, FARES, ROUTES, STOPS, TRIPS, _agency, _stop_times

FERRY_TRIPS = [*TRIPS, "bikes_allowed"]   # GTFS asks ferries to say whether bikes go aboard

AGENCY = "bohai-ferry"
# key: (Chinese name, English name, lat, lon)
PORTS = {
    "YTP": ("烟台港客运站", "Yantai Port Passenger Terminal", 37.547000, 121.389000),
    "DLP": ("大连港客运站", "Dalian Port Passenger Terminal", 38.929700, 121.657900),
    "PLP": ("蓬莱港客运站", "Penglai Port Passenger Terminal", 37.819700, 120.747100),
    "CDP": ("长岛港客运站", "Changdao Port Passenger Terminal", 37.925300, 120.737800),
}
# route id, Chinese name, (port a, port b), crossing seconds, departures (s after midnight,
# the same from either end), fare CNY
ROUTES_FERRY = [
    ("YD", "烟台—大连", ("YTP", "DLP"), 6 * 3600 + 30 * 60,
     [9 * 3600, 13 * 3600 + 30 * 60, 21 * 3600 + 30 * 60], "200.00"),
    ("PC", "蓬莱—长岛", ("PLP", "CDP"), 60 * 60,
     [7 * 3600 + k * 90 * 60 for k in range(8)], "40.00"),
]


def ferry_feed(feed: Feed, seed: int) -> Feed:
    """The ferry operator's feed (deterministic; `seed` is unused: the timetable is fixed)."""
    _agency(feed, AGENCY, "渤海轮渡", "http://www.bohai-ferry.example.cn", "0535-6506666")
    feed.calendar("DAILY", "1234567")
    for key, (zh, en, lat, lon) in PORTS.items():
        feed.add("stops.txt", STOPS, [(key, zh, f"{lat:.6f}", f"{lon:.6f}", key, 0, "", "", "", 1)])
        feed.translate_stop(key, zh, en)
    for route, zh, (a, b), crossing, departures, price in ROUTES_FERRY:
        feed.add("routes.txt", ROUTES, [(route, AGENCY, "", zh, 4, "0077BE")])
        for o, d in ((a, b), (b, a)):
            feed.add("fare_attributes.txt", FARES, [(f"{route}-{o}-{d}", price, "CNY", 1, 0,
                                                     AGENCY)])
            feed.add("fare_rules.txt", FARE_RULES, [(f"{route}-{o}-{d}", route, o, d)])
        for direction, (o, d) in enumerate(((a, b), (b, a))):
            for k, t in enumerate(departures):
                trip = f"{route}-{direction}-{k + 1:02d}"
                feed.add("trips.txt", FERRY_TRIPS, [(route, "DAILY", trip, PORTS[d][0], "",
                                                     direction, 1, 1)])
                _stop_times(feed, trip, [(o, t, t), (d, t + crossing, t + crossing)])
    return feed
