"""The Shandong demo feeds: valid GTFS, deterministic, connected bus -> HSR -> flight."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from feeds.compile import compile_feed
from feeds.gtfs.values import haversine_m
from feeds.demo import demo_feed_plan, write_demo_feeds
from feeds.demo_places import AIRPORTS, CITIES, RAIL_STATIONS
from feeds.reader import read_archive
from feeds.validate import validate
from routing.network import merge

START = date(2026, 11, 23)   # a Monday


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    written = write_demo_feeds(out, start_date=START, days=7, scale=0.5, seed=7)
    nets = {}
    for name, _, path in written:
        nets[name] = compile_feed(read_archive(path), feed=name, version="v1")
    return written, nets


def test_one_feed_per_operator(demo):
    written, _ = demo
    assert [(n, o) for n, o, _ in written] == [
        ("jinan-bus", "jinan-bus"), ("qingdao-bus", "qingdao-bus"),
        ("shandong-coach", "shandong-coach"), ("china-railway", "china-railway"),
        ("shandong-airlines", "shandong-airlines"), ("bohai-ferry", "bohai-ferry")]
    assert all(p.exists() and p.suffix == ".zip" for _, _, p in written)


def test_every_feed_passes_validation_without_errors(demo):
    written, _ = demo
    for name, _, path in written:
        notices = validate(path, read_archive(path), today=START)
        errors = [n for n in notices if n.severity == "error"]
        assert errors == [], name


def test_modes_per_feed(demo):
    _, nets = demo
    assert set(nets["jinan-bus"].route_mode) == {"bus"}
    assert set(nets["shandong-coach"].route_mode) == {"coach"}   # incl. a type-3 城际 route
    assert 3 in set(nets["shandong-coach"].route_type)
    assert set(nets["china-railway"].route_mode) == {"rail"}
    assert set(nets["shandong-airlines"].route_mode) == {"air"}
    assert set(nets["bohai-ferry"].route_mode) == {"ferry"}
    assert set(nets["bohai-ferry"].route_type) == {4}


def test_names_in_chinese_with_english_and_pinyin(demo):
    _, nets = demo
    for net in nets.values():
        for s in range(net.n_stops):
            langs = net.stop_names_i18n.get(s, {})
            assert {"en", "zh-Latn-pinyin"} <= set(langs), net.stop_id[s]
            assert any("\u4e00" <= ch <= "\u9fff" for ch in net.stop_name[s])
    rail = nets["china-railway"]
    jnx = list(rail.stop_id).index("china-railway:jinanxi")
    assert rail.stop_name[jnx] == "济南西站"
    assert rail.stop_names_i18n[jnx] == {"en": "Jinan West Railway Station",
                                         "zh-Latn-pinyin": "Ji Nan Xi Zhan"}


def test_ferries_cross_the_bohai_strait_and_reach_changdao(demo):
    _, nets = demo
    ferry = nets["bohai-ferry"]
    ids = list(ferry.stop_id)
    at = {k: ids.index(f"bohai-ferry:{k}") for k in ("YTP", "DLP", "PLP", "CDP")}
    assert ferry.stop_name[at["YTP"]] == "烟台港客运站"
    assert ferry.stop_names_i18n[at["DLP"]]["en"] == "Dalian Port Passenger Terminal"
    # the ports where they are: Dalian across the strait, Changdao just off Penglai
    assert 150_000 < haversine_m(ferry.stop_lat[at["YTP"]], ferry.stop_lon[at["YTP"]],
                                 ferry.stop_lat[at["DLP"]], ferry.stop_lon[at["DLP"]]) < 180_000
    assert 5_000 < haversine_m(ferry.stop_lat[at["PLP"]], ferry.stop_lon[at["PLP"]],
                               ferry.stop_lat[at["CDP"]], ferry.stop_lon[at["CDP"]]) < 20_000

    def sailings(a: str, b: str) -> list[tuple[int, int]]:
        out = []
        for t in range(ferry.n_trips):
            lo, hi = int(ferry.trip_st_start[t]), int(ferry.trip_st_start[t + 1])
            if [int(x) for x in ferry.st_stop[lo:hi]] == [at[a], at[b]]:
                dep = int(ferry.st_dep[lo])
                out.append((dep, int(ferry.st_arr[hi - 1]) - dep))
        return sorted(out)
    yd = sailings("YTP", "DLP")
    assert len(yd) >= 3 and all(6 * 3600 <= d <= 7 * 3600 for _, d in yd)
    assert any(dep + d > 24 * 3600 for dep, d in yd)          # the overnight sailing
    pc = sailings("PLP", "CDP")
    assert len(pc) >= 5 and all(45 * 60 <= d <= 75 * 60 for _, d in pc)
    assert len(sailings("DLP", "YTP")) == len(yd) and len(sailings("CDP", "PLP")) == len(pc)


def test_hsr_stations_of_the_beijing_shanghai_line_in_shandong(demo):
    _, nets = demo
    names = set(nets["china-railway"].stop_name)
    assert {"德州东站", "济南西站", "泰安站", "曲阜东站", "滕州东站", "枣庄站", "青岛站"} <= names


def test_seoul_flight_lands_in_seoul_time(demo):
    _, nets = demo
    air = nets["shandong-airlines"]
    icn = list(air.stop_id).index("shandong-airlines:ICN")
    assert air.timezones[air.stop_tz[icn]] == "Asia/Seoul"
    assert air.timezones[air.agency_tz[0]] == "Asia/Shanghai"
    t = list(air.trip_id).index("shandong-airlines:SC4615")      # TAO 09:30 -> ICN
    lo = air.trip_st_start[t]
    assert air.st_dep[lo] == 9 * 3600 + 30 * 60                   # feed time = Beijing time
    assert air.stop_id[air.st_stop[lo + 1]] == "shandong-airlines:ICN"


def test_stations_and_airports_have_a_bus_stop_within_walking_reach(demo):
    _, nets = demo
    for city in ("jinan", "qingdao"):
        bus = nets[f"{city}-bus"]
        served = np.unique(bus.st_stop)
        for p in [*RAIL_STATIONS.values(), *AIRPORTS.values()]:
            if p.city != city:
                continue
            d = haversine_m(p.lat, p.lon, bus.stop_lat[served], bus.stop_lon[served])
            assert d.min() <= 200, p.en


def _next_dep(net, frm: str, to: str, after: int, day: int) -> tuple[int, int] | None:
    """Earliest (departure from `frm`, arrival at `to`) of a trip running on `day`."""
    ids = list(net.stop_id)
    a, b = ids.index(frm), ids.index(to)
    best = None
    for t in np.flatnonzero(net.service_days[net.trip_service, day]):
        lo, hi = net.trip_st_start[t], net.trip_st_start[t + 1]
        seq = list(net.st_stop[lo:hi])
        if a in seq and b in seq and seq.index(a) < seq.index(b):
            dep, arr = net.st_dep[lo + seq.index(a)], net.st_arr[lo + seq.index(b)]
            if dep >= after and (best is None or arr < best[1]):
                best = (int(dep), int(arr))
    return best


def test_bus_then_hsr_then_flight_to_seoul_connects(demo):
    """Jinan city bus to Jinan West, HSR to Qingdao Jiaodong airport station, flight to ICN."""
    _, nets = demo
    bus, rail, air = nets["jinan-bus"], nets["china-railway"], nets["shandong-airlines"]
    jnx = RAIL_STATIONS["jinanxi"]
    served = np.unique(bus.st_stop)
    near = served[np.argmin(haversine_m(jnx.lat, jnx.lon, bus.stop_lat[served],
                                        bus.stop_lon[served]))]
    day = 0
    # some bus trip reaches the stop by 07:30 from another stop of its line
    arrivals = [int(bus.st_arr[r]) for r in np.flatnonzero(bus.st_stop == near)
                if bus.st_arr[r] <= 7 * 3600 + 1800]
    assert arrivals
    train = _next_dep(rail, "china-railway:jinanxi-jiqing", "china-railway:qingdaojichang-jiqing",
                      min(arrivals) + 15 * 60, day)
    assert train is not None
    tao = AIRPORTS["TAO"]
    station = RAIL_STATIONS["qingdaojichang"]
    assert haversine_m(tao.lat, tao.lon, station.lat, station.lon) < 400
    flight = _next_dep(air, "shandong-airlines:TAO", "shandong-airlines:ICN", train[1] + 90 * 60,
                       day)
    assert flight is not None and flight[0] - train[1] >= 90 * 60


def test_deterministic_by_seed(tmp_path):
    a = write_demo_feeds(tmp_path / "a", start_date=START, days=2, scale=0.2, seed=3)
    b = write_demo_feeds(tmp_path / "b", start_date=START, days=2, scale=0.2, seed=3)
    c = write_demo_feeds(tmp_path / "c", start_date=START, days=2, scale=0.2, seed=4)

    def contents(paths):
        return [{i.filename: z.read(i) for i in z.infolist()}
                for z in (zipfile.ZipFile(p) for _, _, p in paths)]
    assert contents(a) == contents(b)
    assert contents(a)[0]["stop_times.txt"] != contents(c)[0]["stop_times.txt"]


def test_scale_grows_lines_and_adds_every_city():
    assert len(demo_feed_plan(1.0)) == 6
    plan = demo_feed_plan(2.0)
    assert {f"{c.key}-bus" for c in CITIES} <= {n for n, _ in plan} and len(CITIES) == 16


def test_scale_multiplies_bus_lines(tmp_path):
    small = write_demo_feeds(tmp_path / "s", start_date=START, days=1, scale=0.4)
    big = write_demo_feeds(tmp_path / "b", start_date=START, days=1, scale=0.8)
    n_small = compile_feed(read_archive(small[0][2]), feed="a", version="v").n_routes
    n_big = compile_feed(read_archive(big[0][2]), feed="a", version="v").n_routes
    assert n_big > n_small


def test_merged_demo_network_spans_the_week(demo):
    _, nets = demo
    m = merge(list(nets.values()))
    assert m.service_base_date == START.toordinal() and m.service_days.shape[1] == 7
    assert set(m.route_mode) == {"bus", "coach", "rail", "air", "ferry"}
    assert len(m.feeds) == 6 and len(set(m.stop_id)) == m.n_stops


def test_cli_writes_the_feeds(tmp_path, capsys):
    from feeds.demo import main
    main([str(tmp_path), "--scale", "0.2", "--start-date", "2026-11-23", "--days", "1"])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 6 and out[0].split("\t")[0] == "jinan-bus"
    assert Path(out[0].split("\t")[2]).exists()


def test_a_train_from_jinan_west_to_qingdao_boards_within_the_rail_gate_window_at_any_hour(demo):
    """The README walkthrough plans Jinan West -> Qingdao "now" and scans the ticket at the
    gate at once: at every hour of the day (night trains 21:00-05:00), the first itinerary's
    train leaves within the rail gate's window (it opens 2 h before departure)."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from maas.settings import Settings
    from routing.planner import Planner, Query

    settings = Settings()
    planner = Planner.build(nets_rail := demo[1]["china-railway"], settings.routing.to_config())
    assert nets_rail.n_trips
    before_min = settings.gates.window_min["rail"][0]
    day = date(2026, 11, 25)
    tz = ZoneInfo("Asia/Shanghai")
    for minute in range(0, 24 * 60, 10):
        now = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(minutes=minute)
        its = planner.plan(Query(origin="china-railway:jinanxi", destination="china-railway:qingdao",
                                 date=day, time_s=minute * 60, modes=frozenset({"rail"})))
        assert its, f"{now:%H:%M}: no itinerary"
        dep = next(leg for leg in its[0].legs if leg.mode == "rail").departure
        assert timedelta(0) < dep - now <= timedelta(minutes=before_min), (f"{now:%H:%M}", dep)
        # and the train after it (the walkthrough's rebooking when that one is cancelled)
        ranged = planner.plan(Query(origin="china-railway:jinanxi", destination="china-railway:qingdao",
                                    date=day, time_s=minute * 60, window_s=before_min * 60,
                                    modes=frozenset({"rail"}), limit=20))
        deps = sorted({leg.departure for it in ranged for leg in it.legs if leg.mode == "rail"
                       and leg.departure - now <= timedelta(minutes=before_min)})
        assert len(deps) >= 2 and deps[0] == dep, (f"{now:%H:%M}", deps)
