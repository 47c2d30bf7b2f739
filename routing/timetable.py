"""Array timetable the RAPTOR rounds scan: static patterns + per-date expanded trip instances.

Static part (`Patterns`, built once per network):
  a *pattern* is a maximal set of trips with the same stop sequence, the same pickup/drop-off
  flags and the same mode. Everything is CSR over "pattern stops" (pattern p, position i).

Per-date part (`Day`, built lazily per query date and cached):
  trips of the service dates D-days_before .. D+days_after that run, as *instances*
  (trip, service date) with absolute times: seconds since `origin` (a UTC epoch second), so
  trips past midnight, several-day journeys and time zones all become plain integers.
  Instances of one pattern are split into FIFO *day patterns* (no instance overtakes another
  at any stop), each sorted by departure, which lets a round find "the earliest trip I can
  catch at stop i" by binary search. Times are trip-major: time of instance j (within day
  pattern q) at position i is t_dep[q_time_start[q] + j * len(q) + i].

A reversed timetable (`Patterns.reversed()`, `build_day(..., reverse=True)`) lists stops
backwards and negates times, so the same forward kernel answers arrive-by queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numba
import numpy as np

from routing.config import RoutingConfig, route_board_s
from routing.network import PICKUP_NONE, Network

__all__ = ["MODES", "Patterns", "Day", "Expansion", "build_patterns", "build_day", "expand",
           "route_boards", "service_ref_epoch"]

MODES = ("bus", "coach", "rail", "metro", "tram", "ferry", "air", "other")


@dataclass(frozen=True, eq=False)
class Patterns:
    stop_start: np.ndarray      # p -> first row in the pattern-stop arrays; len P+1 (int64)
    stops: np.ndarray           # pattern-stop row -> s (int32)
    board_ok: np.ndarray        # row -> boarding allowed (pickup/drop-off flags; bool)
    alight_ok: np.ndarray       # row -> alighting allowed (bool)
    board_slack: np.ndarray     # row -> default seconds needed at the stop before departure (int32)
    alight_slack: np.ndarray    # row -> default seconds after arrival before free (int32)
    board_fixed: np.ndarray     # row -> station-rule board time or -1 (int32)
    alight_fixed: np.ndarray    # row -> station-rule alight time or -1 (int32)
    mode: np.ndarray            # p -> index into MODES (int8)
    trip_pattern: np.ndarray    # t -> p (int32)
    reverse: bool               # stops listed backwards, times negated (arrive-by)

    @property
    def n_patterns(self) -> int:
        return len(self.mode)

    def reversed(self) -> Patterns:
        """Same patterns with stops backwards; boarding <-> alighting swap roles."""
        order = np.empty(len(self.stops), dtype=np.int64)
        for p in range(self.n_patterns):
            a, b = self.stop_start[p], self.stop_start[p + 1]
            order[a:b] = np.arange(b - 1, a - 1, -1)
        return Patterns(
            stop_start=self.stop_start, stops=self.stops[order],
            board_ok=self.alight_ok[order], alight_ok=self.board_ok[order],
            board_slack=self.alight_slack[order], alight_slack=self.board_slack[order],
            board_fixed=self.alight_fixed[order], alight_fixed=self.board_fixed[order],
            mode=self.mode, trip_pattern=self.trip_pattern, reverse=not self.reverse,
        )


def _station_rules(net: Network, cfg: RoutingConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """s -> (board_s, alight_s, transfer_s) from operator rules on the stop or its parent; -1 none."""
    rules = np.full((3, net.n_stops), -1, dtype=np.int32)
    if not cfg.station_rules:
        return rules[0], rules[1], rules[2]
    index = {sid: i for i, sid in enumerate(net.stop_id)}
    for sid, rule in cfg.station_rules.items():
        s = index.get(sid)
        if s is None:
            continue
        members = np.flatnonzero((net.stop_parent == s) | (np.arange(net.n_stops) == s))
        for row, v in enumerate((rule.board_s, rule.alight_s, rule.transfer_s)):
            if v is not None:
                rules[row, members] = int(v)
    return rules[0], rules[1], rules[2]


def route_boards(net: Network, cfg: RoutingConfig) -> np.ndarray:
    """r -> seconds to be at the stop before a departure of route r: the board time its
    feed's operator set at publish (`Network.route_board_s`), else the defaults by route type
    and mode (`route_board_s`); before station rules and the international-flight time."""
    out = np.array([route_board_s(cfg, int(net.route_type[r]), str(net.route_mode[r]))
                    for r in range(len(net.route_mode))], dtype=np.int32)
    own = net.route_board_s
    if len(own) == len(out):
        out = np.where(own >= 0, own, out).astype(np.int32)
    return out


def build_patterns(net: Network, cfg: RoutingConfig) -> Patterns:
    mode_index = {m: i for i, m in enumerate(MODES)}
    route_mode = np.array([mode_index.get(m, len(MODES) - 1) for m in net.route_mode], dtype=np.int8)
    trip_mode = route_mode[net.trip_route] if net.n_trips else np.zeros(0, np.int8)
    route_board = route_boards(net, cfg)
    trip_board = route_board[net.trip_route] if net.n_trips else np.zeros(0, np.int32)
    start = net.trip_st_start
    keys: dict[bytes, int] = {}
    trip_pattern = np.empty(net.n_trips, dtype=np.int32)
    first_trip: list[int] = []
    stops_b, pick_b, drop_b = net.st_stop, net.st_pickup, net.st_dropoff
    for t in range(net.n_trips):
        a, b = start[t], start[t + 1]
        key = (stops_b[a:b].tobytes() + pick_b[a:b].tobytes() + drop_b[a:b].tobytes()
               + bytes([trip_mode[t]]) + trip_board[t].tobytes())
        p = keys.get(key)
        if p is None:
            p = keys[key] = len(first_trip)
            first_trip.append(t)
        trip_pattern[t] = p
    ft = np.array(first_trip, dtype=np.int64)
    lens = (start[ft + 1] - start[ft]) if len(ft) else np.zeros(0, np.int64)
    stop_start = np.zeros(len(ft) + 1, dtype=np.int64)
    np.cumsum(lens, out=stop_start[1:])
    rows = (np.concatenate([np.arange(start[t], start[t + 1]) for t in ft])
            if len(ft) else np.zeros(0, np.int64))
    stops = net.st_stop[rows].astype(np.int32)
    mode = trip_mode[ft] if len(ft) else np.zeros(0, np.int8)
    row_pattern = np.repeat(np.arange(len(ft)), lens)
    row_mode = mode[row_pattern] if len(ft) else np.zeros(0, np.int8)
    # An international flight: its stops span more than one time zone.
    intl = np.zeros(len(ft), dtype=bool)
    tz = net.stop_tz[stops] if len(stops) else np.zeros(0, np.int16)
    for p in np.flatnonzero(mode == mode_index["air"]):
        intl[p] = len(np.unique(tz[stop_start[p]:stop_start[p + 1]])) > 1
    board_slack = np.zeros(len(rows), dtype=np.int32)
    alight_slack = np.zeros(len(rows), dtype=np.int32)
    if len(rows):
        board_slack[:] = trip_board[ft][row_pattern]
    for m, v in cfg.alight_s.items():
        if m in mode_index:
            alight_slack[row_mode == mode_index[m]] = v
    board_slack[intl[row_pattern] if len(rows) else np.zeros(0, bool)] = cfg.board_international_air_s
    r_board, r_alight, _ = _station_rules(net, cfg)
    return Patterns(
        stop_start=stop_start, stops=stops,
        board_ok=net.st_pickup[rows] != PICKUP_NONE, alight_ok=net.st_dropoff[rows] != PICKUP_NONE,
        board_slack=board_slack, alight_slack=alight_slack,
        board_fixed=r_board[stops], alight_fixed=r_alight[stops],
        mode=mode, trip_pattern=trip_pattern, reverse=False,
    )


@dataclass(frozen=True, eq=False)
class Day:
    query_date: date
    origin: int                 # UTC epoch second that time 0 stands for
    reverse: bool
    q_pattern: np.ndarray       # q -> static pattern p (int32)
    q_inst_start: np.ndarray    # q -> first instance; len Q+1 (int64)
    q_time_start: np.ndarray    # q -> first row in t_arr/t_dep (int64)
    t_arr: np.ndarray           # arrival, seconds since origin (negated if reverse) (int32)
    t_dep: np.ndarray           # departure (int32)
    inst_trip: np.ndarray       # instance -> t (int32)
    inst_date: np.ndarray       # instance -> service date ordinal (int32)
    inst_q: np.ndarray          # instance -> q (int32)
    stop_q_start: np.ndarray    # s -> first row in stop_q/stop_q_pos; len n_stops+1 (int64)
    stop_q: np.ndarray          # row -> q serving s (int32)
    stop_q_pos: np.ndarray      # row -> position of s in q (int32)
    inst_alive: np.ndarray | None = None    # instance -> runs (realtime overlay; None: all)

    @property
    def n_q(self) -> int:
        return len(self.q_pattern)


def service_ref_epoch(d: date, tz: str) -> int:
    """GTFS service-day reference: noon minus 12 h, local time of `tz`, as a UTC epoch."""
    noon = datetime(d.year, d.month, d.day, 12, tzinfo=ZoneInfo(tz))
    return int(noon.timestamp()) - 12 * 3600


@numba.njit(cache=True)
def _fifo_split(order, inst_pat, inst_row, inst_off, pat_len, st_arr, st_dep, reverse):
    """Greedy split of each pattern's instances (sorted by first departure) into FIFO chains."""
    n = len(order)
    sub = np.zeros(n, dtype=np.int32)
    last = np.empty(64, dtype=np.int64)     # last instance of each chain of the current pattern
    n_chains = 0
    prev_pat = -1
    for k in range(n):
        j = order[k]
        p = inst_pat[j]
        if p != prev_pat:
            n_chains = 0
            prev_pat = p
        L = pat_len[p]
        placed = -1
        for c in range(n_chains):
            o = last[c]
            ok = True
            for i in range(L):
                if reverse:
                    a_new = -(st_dep[inst_row[j] + L - 1 - i] + inst_off[j])
                    a_old = -(st_dep[inst_row[o] + L - 1 - i] + inst_off[o])
                    d_new = -(st_arr[inst_row[j] + L - 1 - i] + inst_off[j])
                    d_old = -(st_arr[inst_row[o] + L - 1 - i] + inst_off[o])
                else:
                    a_new = st_arr[inst_row[j] + i] + inst_off[j]
                    a_old = st_arr[inst_row[o] + i] + inst_off[o]
                    d_new = st_dep[inst_row[j] + i] + inst_off[j]
                    d_old = st_dep[inst_row[o] + i] + inst_off[o]
                if a_new < a_old or d_new < d_old:
                    ok = False
                    break
            if ok:
                placed = c
                break
        if placed < 0:
            if n_chains == len(last):
                grown = np.empty(2 * len(last), dtype=np.int64)
                grown[:n_chains] = last[:n_chains]
                last = grown
            placed = n_chains
            n_chains += 1
        last[placed] = j
        sub[j] = placed
    return sub


@numba.njit(cache=True)
def _fill_times(order, inst_row, inst_off, inst_len, time_pos, st_arr, st_dep, t_arr, t_dep,
                reverse):
    for k in range(len(order)):
        j = order[k]
        L = inst_len[j]
        base = time_pos[k]
        for i in range(L):
            if reverse:
                r = inst_row[j] + L - 1 - i
                t_arr[base + i] = -(st_dep[r] + inst_off[j])
                t_dep[base + i] = -(st_arr[r] + inst_off[j])
            else:
                r = inst_row[j] + i
                t_arr[base + i] = st_arr[r] + inst_off[j]
                t_dep[base + i] = st_dep[r] + inst_off[j]


def _instances(net: Network, d: date, before: int, after: int, origin: int):
    trip_tz = net.agency_tz[net.route_agency[net.trip_route]]
    trips, dates, offs = [], [], []
    n_days = net.service_days.shape[1]
    for delta in range(-before, after + 1):
        sd = d + timedelta(days=delta)
        col = sd.toordinal() - net.service_base_date
        if not 0 <= col < n_days:
            continue
        runs = np.flatnonzero(net.service_days[net.trip_service, col])
        if not len(runs):
            continue
        ref = np.array([service_ref_epoch(sd, z) - origin for z in net.timezones], dtype=np.int64)
        trips.append(runs)
        dates.append(np.full(len(runs), sd.toordinal(), dtype=np.int32))
        offs.append(ref[trip_tz[runs]])
    if not trips:
        z = np.zeros(0, np.int64)
        return z, z.astype(np.int32), z
    return np.concatenate(trips), np.concatenate(dates), np.concatenate(offs)


def day_span(cfg: RoutingConfig, reverse: bool, long: bool) -> tuple[int, int]:
    """Service days expanded (before, after) the query date: `long` reaches
    `horizon_days` in the search direction (later for forward, earlier for arrive-by)."""
    before, after = cfg.days_before, cfg.days_after
    if long:
        if reverse:
            # one day more: a departure `horizon_days` before the query time may be a trip of
            # the service day before it, past midnight (its times over 24:00), as the forward
            # expansion's `days_before` covers for the query date
            before = max(before, cfg.horizon_days + 1)
        else:
            after = max(after, cfg.horizon_days)
    return before, after


def build_day(net: Network, pats: Patterns, d: date, cfg: RoutingConfig,
              long: bool = False) -> Day:
    """Expand the trips running around `d` for the direction of `pats` (`day_span`)."""
    before, after = day_span(cfg, pats.reverse, long)
    origin = int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp()) \
        - (before + 1) * 86400
    inst_trip, inst_date, inst_off = _instances(net, d, before, after, origin)
    inst_row = net.trip_st_start[inst_trip].astype(np.int64)
    inst_pat = pats.trip_pattern[inst_trip].astype(np.int64)
    ex = expand(pats, inst_pat, inst_row, inst_off, net.st_arr, net.st_dep)
    order = ex.order
    return Day(
        query_date=d, origin=origin, reverse=pats.reverse,
        q_pattern=ex.q_pattern, q_inst_start=ex.q_inst_start, q_time_start=ex.q_time_start,
        t_arr=ex.t_arr, t_dep=ex.t_dep,
        inst_trip=inst_trip[order].astype(np.int32), inst_date=inst_date[order].astype(np.int32),
        inst_q=ex.inst_q,
        stop_q_start=_stop_q_start(ex.row_stop, net.n_stops), stop_q=ex.row_q[ex.by_stop],
        stop_q_pos=ex.row_pos[ex.by_stop],
    )


@dataclass(frozen=True, eq=False)
class Expansion:
    """Instances grouped into FIFO day patterns (what `build_day` and the realtime overlay
    share). Instance arrays are indexed by position in `order` (sorted instances)."""

    order: np.ndarray           # k -> index of the k-th instance in the caller's arrays
    q_pattern: np.ndarray       # q -> p (int32)
    q_inst_start: np.ndarray    # q -> first k; len Q+1 (int64)
    q_time_start: np.ndarray    # q -> first row in t_arr/t_dep (int64)
    t_arr: np.ndarray           # (int32)
    t_dep: np.ndarray           # (int32)
    inst_q: np.ndarray          # k -> q (int32)
    row_stop: np.ndarray        # (q, position) row -> s, q-major
    row_q: np.ndarray           # row -> q (int32)
    row_pos: np.ndarray         # row -> position (int32)
    by_stop: np.ndarray         # rows sorted by stop (stable)


def expand(pats: Patterns, inst_pat: np.ndarray, inst_row: np.ndarray, inst_off: np.ndarray,
           st_arr: np.ndarray, st_dep: np.ndarray) -> Expansion:
    """Instances (pattern, first row in st_arr/st_dep, offset to add to those times) split
    into FIFO day patterns sorted by departure, times laid out trip-major."""
    reverse = pats.reverse
    pat_len = np.diff(pats.stop_start)
    inst_len = pat_len[inst_pat] if len(inst_pat) else np.zeros(0, np.int64)
    if reverse:
        key_time = -(st_arr[inst_row + inst_len - 1] + inst_off)
    else:
        key_time = st_dep[inst_row] + inst_off
    order = np.lexsort((key_time, inst_pat))
    sub = _fifo_split(order, inst_pat, inst_row, inst_off, pat_len, st_arr, st_dep, reverse)
    order = np.lexsort((key_time, sub, inst_pat))       # by pattern, chain, departure
    qkey = inst_pat[order] * 1_000_000 + sub[order]
    new_q = np.ones(len(order), dtype=bool)
    if len(order):
        new_q[1:] = qkey[1:] != qkey[:-1]
    q_first = np.flatnonzero(new_q)
    q_inst_start = np.append(q_first, len(order)).astype(np.int64)
    q_pattern = inst_pat[order][q_first].astype(np.int32)
    lens_sorted = inst_len[order]
    time_pos = np.zeros(len(order) + 1, dtype=np.int64)
    np.cumsum(lens_sorted, out=time_pos[1:])
    t_arr = np.empty(time_pos[-1], dtype=np.int32)
    t_dep = np.empty(time_pos[-1], dtype=np.int32)
    _fill_times(order, inst_row, inst_off, inst_len, time_pos, st_arr, st_dep, t_arr, t_dep,
                reverse)
    q_id = np.cumsum(new_q) - 1
    # stop -> day patterns serving it, with the position
    q_len = pat_len[q_pattern]
    rows = (np.concatenate([np.arange(pats.stop_start[p], pats.stop_start[p + 1]) for p in q_pattern])
            if len(q_pattern) else np.zeros(0, np.int64))
    row_q = np.repeat(np.arange(len(q_pattern), dtype=np.int32), q_len)
    row_pos = (np.arange(len(rows)) - np.repeat(np.cumsum(q_len) - q_len, q_len)).astype(np.int32)
    row_stop = pats.stops[rows]
    return Expansion(order=order, q_pattern=q_pattern, q_inst_start=q_inst_start,
                     q_time_start=time_pos[q_first], t_arr=t_arr, t_dep=t_dep,
                     inst_q=q_id.astype(np.int32), row_stop=row_stop, row_q=row_q,
                     row_pos=row_pos, by_stop=np.argsort(row_stop, kind="stable"))


def _stop_q_start(row_stop: np.ndarray, n_stops: int) -> np.ndarray:
    start = np.zeros(n_stops + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_stop, minlength=n_stops), out=start[1:])
    return start
