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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Network", "PICKUP_REGULAR", "PICKUP_NONE"]

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
    stop_zone: np.ndarray               # s -> GTFS zone_id or "" (object; fares)

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
    fare_rule_origin: np.ndarray        # j -> zone id or "" (object)
    fare_rule_destination: np.ndarray   # j -> zone id or "" (object)

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
