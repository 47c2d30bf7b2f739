"""City bus feed of one Shandong city: lines across a street grid, anchored at stations.

Stops sit on a ~450 m grid of named streets ("<east-west road><north-south road>", as Chinese
stops are named); lines crossing the same cell share the stop, which gives transfers. Every
railway station, coach station and airport of the city gets a bus stop 80-150 m from it
(within walking reach) served by several lines, so bus -> HSR -> flight journeys connect.
Airports far outside town get an airport bus (机场巴士) to the centre and the main station.
"""

from __future__ import annotations

import math

import numpy as np

from feeds.demo_gtfs import Feed, road_en, time_table
from feeds.demo_places import AIRPORTS, COACH_STATIONS, RAIL_STATIONS, ROADS_EW, ROADS_NS, City

CELL_M = 450.0
BUS_SPEED_MS = 18 / 3.6          # average including stops
AIRPORT_BUS_SPEED_MS = 40 / 3.6
DWELL_S = 20
STOP_TIMES = ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence",
              "pickup_type", "drop_off_type"]


class _Grid:
    """Local metres <-> WGS84 around the city centre, and the grid stops made so far."""

    def __init__(self, city: City, feed: Feed, seed: int) -> None:
        self.city, self.feed, self.seed = city, feed, seed
        self.m_lat = 111_320.0
        self.m_lon = 111_320.0 * math.cos(math.radians(city.lat))
        self.cells: dict[tuple[int, int], str] = {}
        self.pos: dict[str, tuple[float, float]] = {}   # stop id -> (x, y) metres
        self.name: dict[str, str] = {}                  # stop id -> Chinese name

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.city.lon) * self.m_lon, (lat - self.city.lat) * self.m_lat

    def latlon(self, x: float, y: float) -> tuple[float, float]:
        return self.city.lat + y / self.m_lat, self.city.lon + x / self.m_lon

    def add_stop(self, stop_id: str, zh: str, en: str, x: float, y: float) -> str:
        lat, lon = self.latlon(x, y)
        self.feed.add("stops.txt", ["stop_id", "stop_name", "stop_lat", "stop_lon",
                                    "location_type", "wheelchair_boarding"],
                      [(stop_id, zh, f"{lat:.6f}", f"{lon:.6f}", 0, 1 if len(self.pos) % 3 else 2)])
        self.feed.translate_stop(stop_id, zh, en)
        self.pos[stop_id] = (x, y)
        self.name[stop_id] = zh
        return stop_id

    def cell_stop(self, x: float, y: float) -> str:
        i, j = int(round(y / CELL_M)), int(round(x / CELL_M))
        if (i, j) not in self.cells:
            jit = np.random.default_rng([self.seed, i + 10_000, j + 10_000]).uniform(-90, 90, 2)
            ew, ns = ROADS_EW[self.city.key], ROADS_NS[self.city.key]
            a, b = ew[i % len(ew)], ns[j % len(ns)]
            self.cells[(i, j)] = self.add_stop(
                f"{self.city.key[:2].upper()}{len(self.cells) + 1:05d}", f"{a}{b}",
                f"{road_en(a)} & {road_en(b)}", j * CELL_M + jit[0], i * CELL_M + jit[1])
        return self.cells[(i, j)]


def _anchors(city: City, grid: _Grid, rng: np.random.Generator) -> list[tuple[str, str]]:
    """A bus stop beside each station/airport of the city: [(stop_id, kind)]."""
    out = []
    places = ([(p, "rail") for p in RAIL_STATIONS.values() if p.city == city.key]
              + [(p, "coach") for p in COACH_STATIONS.values() if p.city == city.key]
              + [(p, "air") for p in AIRPORTS.values() if p.city == city.key])
    for k, (p, kind) in enumerate(places):
        x, y = grid.xy(p.lat, p.lon)
        ang, d = rng.uniform(0, 2 * math.pi), rng.uniform(80, 150)
        stop = grid.add_stop(f"{city.key[:2].upper()}H{k + 1:02d}", p.zh,
                             p.en.replace(" International", ""), x + d * math.cos(ang),
                             y + d * math.sin(ang))
        out.append((stop, kind))
    return out


def _path_stops(grid: _Grid, pts: list[tuple[float, float]], spacing: float,
                first: str | None, last: str | None) -> list[str]:
    seg = [math.dist(a, b) for a, b in zip(pts, pts[1:])]
    total = sum(seg)
    n = max(2, int(round(total / spacing)) + 1)
    stops: list[str] = []
    for m, d in enumerate(np.linspace(0, total, n)):
        if (m == 0 and first) or (m == n - 1 and last):
            stops.append(first if m == 0 else last)  # type: ignore[arg-type]
            continue
        k, rest = 0, d
        while k < len(seg) - 1 and rest > seg[k]:
            rest -= seg[k]
            k += 1
        f = rest / seg[k] if seg[k] else 0.0
        x = pts[k][0] + f * (pts[k + 1][0] - pts[k][0])
        y = pts[k][1] + f * (pts[k + 1][1] - pts[k][1])
        stops.append(grid.cell_stop(x, y))
    seen: set[str] = set()
    return [s for s in stops if not (s in seen or seen.add(s))]


def _departures(rng: np.random.Generator, start: int, end: int, peak: float, off: float) -> list[int]:
    t, out = start + int(rng.integers(0, 300)), []
    while t <= end:
        out.append(t)
        hour = (t // 3600) % 24
        t += int((peak if hour in (7, 8, 17, 18) else off) * 60)
    return out


def _trips(feed: Feed, grid: _Grid, route_id: str, stops: list[str], speed: float,
           headsign: tuple[str, str], deps: dict[str, list[int]]) -> None:
    trips = feed.add("trips.txt", ["route_id", "service_id", "trip_id", "trip_headsign",
                                   "direction_id", "wheelchair_accessible"])
    times = time_table()
    for direction, seq in enumerate((stops, stops[::-1])):
        hops = [math.dist(grid.pos[a], grid.pos[b]) for a, b in zip(seq, seq[1:])]
        offs = np.concatenate([[0], np.cumsum([h / speed + DWELL_S for h in hops])]).astype(int)
        last = len(seq) - 1
        # ",stop_id,stop_sequence,pickup_type,drop_off_type\n" of each stop of the pattern
        tails = [f",{s},{i + 1},{1 if i == last else 0},{1 if i == 0 else 0}\n"
                 for i, s in enumerate(seq)]
        pattern = list(zip(offs.tolist(), tails))
        lines: list[str] = []
        for service, starts in deps.items():
            for k, t0 in enumerate(starts):
                trip = f"{route_id}-{direction}-{service}-{k:03d}"
                trips.append((route_id, service, trip, headsign[direction], direction,
                              1 if k % 4 else 2))
                lines.extend(f"{trip},{times[t0 + o]},{times[t0 + o]}{tail}"
                             for o, tail in pattern)
        feed.add_text("stop_times.txt", STOP_TIMES, "".join(lines))


def city_bus_feed(city: City, lines: int, feed: Feed, seed: int) -> Feed:
    rng = np.random.default_rng([seed, 1, *map(ord, city.key)])
    grid = _Grid(city, feed, seed)
    zh_name, en_name = f"{city.zh}公交集团", f"{city.en} Public Transport Group"
    feed.add("agency.txt", ["agency_id", "agency_name", "agency_url", "agency_timezone",
                            "agency_lang", "agency_phone"],
             [(f"{city.key}-bus", zh_name, f"http://bus.{city.key}.example.cn", "Asia/Shanghai",
               "zh", "96166")])
    feed.feed_info(zh_name, f"http://bus.{city.key}.example.cn")
    feed.calendar("WD", "12345")
    feed.calendar("WE", "67")
    feed.add("fare_attributes.txt", ["fare_id", "price", "currency_type", "payment_method",
                                     "transfers", "agency_id"],
             [("flat", "2.00", "CNY", 0, 0, f"{city.key}-bus"),
              ("airport", "20.00", "CNY", 0, 0, f"{city.key}-bus")])
    anchors = _anchors(city, grid, rng)
    ground = [a for a, kind in anchors if kind != "air"] or [None]
    routes = feed.add("routes.txt", ["route_id", "agency_id", "route_short_name",
                                     "route_long_name", "route_type", "route_color"])
    rules = feed.add("fare_rules.txt", ["fare_id", "route_id"])
    name_of = grid.name
    r_km = city.radius_m
    for k in range(max(lines, len(ground))):   # every station gets at least one line
        first = ground[k % len(ground)] if k < 3 * len(ground) else None
        ang = rng.uniform(0, 2 * math.pi)
        a = grid.pos[first] if first else tuple(rng.uniform(-0.7, 0.7, 2) * r_km)
        w = tuple(rng.uniform(-0.25, 0.25, 2) * r_km)
        b = (math.cos(ang) * rng.uniform(0.5, 1.0) * r_km, math.sin(ang) * rng.uniform(0.5, 1.0) * r_km)
        stops = _path_stops(grid, [a, w, b], rng.uniform(500, 700), first, None)
        route_id = f"{k + 1}"
        hs = (name_of[stops[-1]], name_of[stops[0]])
        routes.append((route_id, f"{city.key}-bus", f"{k + 1}路", f"{hs[1]}—{hs[0]}", 3, "1E90FF"))
        rules.append(("flat", route_id))
        peak, off = rng.uniform(6, 10), rng.uniform(10, 16)
        end = 24 * 3600 + 1800 if k == 0 else 22 * 3600 + 1800   # line 1 runs past midnight
        deps = {"WD": _departures(rng, 5 * 3600 + 1800, end, peak, off),
                "WE": _departures(rng, 6 * 3600, end, peak * 1.3, off * 1.3)}
        _trips(feed, grid, route_id, stops, BUS_SPEED_MS, hs, deps)
    for n, (airport, _) in enumerate(a for a in anchors if a[1] == "air"):
        target = ground[0]
        pts = [grid.pos[airport], (0.0, 0.0)] + ([grid.pos[target]] if target else [])
        stops = _path_stops(grid, pts, 3_500, airport, target)
        route_id = f"JC{n + 1}"
        hs = (name_of[stops[-1]], name_of[stops[0]])
        routes.append((route_id, f"{city.key}-bus", f"机场巴士{n + 1}号线",
                       f"{hs[1]}—{hs[0]}", 3, "FF8C00"))
        rules.append(("airport", route_id))
        deps = {s: list(range(6 * 3600, 21 * 3600 + 1, 1800)) for s in ("WD", "WE")}
        _trips(feed, grid, route_id, stops, AIRPORT_BUS_SPEED_MS, hs, deps)
    return feed
