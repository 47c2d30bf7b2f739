"""Test oracle for the realtime overlay: the updates written into the timetable itself.

`bake(net, updates)` returns a static Network in which each updated run (trip, service date)
no longer runs on its trip's calendar; unless cancelled, it becomes a trip of its own
(`"{trip}~{date}"`) running that date only, with its realtime times and no pickup/drop-off
at skipped stops. A planner built from scratch on it is what the overlay must answer like.
The times follow the documented GTFS-Realtime rules, written out plainly here (not
`routing.realtime`'s code): absolute time wins over delay, a stop with one event keeps the
same delay at its other end, stops without one carry the previous stop's departure delay,
then the run is made non-decreasing.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np

from routing.network import Network
from routing.timetable import service_ref_epoch
from routing.updates import TripUpdate


def _position(net: Network, a: int, b: int, su, prev: int) -> int:
    if su.stop_sequence is not None and len(net.st_seq) == len(net.st_stop):
        return list(net.st_seq[a:b]).index(su.stop_sequence)
    s = list(net.stop_id).index(su.stop_id)
    stops = list(net.st_stop[a:b])
    return stops.index(s, prev) if s in stops[prev:] else stops.index(s)


def realtime_times(net: Network, t: int, u: TripUpdate) -> tuple[list[int], list[int], list[bool]]:
    """(arr, dep, skipped) per position, seconds since the service-day reference."""
    a, b = int(net.trip_st_start[t]), int(net.trip_st_start[t + 1])
    tz = net.timezones[int(net.agency_tz[net.route_agency[net.trip_route[t]]])]
    ref = service_ref_epoch(u.service_date, tz)
    at: dict[int, object] = {}
    prev = 0
    for su in u.stop_updates:
        prev = _position(net, a, b, su, prev)
        at[prev] = su

    def event(ev, scheduled):
        if ev is None:
            return None
        if ev.time is not None:
            return ev.time - ref
        return None if ev.delay is None else scheduled + ev.delay

    arr, dep, skipped = [], [], []
    delay = 0
    for i in range(b - a):
        sa, sd = int(net.st_arr[a + i]), int(net.st_dep[a + i])
        su = at.get(i)
        x = event(su.arrival, sa) if su else None
        y = event(su.departure, sd) if su else None
        if x is None and y is None:
            x, y = sa + delay, sd + delay
        elif x is None:
            x = sa + (y - sd)
        elif y is None:
            y = sd + (x - sa)
        delay = y - sd
        arr.append(x)
        dep.append(y)
        skipped.append(bool(su and su.skipped))
    last = -10**12
    for i in range(len(arr)):
        arr[i] = last = max(arr[i], last)
        dep[i] = last = max(dep[i], last)
    return arr, dep, skipped


def bake(net: Network, updates: list[TripUpdate]) -> Network:
    latest: dict[tuple[int, date], TripUpdate] = {}
    index = {tid: i for i, tid in enumerate(net.trip_id)}
    for u in updates:
        latest[(index[u.trip_id], u.service_date)] = u
    days = [net.service_days[v].copy() for v in range(len(net.service_id))]
    trip_service = net.trip_service.copy()
    own: dict[int, int] = {}            # trip -> its own copy of its service row
    new_trips = []
    for (t, sd), u in latest.items():
        if t not in own:
            own[t] = len(days)
            days.append(days[int(net.trip_service[t])].copy())
            trip_service[t] = own[t]
        col = sd.toordinal() - net.service_base_date
        days[own[t]][col] = False
        if u.canceled:
            continue
        only = np.zeros(net.service_days.shape[1], dtype=bool)
        only[col] = True
        days.append(only)
        new_trips.append((t, sd, len(days) - 1, *realtime_times(net, t, u)))
    rows = {k: [getattr(net, k)] for k in ("st_stop", "st_arr", "st_dep", "st_pickup",
                                           "st_dropoff")}
    trips = {k: [getattr(net, k)] for k in ("trip_id", "trip_route", "trip_headsign",
                                            "trip_wheelchair")}
    services, start = [trip_service], list(net.trip_st_start)
    for t, sd, v, arr, dep, skipped in new_trips:
        a, b = int(net.trip_st_start[t]), int(net.trip_st_start[t + 1])
        rows["st_stop"].append(net.st_stop[a:b])
        rows["st_arr"].append(np.array(arr, dtype=np.int32))
        rows["st_dep"].append(np.array(dep, dtype=np.int32))
        sk = np.array(skipped)
        rows["st_pickup"].append(np.where(sk, 1, net.st_pickup[a:b]).astype(np.int8))
        rows["st_dropoff"].append(np.where(sk, 1, net.st_dropoff[a:b]).astype(np.int8))
        for k in trips:
            trips[k].append(getattr(net, k)[t:t + 1])
        trips["trip_id"][-1] = np.array([f"{net.trip_id[t]}~{sd}"], dtype=object)
        services.append(np.array([v], dtype=np.int32))
        start.append(start[-1] + b - a)
    n_new = len(days) - len(net.service_id)
    return dataclasses.replace(
        net, **{k: np.concatenate(v) for k, v in rows.items()},
        **{k: np.concatenate(v) for k, v in trips.items()},
        trip_service=np.concatenate(services).astype(np.int32),
        trip_st_start=np.array(start, dtype=np.int64),
        service_id=np.concatenate([net.service_id,
                                   np.array([f"rt{i}" for i in range(n_new)], dtype=object)]),
        service_days=np.array(days, dtype=bool).reshape(len(days), net.service_days.shape[1]),
        st_seq=np.zeros(0, np.int32))
