"""The per-file steps of `feeds.compile`: each takes a parsed GTFS table (a pandas frame of
text, or None when the file is absent) and returns numpy arrays for the Network."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

EARTH_RADIUS_M = 6_371_008.8
ST_COLS = ("trip_id", "stop_id", "arrival_time", "departure_time", "stop_sequence",
           "pickup_type", "drop_off_type")
# stop_times column -> pandas dtype: few distinct values -> categorical (a small code per row);
# times have many distinct values, and categoricals sort theirs, so they are read as text; ids
# are text too: pandas infers a categorical's categories, and "007" would come back as 7
ST_DTYPES = {c: str if c.endswith(("_time", "_id")) else "category" for c in ST_COLS}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


# ----------------------------------------------------------------------------- scalars
def to_int(s: str, default: int) -> int:
    try:
        return int(s)
    except ValueError:
        try:
            return int(float(s))
        except ValueError:
            return default


def secs(s: str) -> int:
    """'H:MM:SS' / 'HH:MM:SS' (hours may pass 24) -> seconds; -1 when blank or malformed."""
    parts = s.strip().split(":")
    if len(parts) != 3:
        return -1
    try:
        h, m, x = (int(p) for p in parts)
    except ValueError:
        return -1
    return h * 3600 + m * 60 + x if h >= 0 and 0 <= m < 60 and 0 <= x < 61 else -1


def secs_array(values: np.ndarray) -> np.ndarray:
    """Vectorized `secs` over an array of strings (the distinct values of a time column)."""
    u = np.strings.strip(np.asarray(values, dtype=str))
    n = len(u)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    width = max(u.dtype.itemsize // 4, 1)
    d = u.view(np.uint32).reshape(n, width).astype(np.int64) - 48     # digit values; ':' = 10
    length = np.strings.str_len(u).astype(np.int64)
    rows = np.arange(n)

    def at(k: np.ndarray) -> np.ndarray:
        return d[rows, np.clip(k, 0, width - 1)]

    ok = (length >= 7) & (at(length - 3) == 10) & (at(length - 6) == 10)
    sec = at(length - 2) * 10 + at(length - 1)
    mins = at(length - 5) * 10 + at(length - 4)
    ok &= (at(length - 2) >= 0) & (at(length - 2) <= 6) & (at(length - 1) >= 0) & \
        (at(length - 1) <= 9) & (at(length - 5) >= 0) & (at(length - 5) <= 5) & \
        (at(length - 4) >= 0) & (at(length - 4) <= 9)
    hours = np.zeros(n, dtype=np.int64)
    for k in range(width):
        digit = d[:, k]
        inside = k < length - 6
        ok &= ~inside | ((digit >= 0) & (digit <= 9))
        hours = np.where(inside, hours * 10 + digit, hours)
    return np.where(ok & (sec < 61), hours * 3600 + mins * 60 + sec, -1)


def hhmmss(t: int) -> str:
    return f"{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}"


def ordinal(yyyymmdd: str) -> int:
    s = yyyymmdd.strip()
    try:
        return date(int(s[:4]), int(s[4:6]), int(s[6:8])).toordinal()
    except ValueError:
        return -1


def enum(col: np.ndarray, max_value: int) -> np.ndarray:
    """Text enum column -> int8 in [0, max_value]; blank or out of range (-999) -> 0."""
    if len(col) == 0:
        return np.zeros(0, dtype=np.int8)
    uniq, inv = np.unique(col.astype(str), return_inverse=True)
    lut = np.array([v if 0 <= (v := to_int(u, 0)) <= max_value else 0 for u in uniq],
                   dtype=np.int8)
    return lut[inv]


def ns_nonempty(feed: str, col: np.ndarray) -> np.ndarray:
    out = np.empty(len(col), dtype=object)
    out[:] = [f"{feed}:{z}" if z else "" for z in col]
    return out


def col(df: pd.DataFrame | None, name: str) -> np.ndarray:
    if df is None:
        return np.array([], dtype=object)
    if name not in df.columns:
        return np.full(len(df), "", dtype=object)
    return df[name].str.strip().to_numpy(dtype=object)


def haversine_m(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


# ----------------------------------------------------------------------------- time zones
class TzTable:
    def __init__(self) -> None:
        self._idx: dict[str, int] = {}

    def get(self, name: str) -> int:
        if name not in self._idx:
            ZoneInfo(name)  # raises for an unknown zone
            self._idx[name] = len(self._idx)
        return self._idx[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._idx)


# ----------------------------------------------------------------------------- agencies
@dataclass
class Agencies:
    ids: np.ndarray
    name: np.ndarray
    tz: np.ndarray
    default_tz: int

    def lookup(self, agency_col: np.ndarray) -> np.ndarray:
        """agency_id column (of routes, fares) -> a; blank or unknown -> the first agency."""
        idx = {a: i for i, a in enumerate(self.ids)}
        return np.array([idx.get(a, 0) for a in agency_col], dtype=np.int32)


def agencies(df: pd.DataFrame | None, feed: str, tzs: TzTable) -> Agencies:
    if df is None or len(df) == 0:
        tz = tzs.get("UTC")
        return Agencies(np.array([feed], dtype=object), np.array([feed], dtype=object),
                        np.array([tz], dtype=np.int16), tz)
    ids, names = col(df, "agency_id"), col(df, "agency_name")
    ids = np.array([i or n or f"agency{k}" for k, (i, n) in enumerate(zip(ids, names))],
                   dtype=object)
    from feeds.compile import CompileError
    tz_list = []
    for z in col(df, "agency_timezone"):
        try:
            tz_list.append(tzs.get(z))
        except Exception as e:
            raise CompileError(f"agency_timezone {z!r} is not an IANA time zone",
                               file="agency.txt", field="agency_timezone") from e
    tz = np.array(tz_list, dtype=np.int16)
    return Agencies(ids, names, tz, int(tz[0]))


# ----------------------------------------------------------------------------- stops
@dataclass
class Stops:
    ids: np.ndarray
    name: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    parent: np.ndarray
    location_type: np.ndarray
    tz: np.ndarray
    wheelchair: np.ndarray
    zone: np.ndarray
    index: dict[str, int]


def stops(df: pd.DataFrame | None, feed: str, tzs: TzTable, default_tz: int) -> Stops:
    ids = col(df, "stop_id")
    index = {s: i for i, s in enumerate(ids)}
    n = len(ids)
    lat = pd.to_numeric(pd.Series(col(df, "stop_lat")), errors="coerce").to_numpy(np.float64,
                                                                                      copy=True)
    lon = pd.to_numeric(pd.Series(col(df, "stop_lon")), errors="coerce").to_numpy(np.float64,
                                                                                      copy=True)
    parent = np.array([index.get(p, -1) if p else -1 for p in col(df, "parent_station")],
                      dtype=np.int32)
    own_tz = np.full(n, -1, dtype=np.int16)
    for i, z in enumerate(col(df, "stop_timezone")):
        if z:
            try:
                own_tz[i] = tzs.get(z)
            except Exception:  # an invalid zone: the validator reports it; use the agency's
                pass
    has_parent = parent >= 0
    for _ in range(2):  # platform -> station (-> rare second level): coords, tz inherit
        take = has_parent & np.isnan(lat)
        lat[take], lon[take] = lat[parent[take]], lon[parent[take]]
        take = has_parent & (own_tz < 0)
        own_tz[take] = own_tz[parent[take]]
    tz = np.where(own_tz >= 0, own_tz, default_tz).astype(np.int16)
    return Stops(ids, col(df, "stop_name"), lat, lon, parent,
                 enum(col(df, "location_type"), 4), tz, enum(col(df, "wheelchair_boarding"), 2),
                 col(df, "zone_id"), index)


# ----------------------------------------------------------------------------- services
@dataclass
class Services:
    ids: np.ndarray
    base: int
    days: np.ndarray


def services(cal: pd.DataFrame | None, cd: pd.DataFrame | None,
             trip_services: np.ndarray, max_days: int) -> Services:
    cal_ids, cd_ids = col(cal, "service_id"), col(cd, "service_id")
    ids = np.array(list(dict.fromkeys([*cal_ids, *cd_ids, *trip_services])), dtype=object)
    index = {s: i for i, s in enumerate(ids)}
    cache: dict[str, int] = {}

    def ords(c: np.ndarray) -> np.ndarray:
        return np.array([cache[s] if s in cache else cache.setdefault(s, ordinal(s)) for s in c],
                        dtype=np.int64)

    start, end, cd_date = ords(col(cal, "start_date")), ords(col(cal, "end_date")), \
        ords(col(cd, "date"))
    known = np.concatenate([start, end, cd_date])
    known = known[known > 0]
    if len(known) == 0:
        return Services(ids, date(1970, 1, 1).toordinal(), np.zeros((len(ids), 1), dtype=bool))
    base = int(known.min())
    n_days = min(int(known.max()) - base + 1, max_days)
    days = np.zeros((len(ids), n_days), dtype=bool)
    day_ord = base + np.arange(n_days)
    if len(cal_ids):
        week = np.stack([col(cal, d) == "1" for d in _WEEKDAYS], axis=1)   # (c, 7)
        runs = week[:, (day_ord + 6) % 7] & (day_ord >= start[:, None]) & (day_ord <= end[:, None])
        rows = np.array([index[s] for s in cal_ids], dtype=np.int64)
        np.logical_or.at(days, rows, runs)
    if len(cd_ids):
        rows = np.array([index[s] for s in cd_ids], dtype=np.int64)
        exc = col(cd, "exception_type")
        d = cd_date - base
        inside = (d >= 0) & (d < n_days)
        add, rem = inside & (exc == "1"), inside & (exc == "2")
        days[rows[add], d[add]] = True
        days[rows[rem], d[rem]] = False
    return Services(ids, base, days)


# ----------------------------------------------------------------------------- stop_times
@dataclass
class StopTimes:
    row_trip: np.ndarray   # row -> trip (row of trips.txt), sorted by (trip, stop_sequence)
    stop: np.ndarray
    arr: np.ndarray
    dep: np.ndarray
    pickup: np.ndarray
    dropoff: np.ndarray
    hop_m: np.ndarray      # row i -> metres from row i to row i+1 (len n-1)


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
    trip, stop, arr, dep, pick, drop = (a[ok][order] for a in (trip, stop, arr, dep, pick, drop))
    if len(trip) == 0:
        return None

    hop = np.nan_to_num(haversine_m(lat[stop[:-1]], lon[stop[:-1]], lat[stop[1:]], lon[stop[1:]]))
    arr, dep, timed = _fill_times(trip, arr, dep, hop)
    keep = timed[trip]
    if not keep.all():
        trip, stop, arr, dep, pick, drop = (a[keep] for a in (trip, stop, arr, dep, pick, drop))
        hop = np.nan_to_num(haversine_m(lat[stop[:-1]], lon[stop[:-1]],
                                        lat[stop[1:]], lon[stop[1:]]))
    arr, dep = _monotone(trip, arr, dep)
    return StopTimes(trip, stop, arr.astype(np.int32), dep.astype(np.int32), pick, drop, hop)


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


# ----------------------------------------------------------------------------- frequencies
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
    parts = [(st.stop[rows], st.arr[rows], st.dep[rows], st.pickup[rows], st.dropoff[rows])]
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
                      np.tile(st.pickup[lo:hi], m), np.tile(st.dropoff[lo:hi], m)))
        source.append(np.full(m, t, dtype=np.int64))
        lengths.append(np.full(m, hi - lo, dtype=np.int64))
        suffix.extend("@" + hhmmss(int(r)) for r in runs)
    cols = [np.concatenate([p[i] for p in parts]) for i in range(5)]
    src = np.concatenate(source).astype(np.int64)
    st_start = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]).astype(np.int64)
    sfx = np.array(suffix, dtype=object) if len(freq.trip) else None
    return Trips(src, sfx, st_start, cols[0].astype(np.int32), cols[1].astype(np.int32),
                 cols[2].astype(np.int32), cols[3].astype(np.int8), cols[4].astype(np.int8))


# ----------------------------------------------------------------------------- transfers
def transfers(df: pd.DataFrame | None, stop_index: dict[str, int]):
    """Stop-to-stop rows of transfers.txt; rows naming a trip or route are dropped."""
    frm = np.array([stop_index.get(s, -1) for s in col(df, "from_stop_id")], dtype=np.int32)
    to = np.array([stop_index.get(s, -1) for s in col(df, "to_stop_id")], dtype=np.int32)
    ok = (frm >= 0) & (to >= 0)
    for c in ("from_trip_id", "to_trip_id", "from_route_id", "to_route_id"):
        ok &= col(df, c) == ""
    kind = np.array([to_int(s, 0) if s else 0 for s in col(df, "transfer_type")], dtype=np.int64)
    ok &= (kind >= 0) & (kind <= 3)
    mins = np.array([to_int(s, -1) if s else -1 for s in col(df, "min_transfer_time")],
                    dtype=np.int32)
    return frm[ok], to[ok], kind[ok].astype(np.int8), mins[ok]


# ----------------------------------------------------------------------------- fares
def fares(fa: pd.DataFrame | None, fr: pd.DataFrame | None, feed: str, ag: Agencies,
          route_index: dict[str, int]) -> dict[str, np.ndarray]:
    ids = col(fa, "fare_id")
    index = {f: i for i, f in enumerate(ids)}
    price = pd.to_numeric(pd.Series(col(fa, "price"), dtype=object),
                          errors="coerce").to_numpy(np.float64)
    a_index = {a: i for i, a in enumerate(ag.ids)}
    single = 0 if len(ag.ids) == 1 else -1
    agency = np.array([a_index.get(a, -1) if a else single for a in col(fa, "agency_id")],
                      dtype=np.int32)
    rule_fare = np.array([index.get(f, -1) for f in col(fr, "fare_id")], dtype=np.int32)
    ok = rule_fare >= 0
    rule_route = np.array([route_index.get(r, -1) if r else -1 for r in col(fr, "route_id")],
                          dtype=np.int32)
    return dict(
        fare_id=np.array([f"{feed}:{f}" for f in ids], dtype=object).reshape(-1),
        fare_price=price, fare_currency=col(fa, "currency_type"), fare_agency=agency,
        fare_rule_fare=rule_fare[ok], fare_rule_route=rule_route[ok],
        fare_rule_origin=ns_nonempty(feed, col(fr, "origin_id"))[ok],
        fare_rule_destination=ns_nonempty(feed, col(fr, "destination_id"))[ok],
    )


# ----------------------------------------------------------------------------- fares v2
def fares_v2(routes: pd.DataFrame | None, route_networks: pd.DataFrame | None,
             stop_areas: pd.DataFrame | None, products: pd.DataFrame | None,
             leg_rules: pd.DataFrame | None, feed: str, route_index: dict[str, int],
             stop_index: dict[str, int]) -> dict[str, np.ndarray]:
    """GTFS-Fares v2, the leg part: a leg's product by (network, from area, to area).

    Supported: fare_products (one price per product: the row without a rider category, else
    the first), fare_leg_rules without timeframes (rules with from/to_timeframe_group_id are
    left out rather than priced wrongly), stop_areas, routes.network_id and route_networks.
    Transfer rules (fare_transfer_rules) are not applied: each leg is priced alone."""
    n_routes = len(route_index)
    network = np.full(n_routes, "", dtype=object)
    for r, net_id in enumerate(col(routes, "network_id")[:n_routes]):
        network[r] = f"{feed}:{net_id}" if net_id else ""
    for net_id, route_id in zip(col(route_networks, "network_id"), col(route_networks, "route_id")):
        if route_id in route_index and net_id:
            network[route_index[route_id]] = f"{feed}:{net_id}"
    area_stop = np.array([stop_index.get(x, -1) for x in col(stop_areas, "stop_id")], dtype=np.int32)
    area_ok = area_stop >= 0

    riders = col(products, "rider_category_id")
    product_row: dict[str, int] = {}  # product -> its row: the one without a rider category
    for i, pid in enumerate(col(products, "fare_product_id")):
        if pid and (pid not in product_row or (riders[product_row[pid]] and not riders[i])):
            product_row[pid] = i
    pids = list(product_row)
    rows = np.array([product_row[p] for p in pids], dtype=np.int64)
    amount = pd.to_numeric(pd.Series(col(products, "amount"), dtype=object),
                           errors="coerce").to_numpy(np.float64)
    p_index = {p: i for i, p in enumerate(pids)}

    leg_product = np.array([p_index.get(x, -1) for x in col(leg_rules, "fare_product_id")],
                           dtype=np.int32)
    timeframed = (col(leg_rules, "from_timeframe_group_id") != "") | \
        (col(leg_rules, "to_timeframe_group_id") != "")
    ok = (leg_product >= 0) & ~timeframed if len(leg_product) else np.zeros(0, dtype=bool)
    priority = np.array([to_int(x, 0) if x else 0 for x in col(leg_rules, "rule_priority")],
                        dtype=np.int32)
    return dict(
        route_network=network,
        stop_area_stop=area_stop[area_ok],
        stop_area_area=ns_nonempty(feed, col(stop_areas, "area_id"))[area_ok],
        fare_product_id=np.array([f"{feed}:{p}" for p in pids], dtype=object).reshape(-1),
        fare_product_amount=amount[rows] if len(rows) else np.zeros(0, dtype=np.float64),
        fare_product_currency=col(products, "currency")[rows] if len(rows) else np.zeros(0, dtype=object),
        fare_leg_network=ns_nonempty(feed, col(leg_rules, "network_id"))[ok],
        fare_leg_from_area=ns_nonempty(feed, col(leg_rules, "from_area_id"))[ok],
        fare_leg_to_area=ns_nonempty(feed, col(leg_rules, "to_area_id"))[ok],
        fare_leg_product=leg_product[ok],
        fare_leg_priority=priority[ok],
    )


# ----------------------------------------------------------------------------- translations
def translations(df: pd.DataFrame | None, st: Stops) -> dict[int, dict[str, str]]:
    """translations.txt rows for stops.stop_name (by record_id, or by field_value)."""
    out: dict[int, dict[str, str]] = {}
    if df is None or "translation" not in df.columns:
        return out
    by_name: dict[str, list[int]] = {}
    for i, n in enumerate(st.name):
        by_name.setdefault(n, []).append(i)
    rows = zip(col(df, "table_name"), col(df, "field_name"), col(df, "language"),
               col(df, "translation"), col(df, "record_id"), col(df, "field_value"))
    for table, fld, lang, text, rec, value in rows:
        if table != "stops" or fld != "stop_name" or not lang or not text:
            continue
        targets = [st.index[rec]] if rec in st.index else by_name.get(value, []) if value else []
        for s in targets:
            out.setdefault(s, {})[lang] = text
    return out
