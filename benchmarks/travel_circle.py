"""The "123 travel circle" on the demo network: 1 h within a city, 2 h across the province,
3 h to major national cities, measured with the one-to-all reach (routing/reach.py).

    .venv/bin/python benchmarks/travel_circle.py [--scale 1.1] [--png docs/travel_circle.png]

- city (1 h): from each city's hubs (rail, coach stations, airports of the city), the share of
  the city's bus stops reached within 60 min, averaged over cities with a bus feed;
- province (2 h): ordered pairs of Shandong cities (A, B) where some hub of B is reached from
  some hub of A within 120 min;
- national (3 h): (Shandong city, national city) pairs, national cities being Beijing,
  Tianjin, Shanghai, Nanjing, Guangzhou, Shenzhen and Chengdu, reached within 180 min.

Travel time: the fewest minutes over departures every --step minutes from --first to --last
(default 07:00-10:00 every 10 min) on the Monday of the demo week, so a sparse timetable's
waiting for the first train counts at most --step minutes. Writes JSON to stdout; with matplotlib
installed (`pip install -e ".[report]"`) also the map (--png).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import zipfile
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feeds.compile import compile_feed  # noqa: E402
from feeds.demo import write_demo_feeds  # noqa: E402
from feeds.demo_places import AIRPORTS, CITIES, COACH_STATIONS, RAIL_STATIONS  # noqa: E402
from routing.network import merge  # noqa: E402
from routing.planner import Planner, Query  # noqa: E402
from routing.reach import reach  # noqa: E402

DAY = date(2026, 11, 23)   # a Monday
NATIONAL = {"Beijing": ("beijingnan", "PEK"), "Tianjin": ("tianjinnan",),
            "Shanghai": ("shanghaihongqiao", "PVG"), "Nanjing": ("nanjingnan",),
            "Guangzhou": ("CAN",), "Shenzhen": ("SZX",), "Chengdu": ("CTU",)}


def _load(scale: float) -> Planner:
    tmp = tempfile.mkdtemp(prefix="travel-circle-")
    nets = []
    for name, _op, path in write_demo_feeds(tmp, start_date=DAY, days=7, scale=scale):
        with zipfile.ZipFile(path) as z:
            nets.append(compile_feed({m: z.read(m) for m in z.namelist()}, feed=name, version="1"))
    return Planner.build(merge(nets))


def _stops_named(pl: Planner, zh: str) -> list[int]:
    """Stops (stations and platforms) named `zh` outside the city bus feeds."""
    net = pl.network
    return [s for s in np.flatnonzero(net.stop_name == zh).tolist()
            if not str(net.stop_id[s]).split(":", 1)[0].endswith("-bus")]


def _hubs(pl: Planner) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {c.key: [] for c in CITIES}
    for table in (RAIL_STATIONS, COACH_STATIONS, AIRPORTS):
        for p in table.values():
            if p.city:
                out[p.city] += _stops_named(pl, p.zh)
    return out


def _national(pl: Planner) -> dict[str, list[int]]:
    names = {**{k: p.zh for k, p in RAIL_STATIONS.items()}, **{k: p.zh for k, p in AIRPORTS.items()}}
    return {city: [s for k in keys for s in _stops_named(pl, names[k])]
            for city, keys in NATIONAL.items()}


def _best(pl: Planner, origins: list[int], starts: list[int], budget: int) -> dict[int, int]:
    """Stop -> fewest minutes of travel from any origin, over the departure times `starts`
    (seconds after midnight), within the budget."""
    best: dict[int, int] = {}
    net = pl.network
    for o in origins:
        if net.stop_parent[o] >= 0:
            continue        # its station is an origin too
        for secs in starts:
            got = reach(pl, Query(str(net.stop_id[o]), str(net.stop_id[o]), DAY, secs), budget)
            for s, a in zip(got.stops.tolist(), ((got.arrival - got.t0) // 60).tolist()):
                if a < best.get(s, 1 << 30):
                    best[s] = int(a)
    return best


def measure(pl: Planner, first: int, last: int, step: int) -> dict:
    net = pl.network
    hubs, national = _hubs(pl), _national(pl)
    city_share, pairs_ok, pairs, nat_ok, nat = {}, 0, 0, 0, 0
    links = []
    for c in CITIES:
        if not hubs[c.key]:
            continue
        best = _best(pl, hubs[c.key], list(range(first, last + 1, step)), 180 * 60)
        feed = f"{c.key}-bus:"
        bus = [s for s in range(net.n_stops) if str(net.stop_id[s]).startswith(feed)
               and net.stop_location_type[s] == 0]
        if bus:
            city_share[c.key] = sum(best.get(s, 1 << 30) <= 60 for s in bus) / len(bus)
        for c2 in CITIES:
            if c2.key == c.key or not hubs[c2.key]:
                continue
            pairs += 1
            m = min((best.get(s, 1 << 30) for s in hubs[c2.key]), default=1 << 30)
            if m <= 120:
                pairs_ok += 1
                links.append((c.key, c2.key, m))
        for city, stops in national.items():
            nat += 1
            m = min((best.get(s, 1 << 30) for s in stops), default=1 << 30)
            nat_ok += m <= 180
            if m <= 180:
                links.append((c.key, city, m))
    return {
        "network_stops": int(net.n_stops), "departure": f"{DAY} {_hm(first)}-{_hm(last)} every {step // 60} min",
        "city_1h_share": round(float(np.mean(list(city_share.values()))), 3) if city_share else None,
        "city_1h_by_city": {k: round(v, 3) for k, v in city_share.items()},
        "province_2h_share": round(pairs_ok / pairs, 3) if pairs else None,
        "province_pairs": pairs, "province_pairs_within_2h": pairs_ok,
        "national_3h_share": round(nat_ok / nat, 3) if nat else None,
        "national_links": nat, "national_links_within_3h": nat_ok,
        "_links": links,
    }


def _hm(secs: int) -> str:
    return f"{secs // 3600:02d}:{secs % 3600 // 60:02d}"


def plot(result: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    where = {c.key: (c.lon, c.lat) for c in CITIES}
    where.update({"Beijing": (116.40, 39.90), "Tianjin": (117.20, 39.08), "Shanghai": (121.47, 31.23),
                  "Nanjing": (118.80, 32.06), "Guangzhou": (113.26, 23.13),
                  "Shenzhen": (114.06, 22.54), "Chengdu": (104.07, 30.57)})
    fig, ax = plt.subplots(figsize=(9, 8))
    for a, b, m in result["_links"]:
        (x1, y1), (x2, y2) = where[a], where[b]
        colour = "tab:green" if m <= 60 else "tab:orange" if m <= 120 else "tab:red"
        ax.plot([x1, x2], [y1, y2], color=colour, alpha=0.35, lw=1)
    for c in CITIES:
        share = result["city_1h_by_city"].get(c.key)
        ax.scatter(*where[c.key], s=40 + 200 * (share or 0), color="tab:blue", zorder=3)
        ax.annotate(f"{c.en}" + (f" {share:.0%}" if share is not None else ""), where[c.key],
                    fontsize=7, xytext=(3, 3), textcoords="offset points")
    for k in NATIONAL:
        ax.scatter(*where[k], marker="s", color="black", zorder=3)
        ax.annotate(k, where[k], fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_title("123 travel circle on the demo network (departing "
                 f"{result['departure']})\n"
                 f"city 1 h {result['city_1h_share']:.0%}, "
                 f"province 2 h {result['province_2h_share']:.0%}, "
                 f"national 3 h {result['national_3h_share']:.0%}", fontsize=9)
    ax.set_xlabel("longitude (links: green <= 1 h, orange <= 2 h, red <= 3 h; dot size: city 1 h share)",
                  fontsize=8)
    ax.set_ylabel("latitude")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.1, help="> 1: every city has its bus feed")
    ap.add_argument("--first", default="07:00", help="first departure time")
    ap.add_argument("--last", default="10:00", help="last departure time")
    ap.add_argument("--step", type=int, default=10, help="minutes between departure times")
    ap.add_argument("--png", default=None)
    args = ap.parse_args()
    def secs(hm: str) -> int:
        h, m = hm.split(":")
        return int(h) * 3600 + int(m) * 60
    pl = _load(args.scale)
    result = measure(pl, secs(args.first), secs(args.last), args.step * 60)
    if args.png:
        plot(result, args.png)
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, indent=1,
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
