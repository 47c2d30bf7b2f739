"""The network the planner searches: one or more GTFS feeds, normalized, columnar.

This is the contract between `feeds/` (which compiles each GTFS feed version into a
`Network`) and the rest of `routing/` (which merges the active ones and builds its search
structures from the merged `Network`). Plain numpy arrays, no I/O, no pandas.

Indices are dense ints: stop s in [0, n_stops), route r, trip t, service v, agency a,
timezone z. Every id string is namespaced `"{feed}:{gtfs_id}"` so feeds never collide.

Times of day (`st_arr`, `st_dep`) are seconds since the *service day reference* of the
trip's agency time zone: GTFS "noon minus 12 h" of the service date, so 25:10:00 is
90600 and DST days come out right. Converting to absolute time is routing's job (per
query date), using `timezones[trip_tz[t]]`.

Frequency-based trips (frequencies.txt) are expanded at compile time into one concrete
trip per departure; their `trip_id` is `"{feed}:{trip_id}@{HH:MM:SS}"` (start time of
that run) so an itinerary can still name the GTFS trip.

Helpers: `merge(networks)` (one network from the active feeds: indices shifted, time
zones unified, service days re-based on the earliest base date), `to_bytes(net)` /
`from_bytes(b)` (pickle-free: .npz of the numeric arrays + one JSON member for strings and
scalars; what feeds.store keeps per version), `empty()`.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, fields

import numpy as np

__all__ = ["Network", "PICKUP_REGULAR", "PICKUP_NONE", "empty", "merge", "to_bytes", "from_bytes"]


def _none(dtype: type) -> np.ndarray:
    return np.zeros(0, dtype=dtype)

# pickup_type / drop_off_type values (GTFS): 0 regular, 1 none, 2 phone, 3 coordinate.
PICKUP_REGULAR = 0
PICKUP_NONE = 1


@dataclass(frozen=True, eq=False)
class Network:
    # --- time zones and feeds ------------------------------------------------------------
    timezones: tuple[str, ...]          # z -> IANA name, e.g. "Asia/Shanghai"
    feeds: tuple[str, ...]              # f -> feed name (the namespace before ':')
    feed_versions: tuple[str, ...]      # f -> version id of that feed (for itinerary ids)

    # --- agencies (operators) -------------------------------------------------------------
    agency_id: np.ndarray               # a -> "feed:agency_id" (object)
    agency_name: np.ndarray             # a -> display name (object)
    agency_tz: np.ndarray               # a -> z (int16)
    agency_feed: np.ndarray             # a -> f (int16)

    # --- stops ------------------------------------------------------------------------------
    stop_id: np.ndarray                 # s -> "feed:stop_id" (object)
    stop_name: np.ndarray               # s -> name as in the feed (object)
    stop_lat: np.ndarray                # s -> WGS84 latitude (float64)
    stop_lon: np.ndarray                # s -> WGS84 longitude (float64)
    stop_parent: np.ndarray             # s -> station s' (parent_station) or -1 (int32)
    stop_location_type: np.ndarray      # s -> GTFS location_type 0..4 (int8)
    stop_tz: np.ndarray                 # s -> z: stop_timezone, else its feed's agency tz (int16)
    stop_wheelchair: np.ndarray         # s -> 0 unknown/inherit, 1 accessible, 2 not (int8)
    stop_zone: np.ndarray               # s -> "feed:zone_id" or "" (object; fares)

    # --- routes -----------------------------------------------------------------------------
    route_id: np.ndarray                # r -> "feed:route_id" (object)
    route_short_name: np.ndarray        # r -> (object)
    route_long_name: np.ndarray         # r -> (object)
    route_type: np.ndarray              # r -> raw GTFS route_type, basic or extended (int16)
    route_mode: np.ndarray              # r -> one of bus coach rail metro tram ferry air other (object)
    route_agency: np.ndarray            # r -> a (int32)

    # --- services (calendar.txt + calendar_dates.txt, resolved) ----------------------------
    service_id: np.ndarray              # v -> "feed:service_id" (object)
    service_base_date: int              # date.toordinal() of column 0 of service_days
    service_days: np.ndarray            # (v, day) -> runs that service date (bool, 2-D)

    # --- trips and their stop times (CSR) ---------------------------------------------------
    trip_id: np.ndarray                 # t -> "feed:trip_id" (object)
    trip_route: np.ndarray              # t -> r (int32)
    trip_service: np.ndarray            # t -> v (int32)
    trip_headsign: np.ndarray           # t -> (object)
    trip_wheelchair: np.ndarray         # t -> 0 unknown, 1 accessible, 2 not (int8)
    trip_st_start: np.ndarray           # t -> first row in st_* ; len n_trips+1 (int64)
    st_stop: np.ndarray                 # row -> s, rows of a trip in stop_sequence order (int32)
    st_arr: np.ndarray                  # row -> arrival, s since service-day reference (int32)
    st_dep: np.ndarray                  # row -> departure, same reference (int32)
    st_pickup: np.ndarray               # row -> pickup_type (int8)
    st_dropoff: np.ndarray              # row -> drop_off_type (int8)

    # --- transfers.txt (stop to stop; trip/route-specific rows are dropped) -----------------
    transfer_from: np.ndarray           # k -> s (int32)
    transfer_to: np.ndarray             # k -> s (int32)
    transfer_type: np.ndarray           # k -> 0..3 (int8); 3 = not possible
    transfer_min_s: np.ndarray          # k -> min_transfer_time or -1 (int32)

    # --- fares (fare_attributes + fare_rules, v1); empty arrays when the feed has none ------
    fare_id: np.ndarray                 # q -> "feed:fare_id" (object)
    fare_price: np.ndarray              # q -> price (float64)
    fare_currency: np.ndarray           # q -> ISO 4217 (object)
    fare_agency: np.ndarray             # q -> a or -1 (int32)
    fare_rule_fare: np.ndarray          # j -> q (int32)
    fare_rule_route: np.ndarray         # j -> r or -1 (int32)
    fare_rule_origin: np.ndarray        # j -> "feed:zone_id" or "" (object)
    fare_rule_destination: np.ndarray   # j -> "feed:zone_id" or "" (object)

    # --- fares v2 (fare_products + fare_leg_rules, stop_areas, networks); empty when none -----
    # Optional (default empty) so networks built by hand or stored before v2 still load.
    route_network: np.ndarray = field(default_factory=lambda: _none(object))  # r -> "feed:network_id" or ""
    stop_area_stop: np.ndarray = field(default_factory=lambda: _none(np.int32))  # m -> s (stop_areas.txt)
    stop_area_area: np.ndarray = field(default_factory=lambda: _none(object))  # m -> "feed:area_id"
    fare_product_id: np.ndarray = field(default_factory=lambda: _none(object))  # p -> "feed:fare_product_id"
    fare_product_amount: np.ndarray = field(default_factory=lambda: _none(np.float64))  # p -> amount
    fare_product_currency: np.ndarray = field(default_factory=lambda: _none(object))  # p -> ISO 4217
    fare_leg_network: np.ndarray = field(default_factory=lambda: _none(object))  # l -> network or "" (any)
    fare_leg_from_area: np.ndarray = field(default_factory=lambda: _none(object))  # l -> area or "" (any)
    fare_leg_to_area: np.ndarray = field(default_factory=lambda: _none(object))  # l -> area or "" (any)
    fare_leg_product: np.ndarray = field(default_factory=lambda: _none(np.int32))  # l -> p
    fare_leg_priority: np.ndarray = field(default_factory=lambda: _none(np.int32))  # l -> rule_priority

    # GTFS stop_sequence of each stop_times row, which GTFS-Realtime names stops by. Optional
    # (empty: absent) so networks stored before it still load; -1 in a row: unknown.
    st_seq: np.ndarray = field(default_factory=lambda: _none(np.int32))  # row -> stop_sequence

    # trips.txt trip_short_name (train or flight number, "" when none). Optional (empty:
    # absent) so networks stored before it still load.
    trip_short_name: np.ndarray = field(default_factory=lambda: _none(object))  # t -> str

    # shapes.txt (CSR of points per shape) and each trip's shape. Optional (empty: absent)
    # so networks stored before them still load; trip_shape -1: the trip has no shape.
    shape_start: np.ndarray = field(default_factory=lambda: _none(np.int64))  # h -> first point; len n_shapes+1
    shape_lat: np.ndarray = field(default_factory=lambda: _none(np.float64))  # point -> latitude
    shape_lon: np.ndarray = field(default_factory=lambda: _none(np.float64))  # point -> longitude
    trip_shape: np.ndarray = field(default_factory=lambda: _none(np.int32))   # t -> h or -1

    # Board times the feed's operator set at publish (POST /v1/feeds?board_times=): seconds to
    # be at the stop before a departure of route r, -1 = the planner's defaults. Optional
    # (empty: absent) so networks stored before it still load.
    route_board_s: np.ndarray = field(default_factory=lambda: _none(np.int32))  # r -> s or -1

    # translations.txt of route names and headsigns: a JSON object {field: {lang: text}} per
    # route / trip, "" when none (routing.names). Optional (empty: absent) so networks stored
    # before them still load.
    route_names_i18n: np.ndarray = field(default_factory=lambda: _none(object))  # r -> JSON or ""
    trip_headsign_i18n: np.ndarray = field(default_factory=lambda: _none(object))  # t -> JSON or ""

    # Names in other languages for search (translations.txt, demo data): s -> {lang: name}.
    stop_names_i18n: dict[int, dict[str, str]] = field(default_factory=dict)

    @property
    def n_stops(self) -> int:
        return len(self.stop_id)

    @property
    def n_trips(self) -> int:
        return len(self.trip_id)

    @property
    def n_routes(self) -> int:
        return len(self.route_id)


# --- building, merging and storing networks --------------------------------------------------
# Zone ids are namespaced like every other id ("feed:zone", "" when none) so a fare rule of
# one feed never matches another feed's stops.

_FORMAT = "maas-network/1"

# Index columns and what they point into, for merge(): field -> the count it is offset by.
_OFFSET_BY = {
    "stop_parent": "stops", "route_agency": "agencies", "trip_route": "routes",
    "trip_service": "services", "st_stop": "stops", "transfer_from": "stops",
    "transfer_to": "stops", "fare_agency": "agencies", "fare_rule_fare": "fares",
    "fare_rule_route": "routes", "stop_area_stop": "stops", "fare_leg_product": "fare_products",
    "trip_shape": "shapes",
}
_TZ_FIELDS = ("agency_tz", "stop_tz")
_SCALARS = ("timezones", "feeds", "feed_versions", "service_base_date", "stop_names_i18n")


def _array_fields() -> list[str]:
    return [f.name for f in fields(Network) if f.name not in _SCALARS]


def empty() -> Network:
    """A network with nothing in it (no active feed yet)."""
    dtypes = {
        "agency_tz": np.int16, "agency_feed": np.int16, "stop_lat": np.float64,
        "stop_lon": np.float64, "stop_parent": np.int32, "stop_location_type": np.int8,
        "stop_tz": np.int16, "stop_wheelchair": np.int8, "route_type": np.int16,
        "route_agency": np.int32, "trip_route": np.int32, "trip_service": np.int32,
        "trip_wheelchair": np.int8, "st_stop": np.int32, "st_arr": np.int32, "st_dep": np.int32,
        "st_pickup": np.int8, "st_dropoff": np.int8, "transfer_from": np.int32,
        "transfer_to": np.int32, "transfer_type": np.int8, "transfer_min_s": np.int32,
        "fare_price": np.float64, "fare_agency": np.int32, "fare_rule_fare": np.int32,
        "fare_rule_route": np.int32, "stop_area_stop": np.int32, "fare_product_amount": np.float64,
        "fare_leg_product": np.int32, "fare_leg_priority": np.int32, "st_seq": np.int32,
        "shape_start": np.int64, "shape_lat": np.float64, "shape_lon": np.float64,
        "trip_shape": np.int32, "route_board_s": np.int32,
    }
    arrays = {name: np.zeros(0, dtype=dtypes.get(name, object)) for name in _array_fields()}
    arrays["trip_st_start"] = np.zeros(1, dtype=np.int64)
    arrays["service_days"] = np.zeros((0, 0), dtype=bool)
    return Network(timezones=(), feeds=(), feed_versions=(), service_base_date=0, **arrays)


def _counts(n: Network) -> dict[str, int]:
    return {"stops": n.n_stops, "agencies": len(n.agency_id), "routes": n.n_routes,
            "services": len(n.service_id), "fares": len(n.fare_id), "rows": len(n.st_stop),
            "feeds": len(n.feeds), "fare_products": len(n.fare_product_id),
            "shapes": max(0, len(n.shape_start) - 1), "shape_points": len(n.shape_lat)}


def merge(networks: list[Network] | tuple[Network, ...]) -> Network:
    """One network from several (one per feed): arrays concatenated, every index shifted by
    the sizes of the networks before it (-1 stays -1), time zones unified, and service days
    re-based on the earliest `service_base_date` (the matrix padded with False)."""
    nets = [n for n in networks if n.feeds]
    if not nets:
        return empty()
    if len(nets) == 1:
        return nets[0]
    timezones = tuple(dict.fromkeys(z for n in nets for z in n.timezones))
    tz_index = {z: i for i, z in enumerate(timezones)}
    with_days = [n for n in nets if n.service_days.shape[1] > 0]
    base = min((n.service_base_date for n in with_days), default=nets[0].service_base_date)
    width = max((n.service_base_date - base + n.service_days.shape[1] for n in with_days),
                default=0)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in _array_fields()}
    off = dict.fromkeys(_counts(nets[0]), 0)
    i18n: dict[int, dict[str, str]] = {}
    for n in nets:
        tz_map = np.array([tz_index[z] for z in n.timezones], dtype=np.int16)
        for name in parts:
            a = getattr(n, name)
            if name == "route_network" and len(a) != n.n_routes:  # a network without v2 fares
                a = np.full(n.n_routes, "", dtype=object)
            if name == "st_seq" and len(a) != len(n.st_stop):  # stored before st_seq
                a = np.full(len(n.st_stop), -1, dtype=np.int32)
            if name == "trip_short_name" and len(a) != n.n_trips:  # stored before it
                a = np.full(n.n_trips, "", dtype=object)
            if name == "trip_shape" and len(a) != n.n_trips:  # stored before shapes
                a = np.full(n.n_trips, -1, dtype=np.int32)
            if name == "route_names_i18n" and len(a) != n.n_routes:  # stored before it
                a = np.full(n.n_routes, "", dtype=object)
            if name == "trip_headsign_i18n" and len(a) != n.n_trips:  # stored before it
                a = np.full(n.n_trips, "", dtype=object)
            if name == "route_board_s" and len(a) != n.n_routes:  # stored before it
                a = np.full(n.n_routes, -1, dtype=np.int32)
            if name == "shape_start" and len(a) == 0:
                a = np.zeros(1, dtype=np.int64)
            if name in _OFFSET_BY:
                a = np.where(a >= 0, a + off[_OFFSET_BY[name]], a).astype(a.dtype)
            elif name in _TZ_FIELDS:
                a = tz_map[a] if len(a) else a
            elif name == "agency_feed":
                a = (a + off["feeds"]).astype(a.dtype)
            elif name == "trip_st_start":
                a = a[1:] + off["rows"] if parts[name] else a
            elif name == "shape_start":
                a = a[1:] + off["shape_points"] if parts[name] else a
            elif name == "service_days":
                pad = np.zeros((a.shape[0], width), dtype=bool)
                lo = n.service_base_date - base
                pad[:, lo:lo + a.shape[1]] = a
                a = pad
            parts[name].append(a)
        i18n.update({s + off["stops"]: names for s, names in n.stop_names_i18n.items()})
        off = {k: off[k] + v for k, v in _counts(n).items()}
    arrays = {name: np.concatenate(p) for name, p in parts.items()}
    return Network(
        timezones=timezones, feeds=tuple(f for n in nets for f in n.feeds),
        feed_versions=tuple(v for n in nets for v in n.feed_versions),
        service_base_date=base, stop_names_i18n=i18n, **arrays)


def to_bytes(net: Network) -> bytes:
    """Pickle-free serialization: an .npz of the numeric arrays plus one JSON member
    (`__meta__`) with the scalars, the object (string) arrays and the translated names."""
    meta: dict = {"format": _FORMAT, "timezones": list(net.timezones), "feeds": list(net.feeds),
                  "feed_versions": list(net.feed_versions),
                  "service_base_date": int(net.service_base_date),
                  "stop_names_i18n": [[int(s), d] for s, d in net.stop_names_i18n.items()],
                  "objects": {}}
    arrays: dict[str, np.ndarray] = {}
    for name in _array_fields():
        a = getattr(net, name)
        if a.dtype == object:
            meta["objects"][name] = [str(x) for x in a]
        else:
            arrays[name] = a
    arrays["__meta__"] = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def from_bytes(data: bytes) -> Network:
    """Inverse of `to_bytes` (never unpickles)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        if "__meta__" not in z.files:
            raise ValueError(f"not a {_FORMAT} blob: no __meta__ member")
        meta = json.loads(z["__meta__"].tobytes().decode())
        if meta.get("format") != _FORMAT:
            raise ValueError(f"not a {_FORMAT} blob: {meta.get('format')!r}")
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
    for name, values in meta["objects"].items():
        a = np.empty(len(values), dtype=object)
        a[:] = values
        arrays[name] = a
    return Network(
        timezones=tuple(meta["timezones"]), feeds=tuple(meta["feeds"]),
        feed_versions=tuple(meta["feed_versions"]),
        service_base_date=meta["service_base_date"],
        stop_names_i18n={int(s): d for s, d in meta["stop_names_i18n"]}, **arrays)
