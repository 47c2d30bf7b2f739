"""Every real feed in tests/data/real compiles, and the result keeps the Network invariants.

Expected counts are read from the files here with the csv module (independent of pandas)."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from feeds.compile import compile_feed
from routing.network import from_bytes, to_bytes

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
SMALL = ["highdesert-point-2017", "marta-rail-blue-green-2021", "cobblinc-route30-2021",
         "seattle-area-2017"]
LARGE = ["sncf-ter-2019", "wmata-2026", "nyc-subway-2018"]
FEEDS = SMALL + [pytest.param(n, marks=pytest.mark.slow) for n in LARGE]


def read_files(name: str) -> dict[str, bytes]:
    with zipfile.ZipFile(REAL / f"{name}.zip") as z:
        return {i.filename: z.read(i) for i in z.infolist() if not i.is_dir()}


def rows(files: dict[str, bytes], name: str) -> list[dict[str, str]]:
    if name not in files:
        return []
    text = files[name].decode("utf-8-sig")
    return [{k.strip(): (v or "").strip() for k, v in r.items()}
            for r in csv.DictReader(io.StringIO(text))]


def secs(t: str) -> int:
    hh, mm, ss = t.split(":")
    return int(hh) * 3600 + int(mm) * 60 + int(ss)


@pytest.fixture(scope="module", params=FEEDS)
def compiled(request):
    files = read_files(request.param)
    return files, compile_feed(files, feed="x", version="v1")


def test_counts_match_the_files(compiled):
    files, net = compiled
    assert net.n_stops == len(rows(files, "stops.txt"))
    assert net.n_routes == len(rows(files, "routes.txt"))
    assert len(net.agency_id) == len(rows(files, "agency.txt"))
    st_per_trip = Counter(r["trip_id"] for r in rows(files, "stop_times.txt"))
    freq = rows(files, "frequencies.txt")
    freq_trips = {r["trip_id"] for r in freq}
    scheduled = [r["trip_id"] for r in rows(files, "trips.txt")
                 if r["trip_id"] not in freq_trips and st_per_trip[r["trip_id"]] >= 2]
    runs = [(r["trip_id"], t) for r in freq
            for t in range(secs(r["start_time"]), secs(r["end_time"]), int(r["headway_secs"]))]
    assert net.n_trips == len(scheduled) + len(runs)
    assert list(net.trip_id[:len(scheduled)]) == [f"x:{t}" for t in scheduled]
    assert len(net.st_stop) == (sum(st_per_trip[t] for t in scheduled)
                                + sum(st_per_trip[t] for t, _ in runs))


def test_csr_is_consistent_and_times_non_decreasing(compiled):
    _, net = compiled
    start = net.trip_st_start
    assert start[0] == 0 and start[-1] == len(net.st_stop) == len(net.st_arr) == len(net.st_dep)
    assert (np.diff(start) >= 2).all()
    assert (net.st_arr >= 0).all() and (net.st_arr <= net.st_dep).all()
    row_trip = np.repeat(np.arange(net.n_trips), np.diff(start))
    same = row_trip[1:] == row_trip[:-1]
    assert (net.st_dep[:-1][same] <= net.st_arr[1:][same]).all()
    assert ((net.st_stop >= 0) & (net.st_stop < net.n_stops)).all()
    assert ((net.trip_route >= 0) & (net.trip_route < net.n_routes)).all()
    assert ((net.trip_service >= 0) & (net.trip_service < len(net.service_id))).all()
    assert net.service_days.shape[0] == len(net.service_id)
    assert net.service_days[np.unique(net.trip_service)].any()  # something runs
    assert ((net.stop_parent >= -1) & (net.stop_parent < net.n_stops)).all()


def test_ids_namespaced_and_modes_known(compiled):
    _, net = compiled
    for ids in (net.stop_id, net.route_id, net.trip_id, net.service_id, net.agency_id):
        assert all(i.startswith("x:") for i in ids)
    assert len(set(net.stop_id)) == net.n_stops and len(set(net.trip_id)) == net.n_trips
    assert set(net.route_mode) <= {"bus", "coach", "rail", "metro", "tram", "ferry", "air",
                                   "other"}
    assert all(z for z in net.timezones)


def test_round_trips_through_bytes(compiled):
    _, net = compiled
    back = from_bytes(to_bytes(net))
    assert back.timezones == net.timezones and back.service_base_date == net.service_base_date
    for name in ("stop_id", "stop_lat", "trip_st_start", "st_arr", "service_days", "route_mode"):
        a, b = getattr(net, name), getattr(back, name)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def test_known_facts_of_real_feeds():
    """Facts the SOURCES.md states about specific feeds."""
    hd = compile_feed(read_files("highdesert-point-2017"), feed="hd", version="v")
    assert list(hd.route_mode) == ["coach"]                    # intercity: stops ~40 km apart
    assert hd.timezones == ("America/Los_Angeles",) and len(hd.fare_id) > 0
    seattle = compile_feed(read_files("seattle-area-2017"), feed="sea", version="v")
    assert Counter(seattle.route_mode)["ferry"] == 2
    marta = compile_feed(read_files("marta-rail-blue-green-2021"), feed="m", version="v")
    assert int(marta.st_dep.max()) >= secs("26:00:00")         # a run past 26:00
    assert any("@" in t for t in marta.trip_id)
