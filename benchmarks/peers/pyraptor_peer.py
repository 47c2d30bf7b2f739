"""Peer: pyraptor (PyPI), run in its own venv (see PEERS.md):

    /work/bench-venvs/pyraptor/bin/python benchmarks/peers/pyraptor_peer.py IN.npz OUT.json

IN.npz holds the same expanded trips the planner searched (stops, times in seconds of the
query day) and the queries; pyraptor's Timetable is built from them directly (its own GTFS
reader fails on the real feeds). One station per stop (no same-name merging), no transfers
except staying at a stop. Writes per-query seconds and arrivals as JSON.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from loguru import logger

from pyraptor.model.raptor import RaptorAlgorithm, best_stop_at_target_station
from pyraptor.model.structures import (Routes, Station, Stations, Stop, Stops, Timetable, Transfers,
                                       Trip, Trips, TripStopTime, TripStopTimes)

logger.remove()


def main(inp: str, out: str) -> None:
    z = np.load(inp)
    t0 = time.perf_counter()
    stations, stops = Stations(), Stops()
    objs = []
    for i in range(int(z["n_stops"])):
        st = stations.add(Station(str(i), str(i)))
        s = Stop(str(i), str(i), st, "?")
        st.add_stop(s)
        stops.add(s)
        objs.append(s)
    trips, tst = Trips(), TripStopTimes()
    start, ts, ta, td = z["trip_start"], z["st_stop"], z["st_arr"], z["st_dep"]
    for k in range(len(start) - 1):
        trip = Trip()
        for idx, r in enumerate(range(start[k], start[k + 1])):
            x = TripStopTime(trip, idx, objs[int(ts[r])], int(ta[r]), int(td[r]), 0)
            tst.add(x)
            trip.add_stop_time(x)
        trips.add(trip)
    routes = Routes()
    for trip in trips:
        routes.add(trip)
    tt = Timetable(stations=stations, stops=stops, trips=trips, trip_stop_times=tst, routes=routes,
                   transfers=Transfers())
    build = time.perf_counter() - t0
    secs, arrivals = [], []
    rounds = int(z["rounds"])
    for o, d, t in zip(z["q_from"], z["q_to"], z["q_time"]):
        t1 = time.perf_counter()
        bag = RaptorAlgorithm(tt).run([objs[int(o)]], int(t), rounds)[rounds]
        dest = best_stop_at_target_station([objs[int(d)]], bag)
        arr = bag[dest].earliest_arrival_time if dest != 0 else None
        secs.append(time.perf_counter() - t1)
        arrivals.append(None if arr is None or arr == float("inf") else int(arr))
    with open(out, "w") as f:
        json.dump({"build_s": build, "secs": secs, "arrivals": arrivals}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
