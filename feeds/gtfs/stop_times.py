"""stop_times.txt: the one big file, read into columns (the numpy reader of
feeds.compile_csv, or pandas for what it cannot take), sorted by trip and stop_sequence,
blank times interpolated and every trip made non-decreasing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from feeds.gtfs.values import haversine_m, secs_array, to_int

ST_COLS = ("trip_id", "stop_id", "arrival_time", "departure_time", "stop_sequence",
           "pickup_type", "drop_off_type")
# stop_times column -> pandas dtype: few distinct values -> categorical (a small code per row);
# times have many distinct values, and categoricals sort theirs, so they are read as text; ids
# are text too: pandas infers a categorical's categories, and "007" would come back as 7
ST_DTYPES = {c: str if c.endswith(("_time", "_id")) else "category" for c in ST_COLS}


@dataclass
class StopTimes:
    row_trip: np.ndarray   # row -> trip (row of trips.txt), sorted by (trip, stop_sequence)
    stop: np.ndarray
    arr: np.ndarray
    dep: np.ndarray
    pickup: np.ndarray
    dropoff: np.ndarray
    hop_m: np.ndarray      # row i -> metres from row i to row i+1 (len n-1)
    seq: np.ndarray        # row -> stop_sequence (-1 when the file has none)


def _cat(df: pd.DataFrame, name: str, lut_of, default: int, dtype) -> np.ndarray:
    """A column mapped through `lut_of`, which sees each distinct value once (`secs_array`
    takes them all at once). Categorical columns give their codes; text columns are
    factorized (hashing, no sort: times have ~100k distinct values in a big feed)."""
    if name not in df.columns:
        return np.full(len(df), default, dtype=dtype)
    col_ = df[name]
    if isinstance(col_.dtype, pd.CategoricalDtype):
        codes, uniq = col_.cat.codes.to_numpy(), col_.cat.categories.to_numpy(dtype=object)
    else:
        codes, uniq = pd.factorize(col_.to_numpy(dtype=object))
    uniq = np.asarray(uniq, dtype=object).astype(str)
    if lut_of is secs_array:
        lut = secs_array(uniq).astype(dtype)
    else:
        lut = np.array([lut_of(v) for v in uniq], dtype=dtype)
    return lut[codes]


def st_columns_fast(data: bytes, trip_index: dict[str, int],
                    stop_index: dict[str, int]) -> dict[str, np.ndarray] | None:
    """stop_times columns through the numpy reader (feeds.compile_csv), or None."""
    from feeds import compile_csv as fc

    fields = fc.split_fields(data)
    if fields is None:
        return None
    buf = fields.buf
    pos = {n: i for i, n in enumerate(fields.names)}
    if "trip_id" not in pos or "stop_id" not in pos:
        return None
    words = fc._words(buf)

    def field(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (buf, *fields.field(pos[name]))

    out: dict[str, np.ndarray] = {}
    for name, index in (("trip_id", trip_index), ("stop_id", stop_index)):
        got = fc.factorize(*field(name), words)
        if got is None:
            return None
        codes, uniq = got
        out[name] = np.array([index.get(u, -1) for u in uniq], dtype=np.int32)[codes]
    n = len(fields)
    if "stop_sequence" in pos:
        seq, ok = fc._digits(*field("stop_sequence"))
        if not ok.all():
            return None
        out["stop_sequence"] = seq
    else:
        out["stop_sequence"] = np.full(n, -1, dtype=np.int64)
    for name in ("arrival_time", "departure_time"):
        t = fc.times(*field(name)) if name in pos else np.full(n, -1, dtype=np.int64)
        if t is None:
            return None
        out[name] = t
    for name in ("pickup_type", "drop_off_type"):
        out[name] = (fc.integers(*field(name), 0, 0, 3).astype(np.int8)
                     if name in pos else np.zeros(n, dtype=np.int8))
    return out


def st_columns_pandas(df: pd.DataFrame | None, trip_index: dict[str, int],
                      stop_index: dict[str, int]) -> dict[str, np.ndarray] | None:
    if df is None or len(df) == 0:
        return None
    enum3 = lambda s: v if 0 <= (v := to_int(s, 0)) <= 3 else 0  # noqa: E731
    return {
        "trip_id": _cat(df, "trip_id", lambda s: trip_index.get(s.strip(), -1), -1, np.int32),
        "stop_id": _cat(df, "stop_id", lambda s: stop_index.get(s.strip(), -1), -1, np.int32),
        "stop_sequence": _cat(df, "stop_sequence", lambda s: to_int(s, -1), -1, np.int64),
        "arrival_time": _cat(df, "arrival_time", secs_array, -1, np.int64),
        "departure_time": _cat(df, "departure_time", secs_array, -1, np.int64),
        "pickup_type": _cat(df, "pickup_type", enum3, 0, np.int8),
        "drop_off_type": _cat(df, "drop_off_type", enum3, 0, np.int8),
    }


def stop_times(cols: dict[str, np.ndarray] | None, lat: np.ndarray,
               lon: np.ndarray) -> StopTimes | None:
    """Rows (as mapped by st_columns_*) sorted by (trip, stop_sequence), times filled."""
    if cols is None:
        return None
    trip, stop, seq = cols["trip_id"], cols["stop_id"], cols["stop_sequence"]
    arr, dep = cols["arrival_time"], cols["departure_time"]
    pick, drop = cols["pickup_type"], cols["drop_off_type"]
    ok = (trip >= 0) & (stop >= 0)
    order = np.lexsort((seq[ok], trip[ok]))
    trip, stop, arr, dep, pick, drop, seq = (a[ok][order]
                                             for a in (trip, stop, arr, dep, pick, drop, seq))
    if len(trip) == 0:
        return None

    hop = np.nan_to_num(haversine_m(lat[stop[:-1]], lon[stop[:-1]], lat[stop[1:]], lon[stop[1:]]))
    arr, dep, timed = _fill_times(trip, arr, dep, hop)
    keep = timed[trip]
    if not keep.all():
        trip, stop, arr, dep, pick, drop, seq = (a[keep]
                                                 for a in (trip, stop, arr, dep, pick, drop, seq))
        hop = np.nan_to_num(haversine_m(lat[stop[:-1]], lon[stop[:-1]],
                                        lat[stop[1:]], lon[stop[1:]]))
    arr, dep = _monotone(trip, arr, dep)
    seq = np.clip(seq, -1, np.iinfo(np.int32).max).astype(np.int32)
    return StopTimes(trip, stop, arr.astype(np.int32), dep.astype(np.int32), pick, drop, hop, seq)


def _fill_times(trip, arr, dep, hop):
    """Blank times: copy arrival<->departure, interpolate along distance between the nearest
    timed rows of the same trip, extend at the ends. Returns (arr, dep, trip has any time)."""
    n = len(trip)
    arr = np.where(arr < 0, dep, arr)
    dep = np.where(dep < 0, arr, dep)
    known = arr >= 0
    timed = np.zeros(int(trip.max()) + 1, dtype=bool)
    timed[trip[known]] = True
    if known.all():
        return arr, dep, timed
    idx = np.arange(n)
    prev = np.maximum.accumulate(np.where(known, idx, -1))
    nxt = np.minimum.accumulate(np.where(known, idx, n)[::-1])[::-1]
    miss = np.flatnonzero(~known)
    p, q = prev[miss], nxt[miss]
    tr = trip[miss]
    has_p = (p >= 0) & (trip[np.maximum(p, 0)] == tr)
    has_q = (q < n) & (trip[np.minimum(q, n - 1)] == tr)
    cum = np.concatenate([[0.0], np.cumsum(hop)])
    pc, qc = np.maximum(p, 0), np.minimum(q, n - 1)
    span = cum[qc] - cum[pc]
    frac = np.where(span > 0, (cum[miss] - cum[pc]) / np.where(span > 0, span, 1),
                    (miss - pc) / np.maximum(qc - pc, 1))
    t_p, t_q = dep[pc], arr[qc]
    t = np.where(has_p & has_q, np.rint(t_p + frac * (t_q - t_p)),
                 np.where(has_p, t_p, np.where(has_q, t_q, -1))).astype(np.int64)
    arr[miss] = t
    dep[miss] = t
    return arr, dep, timed


def _monotone(trip, arr, dep):
    """arr_i >= dep_{i-1} and dep_i >= arr_i along each trip (a running maximum per trip)."""
    both = np.empty(2 * len(arr), dtype=np.int64)
    both[0::2], both[1::2] = arr, dep
    key = np.repeat(trip.astype(np.int64), 2) << 32
    both = np.maximum.accumulate(both + key) - key
    return both[0::2], both[1::2]
