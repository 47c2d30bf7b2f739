"""Trips as the network keeps them: the scheduled trips of trips.txt, then one concrete
trip per run of frequencies.txt."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from feeds.gtfs.stop_times import StopTimes
from feeds.gtfs.values import col, hhmmss, secs, to_int


@dataclass
class Frequencies:
    trip: np.ndarray      # k -> trip (row of trips.txt)
    start: np.ndarray     # k -> start_time (s)
    end: np.ndarray       # k -> end_time (s)
    headway: np.ndarray   # k -> headway_secs


def frequencies(df: pd.DataFrame | None, trip_index: dict[str, int]) -> Frequencies:
    trip = np.array([trip_index.get(t, -1) for t in col(df, "trip_id")], dtype=np.int64)
    start = np.array([secs(s) for s in col(df, "start_time")], dtype=np.int64)
    end = np.array([secs(s) for s in col(df, "end_time")], dtype=np.int64)
    hw = np.array([to_int(s, 0) for s in col(df, "headway_secs")], dtype=np.int64)
    ok = (trip >= 0) & (start >= 0) & (end > start) & (hw > 0)
    return Frequencies(trip[ok], start[ok], end[ok], hw[ok])


@dataclass
class Trips:
    source: np.ndarray            # t -> row of trips.txt it comes from
    suffix: np.ndarray | None     # t -> "@HH:MM:SS" for a frequency run, else ""
    st_start: np.ndarray
    st_stop: np.ndarray
    st_arr: np.ndarray
    st_dep: np.ndarray
    st_pickup: np.ndarray
    st_dropoff: np.ndarray
    st_seq: np.ndarray            # row -> stop_sequence (-1 unknown)


def expand_trips(st: StopTimes, freq: Frequencies, n_trips: int, route_ok: np.ndarray) -> Trips:
    """Scheduled trips (file order) then one concrete trip per frequency run."""
    counts = np.bincount(st.row_trip, minlength=n_trips)
    first = np.concatenate([[0], np.cumsum(counts)])
    is_freq = np.zeros(n_trips, dtype=bool)
    is_freq[freq.trip] = True
    usable = (counts >= 2) & route_ok
    base = usable & ~is_freq
    rows = base[st.row_trip]
    source = [np.flatnonzero(base)]
    lengths = [counts[source[0]]]
    parts = [(st.stop[rows], st.arr[rows], st.dep[rows], st.pickup[rows], st.dropoff[rows],
              st.seq[rows])]
    suffix: list[str] = [""] * len(source[0])
    for k in range(len(freq.trip)):
        t = int(freq.trip[k])
        if not usable[t]:
            continue
        lo, hi = first[t], first[t + 1]
        runs = np.arange(freq.start[k], freq.end[k], freq.headway[k], dtype=np.int64)
        rel_arr = st.arr[lo:hi].astype(np.int64) - st.dep[lo]
        rel_dep = st.dep[lo:hi].astype(np.int64) - st.dep[lo]
        m = len(runs)
        parts.append((np.tile(st.stop[lo:hi], m),
                      (runs[:, None] + rel_arr[None, :]).ravel().astype(np.int32),
                      (runs[:, None] + rel_dep[None, :]).ravel().astype(np.int32),
                      np.tile(st.pickup[lo:hi], m), np.tile(st.dropoff[lo:hi], m),
                      np.tile(st.seq[lo:hi], m)))
        source.append(np.full(m, t, dtype=np.int64))
        lengths.append(np.full(m, hi - lo, dtype=np.int64))
        suffix.extend("@" + hhmmss(int(r)) for r in runs)
    cols = [np.concatenate([p[i] for p in parts]) for i in range(6)]
    src = np.concatenate(source).astype(np.int64)
    st_start = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]).astype(np.int64)
    sfx = np.array(suffix, dtype=object) if len(freq.trip) else None
    return Trips(src, sfx, st_start, cols[0].astype(np.int32), cols[1].astype(np.int32),
                 cols[2].astype(np.int32), cols[3].astype(np.int8), cols[4].astype(np.int8),
                 cols[5].astype(np.int32))
