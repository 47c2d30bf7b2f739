"""Tiny networks for tests, written as timetables.

    net = timetable('''
        # trip  route mode  [days]   stop@time ...        (time = HH:MM or HH:MM/HH:MM arr/dep)
        T1      R1    bus             A@08:00 B@08:10 C@08:20
        T2      R2    rail  0,1       C@08:30 D@25:10
    ''', stops={"A": (36.60, 117.00), ...}, tz="Asia/Shanghai")

Days are offsets from `base` (default 2026-11-25) on which the trip runs (default: all of
`n_days`). Stop tz may differ per stop; each trip's agency tz is taken from `trip_tz`.
A stop named with a leading '!' in a trip's row means no pickup there ('>' no drop-off).
`stop_sequence=True` gives the rows GTFS stop_sequences 10, 20, ... (else the network has none).
"""

from __future__ import annotations

from datetime import date

import numpy as np

from routing.network import Network

BASE = date(2026, 11, 25)


def _t(s: str) -> int:
    h, m, *sec = s.split(":")
    return int(h) * 3600 + int(m) * 60 + (int(sec[0]) if sec else 0)


def grid_stops(names, lat0=36.6, lon0=117.0, step_deg=0.05):
    """Stops far apart (about 5 km), so no footpaths unless a test adds close ones."""
    return {n: (lat0 + i * step_deg, lon0 + (i % 3) * step_deg) for i, n in enumerate(names)}


def timetable(text: str, stops: dict[str, tuple[float, float]] | None = None, *,
              feed: str = "t", tz: str = "Asia/Shanghai", stop_tz: dict[str, str] | None = None,
              trip_tz: dict[str, str] | None = None, n_days: int = 7, base: date = BASE,
              parents: dict[str, str] | None = None, transfers=(), wheelchair_stops=None,
              wheelchair_trips=None, version: str = "v1",
              stop_sequence: bool = False) -> Network:
    rows = []
    for line in text.strip().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        trip, route, mode = parts[:3]
        rest = parts[3:]
        days = list(range(n_days))
        if rest and "@" not in rest[0]:
            days = [int(x) for x in rest[0].split(",")]
            rest = rest[1:]
        calls = []
        for tok in rest:
            name, tm = tok.split("@")
            pick = drop = 0
            while name[0] in "!>":
                if name[0] == "!":
                    pick = 1
                else:
                    drop = 1
                name = name[1:]
            arr, _, dep = tm.partition("/")
            calls.append((name, _t(arr), _t(dep or arr), pick, drop))
        rows.append((trip, route, mode, days, calls))
    names = list(stops) if stops else []
    for *_, calls in rows:
        for c in calls:
            if c[0] not in names:
                names.append(c[0])
    if parents:
        for p in parents.values():
            if p not in names:
                names.append(p)
    coords = dict(grid_stops(names))
    coords.update(stops or {})
    stop_tz = stop_tz or {}
    trip_tz = trip_tz or {}
    tzs = [tz] + sorted({*stop_tz.values(), *trip_tz.values()} - {tz})
    tzi = {z: i for i, z in enumerate(tzs)}
    sidx = {n: i for i, n in enumerate(names)}
    routes = sorted({(r[1], r[2]) for r in rows})
    ridx = {r: i for i, r in enumerate(routes)}
    # one agency per time zone
    st_stop, st_arr, st_dep, st_pick, st_drop, start = [], [], [], [], [], [0]
    svc_rows, svc_index = [], {}
    trip_route, trip_service = [], []
    route_agency = [0] * len(routes)
    for trip, route, mode, days, calls in rows:
        z = tzi[trip_tz.get(trip, tz)]
        route_agency[ridx[(route, mode)]] = z
        key = tuple(days)
        if key not in svc_index:
            svc_index[key] = len(svc_rows)
            svc_rows.append(days)
        trip_service.append(svc_index[key])
        trip_route.append(ridx[(route, mode)])
        for name, a, d, p, dr in calls:
            st_stop.append(sidx[name])
            st_arr.append(a)
            st_dep.append(d)
            st_pick.append(p)
            st_drop.append(dr)
        start.append(len(st_stop))
    service_days = np.zeros((len(svc_rows), n_days), dtype=bool)
    for v, days in enumerate(svc_rows):
        service_days[v, days] = True
    parents = parents or {}
    ws = wheelchair_stops or {}
    wt = wheelchair_trips or {}
    obj = lambda xs: np.array(xs, dtype=object)  # noqa: E731
    tr = list(transfers)
    return Network(
        timezones=tuple(tzs), feeds=(feed,), feed_versions=(version,),
        agency_id=obj([f"{feed}:ag{i}" for i in range(len(tzs))]),
        agency_name=obj([f"Agency {z}" for z in tzs]),
        agency_tz=np.arange(len(tzs), dtype=np.int16), agency_feed=np.zeros(len(tzs), np.int16),
        stop_id=obj([f"{feed}:{n}" for n in names]), stop_name=obj([f"Stop {n}" for n in names]),
        stop_lat=np.array([coords[n][0] for n in names]), stop_lon=np.array([coords[n][1] for n in names]),
        stop_parent=np.array([sidx[parents[n]] if n in parents else -1 for n in names], np.int32),
        stop_location_type=np.array([1 if n in parents.values() else 0 for n in names], np.int8),
        stop_tz=np.array([tzi[stop_tz.get(n, tz)] for n in names], np.int16),
        stop_wheelchair=np.array([ws.get(n, 0) for n in names], np.int8),
        stop_zone=obj([""] * len(names)),
        route_id=obj([f"{feed}:{r}" for r, _ in routes]), route_short_name=obj([r for r, _ in routes]),
        route_long_name=obj([f"Route {r}" for r, _ in routes]),
        route_type=np.array([{"bus": 3, "rail": 2, "air": 1100, "metro": 1, "coach": 200}.get(m, 3)
                             for _, m in routes], np.int16),
        route_mode=obj([m for _, m in routes]), route_agency=np.array(route_agency, np.int32),
        service_id=obj([f"{feed}:s{i}" for i in range(len(svc_rows))]),
        service_base_date=base.toordinal(), service_days=service_days,
        trip_id=obj([f"{feed}:{r[0]}" for r in rows]), trip_route=np.array(trip_route, np.int32),
        trip_service=np.array(trip_service, np.int32),
        trip_headsign=obj([r[4][-1][0] for r in rows]),
        trip_wheelchair=np.array([wt.get(r[0], 0) for r in rows], np.int8),
        trip_st_start=np.array(start, np.int64), st_stop=np.array(st_stop, np.int32),
        st_arr=np.array(st_arr, np.int32), st_dep=np.array(st_dep, np.int32),
        st_pickup=np.array(st_pick, np.int8), st_dropoff=np.array(st_drop, np.int8),
        transfer_from=np.array([sidx[a] for a, *_ in tr], np.int32),
        transfer_to=np.array([sidx[b] for _, b, *_ in tr], np.int32),
        transfer_type=np.array([t for *_, t, _ in tr], np.int8),
        transfer_min_s=np.array([m for *_, m in tr], np.int32),
        fare_id=obj([]), fare_price=np.zeros(0), fare_currency=obj([]),
        fare_agency=np.zeros(0, np.int32), fare_rule_fare=np.zeros(0, np.int32),
        fare_rule_route=np.zeros(0, np.int32), fare_rule_origin=obj([]),
        fare_rule_destination=obj([]),
        # GTFS stop_sequence 10, 20, ... per trip (what GTFS-Realtime names stops by)
        st_seq=(np.concatenate([10 * np.arange(1, b - a + 1) for a, b in zip(start, start[1:])])
                .astype(np.int32) if stop_sequence and len(st_stop) else np.zeros(0, np.int32)),
    )
