"""Demo data: realistic GTFS feeds for Shandong, China — one feed per operator.

    python -m feeds.demo OUT_DIR [--scale S] [--start-date YYYY-MM-DD] [--days N] [--seed N]

Feeds (name, operator):
  jinan-bus, qingdao-bus          city buses (济南公交, 青岛公交); at scale > 1 also the other
                                  14 prefecture cities: `{city}-bus`
  shandong-coach                  intercity coach (山东交运): Jinan–Tai'an–Linyi,
                                  Qingdao–Yantai–Weihai, Jinan–Qingdao, ...
  china-railway                   high-speed rail (中国铁路济南局): Beijing–Shanghai HSR through
                                  Dezhou East, Jinan West, Tai'an, Qufu East, Tengzhou East,
                                  Zaozhuang; Jinan–Qingdao HSR (incl. the Jiaodong airport
                                  station); Qingdao–Yantai–Weihai–Rongcheng intercity
  shandong-airlines               flights (山东航空) from TNA, TAO, YNT, incl. Seoul ICN
                                  (stop_timezone Asia/Seoul)
  bohai-ferry                     ferries (渤海轮渡): Yantai–Dalian across the Bohai strait
                                  (about 6.5 h, incl. an overnight sailing), Penglai–Changdao

Names are Chinese (stop_name) with English and pinyin in translations.txt. Bus stops sit
80-150 m from every station and airport of their city, so bus -> HSR -> flight connects.

`scale` multiplies the bus lines (Jinan and Qingdao have 10 each at scale 1); above 1 every
city of the province gets its own bus feed. Connections on a weekday: scale 1 -> 0.20
million, scale 10 (PROVINCE_SCALE) -> 3.09 million.
Deterministic: the same arguments give byte-identical zips.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from feeds.demo_bus import city_bus_feed
from feeds.demo_ferry import ferry_feed
from feeds.demo_gtfs import Feed
from feeds.demo_intercity import air_feed, coach_feed, rail_feed
from feeds.demo_places import CITIES

__all__ = ["write_demo_feeds", "demo_feed_plan", "PROVINCE_SCALE"]

PROVINCE_SCALE = 10.0   # >= 3 million connections on a weekday (3.09 million measured)


def demo_feed_plan(scale: float = 1.0) -> list[tuple[str, str]]:
    """[(feed name, operator id)] that `write_demo_feeds` writes at this scale."""
    cities = CITIES if scale > 1 else CITIES[:2]
    return ([(f"{c.key}-bus", f"{c.key}-bus") for c in cities]
            + [("shandong-coach", "shandong-coach"), ("china-railway", "china-railway"),
               ("shandong-airlines", "shandong-airlines"), ("bohai-ferry", "bohai-ferry")])


def write_demo_feeds(out_dir: str | Path, *, start_date: date | str, days: int = 7,
                     scale: float = 1.0, seed: int = 0) -> list[tuple[str, str, Path]]:
    """Write one GTFS zip per operator into `out_dir`; returns [(feed, operator, zip path)]."""
    if isinstance(start_date, str):
        start_date = date.fromisoformat(start_date)
    if days < 1 or scale <= 0:
        raise ValueError("days must be >= 1 and scale > 0")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_city = {c.key: c for c in CITIES}
    written = []
    for name, operator in demo_feed_plan(scale):
        feed = Feed(name, operator, start_date, days)
        if name.endswith("-bus"):
            city = by_city[name.removesuffix("-bus")]
            lines = max(2, round(city.lines * scale))
            city_bus_feed(city, lines, feed, seed)
        elif name == "shandong-coach":
            coach_feed(feed, seed)
        elif name == "china-railway":
            rail_feed(feed, seed)
        elif name == "bohai-ferry":
            ferry_feed(feed, seed)
        else:
            air_feed(feed, seed)
        written.append((name, operator, feed.write_zip(out / f"{name}.zip")))
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m feeds.demo", description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--start-date", default=date.today().isoformat())
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    for name, operator, path in write_demo_feeds(a.out_dir, start_date=a.start_date, days=a.days,
                                                 scale=a.scale, seed=a.seed):
        print(f"{name}\t{operator}\t{path}")


if __name__ == "__main__":
    main()
