"""Compile one GTFS feed (root file name -> bytes) into a `routing.network.Network`.

Vectorized: stop_times.txt, the one big file, goes through a numpy reader
(feeds.compile_csv: fields found from comma/newline byte positions, times and integers
parsed across all rows at once, ids factorized by hashing their bytes) — no Python object
per row; a file it cannot take (quotes, ragged rows, malformed times) goes to pandas' C
reader instead (ids as categoricals, times factorized then parsed). Every other file is
small and read by pandas as text.

What it normalizes (the validator reports problems; compile never fails on them quietly,
it takes the lenient reading and keeps going):
  * ids are namespaced "{feed}:{id}", zone ids too (fares compare them within a feed);
  * times "H:MM:SS"/"HH:MM:SS", past 24:00, blank intermediate times interpolated linearly
    along the straight-line distance between stops (by stop count when the stops coincide);
    then made non-decreasing along each trip (arr_i >= dep_{i-1}, dep_i >= arr_i);
  * trips with fewer than two stop times are dropped (nothing can be ridden);
  * frequencies.txt (exact_times 0 and 1): runs at start_time + k * headway_secs
    while < end_time, each a concrete trip "{feed}:{trip_id}@{HH:MM:SS}";
    the template trip itself is not kept;
  * calendar.txt and/or calendar_dates.txt -> a (service, day) boolean matrix;
  * unknown enum values (e.g. cobblinc's -999) read as the field's default.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from feeds.errors import CompileError
from feeds.gtfs import agencies as gtfs_agencies
from feeds.gtfs import calendar, fares, stop_times, stops, transfers, translations, trips
from feeds.gtfs.values import enum, ns_nonempty, to_int
from feeds.modes import mode_of
from routing.network import Network

__all__ = ["compile_feed", "CompileError", "MAX_SERVICE_DAYS"]

# A calendar running "until 2099" must not allocate decades of days.
MAX_SERVICE_DAYS = 3 * 366


def _read(files: Mapping[str, bytes], name: str, *, dtypes: dict | None = None,
          usecols: tuple[str, ...] | None = None) -> pd.DataFrame | None:
    data = files.get(name)
    if data is None or not data.strip():
        return None
    kw: dict = {}
    if usecols is not None:
        wanted = set(usecols)
        kw["usecols"] = lambda c: c.strip() in wanted
    try:
        df = pd.read_csv(io.BytesIO(data), dtype=_dtypes(data, dtypes) if dtypes else str,
                         keep_default_na=False, na_filter=False, encoding="utf-8-sig",
                         skipinitialspace=False, **kw)
    except pd.errors.EmptyDataError:
        return None
    except UnicodeDecodeError as e:
        raise CompileError(f"{name} is not UTF-8", file=name) from e
    df.columns = [c.strip() for c in df.columns]
    return df


def _dtypes(data: bytes, dtypes: dict) -> dict:
    """`dtypes` keyed by each column's name as pandas reads it from the header (it may carry
    spaces; a quoted name loses its quotes); any other column is text, never inferred."""
    header = data.split(b"\n", 1)[0].decode("utf-8-sig", "replace").rstrip("\r")
    names = [h[1:-1] if len(h) >= 2 and h[0] == h[-1] == '"' else h for h in header.split(",")]
    return defaultdict(lambda: str, {n: dtypes[n.strip()] for n in names if n.strip() in dtypes})


def _shapes(df: pd.DataFrame | None, trip_shape_id: np.ndarray, src: np.ndarray) -> dict:
    """shapes.txt as CSR (points in shape_pt_sequence order) and each trip's shape (-1: none);
    rows with unparsable coordinates or sequence are dropped."""
    need = ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence")
    if df is None or any(c not in df.columns for c in need):
        return {"trip_shape": np.full(len(src), -1, dtype=np.int32)}
    ids = df["shape_id"].str.strip().to_numpy(dtype=object)
    lat = pd.to_numeric(df["shape_pt_lat"], errors="coerce").to_numpy(dtype=np.float64)
    lon = pd.to_numeric(df["shape_pt_lon"], errors="coerce").to_numpy(dtype=np.float64)
    seq = pd.to_numeric(df["shape_pt_sequence"], errors="coerce").to_numpy(dtype=np.float64)
    ok = (np.isfinite(lat) & np.isfinite(lon) & np.isfinite(seq) & (np.abs(lat) <= 90)
          & (np.abs(lon) <= 180) & (ids != ""))
    ids, lat, lon, seq = ids[ok], lat[ok], lon[ok], seq[ok]
    names, code = np.unique(ids.astype(str), return_inverse=True) if len(ids) else (np.array([], dtype=str), np.zeros(0, dtype=np.int64))
    order = np.lexsort((seq, code))
    start = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(np.bincount(code, minlength=len(names)), out=start[1:])
    index = {str(n): i for i, n in enumerate(names)}
    trip_shape = np.array([index.get(str(x), -1) for x in trip_shape_id], dtype=np.int32)
    return {"shape_start": start, "shape_lat": lat[order], "shape_lon": lon[order],
            "trip_shape": trip_shape[src] if len(trip_shape) else np.full(len(src), -1, np.int32)}


def _col(df: pd.DataFrame | None, name: str, n: int | None = None) -> np.ndarray:
    """Column as an object array of stripped strings ("" when the column is missing)."""
    if df is None:
        return np.array([], dtype=object) if n is None else np.full(n, "", dtype=object)
    if name not in df.columns:
        return np.full(len(df), "", dtype=object)
    return df[name].str.strip().to_numpy(dtype=object)


def _ns(feed: str, ids: np.ndarray) -> np.ndarray:
    out = np.empty(len(ids), dtype=object)
    out[:] = [f"{feed}:{i}" for i in ids]
    return out


def _index(ids: np.ndarray) -> dict[str, int]:
    return {s: i for i, s in enumerate(ids)}


def compile_feed(files: Mapping[str, bytes], *, feed: str, version: str,
                 board_times: Mapping[int, int] | None = None) -> Network:
    """Compile a feed's files (root name -> bytes, e.g. from `feeds.reader`) into a Network.
    `board_times`: the operator's board time per route_type (exact, else the extended type's
    family t//100*100), over the planner's defaults for this feed's routes."""
    tzs = gtfs_agencies.TzTable()
    agencies = gtfs_agencies.agencies(_read(files, "agency.txt"), feed, tzs)
    stops_ = stops.stops(_read(files, "stops.txt"), feed, tzs, agencies.default_tz)
    routes_df = _read(files, "routes.txt")
    trips_df = _read(files, "trips.txt")
    if routes_df is None or trips_df is None:
        raise CompileError("routes.txt and trips.txt are required")
    route_ids = _col(routes_df, "route_id")
    route_index = _index(route_ids)
    route_agency = agencies.lookup(_col(routes_df, "agency_id"))

    # services: calendar + calendar_dates, plus any id only trips name
    services = calendar.services(_read(files, "calendar.txt"), _read(files, "calendar_dates.txt"),
                           _col(trips_df, "service_id"), MAX_SERVICE_DAYS)
    service_index = _index(services.ids)

    trip_raw = _col(trips_df, "trip_id")
    trip_route = np.array([route_index.get(r, -1) for r in _col(trips_df, "route_id")],
                          dtype=np.int32)
    trip_service = np.array([service_index[s] for s in _col(trips_df, "service_id")],
                            dtype=np.int32)

    trip_index = _index(trip_raw)
    data = files.get("stop_times.txt") or b""
    cols = stop_times.st_columns_fast(data, trip_index, stops_.index) if data.strip() else None
    if cols is None:   # quotes, ragged rows, odd times...: pandas reads it leniently
        cols = stop_times.st_columns_pandas(
            _read(files, "stop_times.txt", dtypes=stop_times.ST_DTYPES, usecols=stop_times.ST_COLS),
            trip_index, stops_.index)
    st = stop_times.stop_times(cols, stops_.lat, stops_.lon)
    del cols
    if st is None:
        raise CompileError("stop_times.txt has no usable rows", file="stop_times.txt")

    freq = trips.frequencies(_read(files, "frequencies.txt"), trip_index)
    runs = trips.expand_trips(st, freq, len(trip_raw), trip_route >= 0)

    # mode per route, with the intercity rule fed by the mean stop spacing
    n_routes = len(route_ids)
    hop_route = trip_route[st.row_trip[1:]]
    same_trip = st.row_trip[1:] == st.row_trip[:-1]
    sel = same_trip & (hop_route >= 0)
    dist_sum = np.bincount(hop_route[sel], weights=st.hop_m[sel], minlength=n_routes)
    hop_cnt = np.bincount(hop_route[sel], minlength=n_routes)
    route_type = np.array([to_int(x, 3) for x in _col(routes_df, "route_type")],
                          dtype=np.int16)
    short = _col(routes_df, "route_short_name")
    long_ = _col(routes_df, "route_long_name")
    route_mode = np.empty(n_routes, dtype=object)
    for r in range(n_routes):
        spacing = dist_sum[r] / hop_cnt[r] if hop_cnt[r] else None
        names = (short[r], long_[r], agencies.name[route_agency[r]] if len(agencies.name) else "")
        route_mode[r] = mode_of(int(route_type[r]), names=names, stop_spacing_m=spacing)

    tr = transfers.transfers(_read(files, "transfers.txt"), stops_.index)
    fares_v1 = fares.fares(_read(files, "fare_attributes.txt"), _read(files, "fare_rules.txt"),
                     feed, agencies, route_index)
    fares_v2 = fares.fares_v2(routes_df, _read(files, "route_networks.txt"),
                           _read(files, "stop_areas.txt"), _read(files, "fare_products.txt"),
                           _read(files, "fare_leg_rules.txt"), feed, route_index, stops_.index)
    tr_df = _read(files, "translations.txt")
    i18n = translations.translations(tr_df, stops_)

    src = runs.source  # t -> row of trips.txt
    trip_ids = _ns(feed, trip_raw[src])
    if runs.suffix is not None:
        has = runs.suffix != ""
        trip_ids[has] = trip_ids[has] + runs.suffix[has]
    return Network(
        timezones=tzs.names(), feeds=(feed,), feed_versions=(version,),
        agency_id=_ns(feed, agencies.ids), agency_name=agencies.name,
        agency_tz=agencies.tz, agency_feed=np.zeros(len(agencies.ids), dtype=np.int16),
        stop_id=_ns(feed, stops_.ids), stop_name=stops_.name, stop_lat=stops_.lat,
        stop_lon=stops_.lon, stop_parent=stops_.parent, stop_location_type=stops_.location_type,
        stop_tz=stops_.tz, stop_wheelchair=stops_.wheelchair,
        stop_zone=ns_nonempty(feed, stops_.zone),
        route_id=_ns(feed, route_ids), route_short_name=short, route_long_name=long_,
        route_type=route_type, route_mode=route_mode, route_agency=route_agency,
        service_id=_ns(feed, services.ids), service_base_date=services.base,
        service_days=services.days,
        trip_id=trip_ids, trip_route=trip_route[src].astype(np.int32),
        trip_service=trip_service[src].astype(np.int32),
        trip_headsign=_col(trips_df, "trip_headsign")[src],
        trip_short_name=_col(trips_df, "trip_short_name")[src],
        **_shapes(_read(files, "shapes.txt"), _col(trips_df, "shape_id"), src),
        trip_wheelchair=enum(_col(trips_df, "wheelchair_accessible"), 2)[src],
        trip_st_start=runs.st_start, st_stop=runs.st_stop, st_arr=runs.st_arr,
        st_dep=runs.st_dep, st_pickup=runs.st_pickup, st_dropoff=runs.st_dropoff,
        st_seq=runs.st_seq,
        transfer_from=tr[0], transfer_to=tr[1], transfer_type=tr[2], transfer_min_s=tr[3],
        **fares_v1,
        **fares_v2,
        stop_names_i18n=i18n,
        route_board_s=route_board_times(route_type, board_times),
        route_names_i18n=translations.field_translations(
            tr_df, "routes", ("route_short_name", "route_long_name"), route_ids,
            {"route_short_name": short, "route_long_name": long_}),
        trip_headsign_i18n=translations.field_translations(
            tr_df, "trips", ("trip_headsign",), trip_raw,
            {"trip_headsign": _col(trips_df, "trip_headsign")})[src],
    )


def route_board_times(route_type: np.ndarray, board_times: Mapping[int, int] | None) -> np.ndarray:
    """r -> the operator's board time for its route_type (exact, else its family), -1 none."""
    out = np.full(len(route_type), -1, dtype=np.int32)
    for r, t in enumerate(route_type.tolist() if board_times else ()):
        t = int(t)
        v = board_times.get(t)
        if v is None and t >= 100:
            v = board_times.get(t // 100 * 100)
        if v is not None:
            out[r] = int(v)
    return out


