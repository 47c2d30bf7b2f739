"""The journey planner: `Planner.build(network, config)` once, then `plan(query)` many times.

Build (pure, a few seconds on a province): patterns (forward and reversed), footpaths
(networkx), stop lookups. Expanded days are built on first use and cached (LRU). Querying
is thread-safe: the only mutable state is a pool of per-query scratch arrays and the day
cache, both behind a lock.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np

from routing import raptor
from routing.config import RoutingConfig
from routing.errors import DateOutOfService, InvalidQuery, LegNotFeasible, UnknownStop
from routing.footpaths import Footpaths, build_footpaths, near_stops
from routing.itinerary import Itinerary, LegKey
from routing.journeys import Catalog, Ride, assemble
from routing.network import Network
from routing.timetable import MODES, Day, Patterns, build_day, build_patterns, service_ref_epoch

__all__ = ["Planner", "Query", "Place"]

Place = str | tuple[float, float]      # "feed:stop_id" or (lat, lon)


@dataclass(frozen=True)
class Query:
    origin: Place
    destination: Place
    date: date                          # local date at the origin (destination if arrive_by)
    time_s: int                         # seconds after local midnight of that date
    arrive_by: bool = False
    window_s: int = 0                   # > 0: range query over [time, time + window]
    modes: frozenset[str] | None = None
    max_transfers: int | None = None
    wheelchair: bool = False
    max_walk_m: float | None = None     # 0: no walking between different stops (transfers.txt only)
    min_transfer_s: int | None = None   # replaces every default connection time
    limit: int | None = None


@dataclass(frozen=True, eq=False)
class _Search:
    """Everything one direction of a query needs, resolved."""

    day: Day
    pats: Patterns
    fps: Footpaths
    board_slack: np.ndarray
    alight_slack: np.ndarray
    q_ok: np.ndarray
    inst_ok: np.ndarray
    stop_ok: np.ndarray
    min_conn: int
    max_walk: int
    rounds: int


class Planner:
    def __init__(self, network: Network, config: RoutingConfig, fwd: Patterns, fps: Footpaths):
        self.network = network
        self.config = config
        self.fwd = fwd
        self.rev = fwd.reversed()
        self.fps = fps
        self.fps_rev = fps.transposed()
        self.versions = tuple(zip(network.feeds, network.feed_versions))
        self.stop_index = {sid: i for i, sid in enumerate(network.stop_id)}
        self.trip_index = {tid: i for i, tid in enumerate(network.trip_id)}
        par = network.stop_parent
        self.children: dict[int, list[int]] = {}
        for c in np.flatnonzero(par >= 0).tolist():
            self.children.setdefault(int(par[c]), []).append(c)
        wc = network.stop_wheelchair.copy()
        inherit = (wc == 0) & (par >= 0)
        wc[inherit] = network.stop_wheelchair[par[inherit]]
        self.stop_accessible = wc == 1
        self.all_stops_ok = np.ones(network.n_stops, dtype=bool)
        runs = np.flatnonzero(network.service_days.any(axis=0)) if network.service_days.size else []
        base = network.service_base_date
        self.valid_from = date.fromordinal(base + int(runs[0])) if len(runs) else None
        self.valid_to = date.fromordinal(base + int(runs[-1])) if len(runs) else None
        self.trip_tz = network.agency_tz[network.route_agency[network.trip_route]]
        self._days: OrderedDict[tuple[date, bool], Day] = OrderedDict()
        self._day_locks: dict[tuple[date, bool], threading.Lock] = {}
        self._lock = threading.Lock()
        self._pool: list[raptor.Scratch] = []
        self._wheel_cache: dict[tuple, object] = {}
        self._reach_cache: dict[tuple, dict[int, tuple[int, int]]] = {}
        self.pat_len = np.diff(fwd.stop_start)
        self.catalog = Catalog(self)    # stops and trips as itineraries show them (memo)

    # ---------------------------------------------------------------- build
    @classmethod
    def build(cls, network: Network, config: RoutingConfig | None = None) -> Planner:
        config = config or RoutingConfig()
        return cls(network, config, build_patterns(network, config), build_footpaths(network, config))

    # ---------------------------------------------------------------- lookups
    def stop(self, stop_id: str) -> int:
        s = self.stop_index.get(stop_id)
        if s is None:
            raise UnknownStop(f"unknown stop {stop_id!r}", stop=stop_id)
        return s

    def stop_tz(self, s: int) -> str:
        return self.network.timezones[int(self.network.stop_tz[s])]

    def day(self, d: date, reverse: bool = False) -> Day:
        key = (d, reverse)
        with self._lock:
            day = self._days.get(key)
            if day is not None:
                self._days.move_to_end(key)
                return day
            lock = self._day_locks.setdefault(key, threading.Lock())
        with lock:                      # one builder per day; others wait for it
            with self._lock:
                day = self._days.get(key)
            if day is None:
                day = build_day(self.network, self.rev if reverse else self.fwd, d, self.config)
                with self._lock:
                    self._days[key] = day
                    while len(self._days) > self.config.date_cache_size:
                        self._days.popitem(last=False)
        return day

    def check_date(self, d: date) -> None:
        if self.valid_from is None or not self.valid_from <= d <= self.valid_to:
            rng = f"{self.valid_from}..{self.valid_to}" if self.valid_from else "none"
            raise DateOutOfService(
                f"{d} is outside the service of every active feed (valid range: {rng})",
                valid_from=str(self.valid_from) if self.valid_from else None,
                valid_to=str(self.valid_to) if self.valid_to else None)

    # ---------------------------------------------------------------- places
    def _members(self, s: int) -> list[int]:
        return [s, *self.children.get(s, [])]

    def _reach(self, place: Place, fps: Footpaths, max_walk: float) -> dict[int, tuple[int, int]]:
        """Stops reachable on foot from (or to) a place: s -> (walk seconds, metres)."""
        if not isinstance(place, str):
            return self._reach_uncached(place, fps, max_walk)
        key = (place, fps is self.fps, max_walk)
        got = self._reach_cache.get(key)
        if got is None:
            if len(self._reach_cache) > 8192:
                self._reach_cache.clear()
            got = self._reach_cache[key] = self._reach_uncached(place, fps, max_walk)
        return got

    def _reach_uncached(self, place: Place, fps: Footpaths, max_walk: float):
        cfg = self.config
        out: dict[int, tuple[int, int]] = {}
        if isinstance(place, str):
            for m in self._members(self.stop(place)):
                out[m] = (0, 0)
            members = set(out)
            for m in members:
                a, b = int(fps.start[m]), int(fps.start[m + 1])
                rule = fps.rule[a:b]
                dist = fps.dist_m[a:b]
                walk = np.maximum(fps.walk_s[a:b], np.where(rule, fps.floor_s[a:b], 0))
                for s2, dm, w, r in zip(fps.to[a:b].tolist(), dist.tolist(), walk.tolist(),
                                        rule.tolist()):
                    if s2 in members or (dm > max_walk and not r):
                        continue
                    # a transfers.txt time counts as the walk; metres >= 1 marks a walk leg
                    if s2 not in out or w < out[s2][0]:
                        out[s2] = (w, max(1, dm if dm > 0 else int(self.walk_m(m, s2))))
            return out
        lat, lon = place
        radius = min(cfg.access_radius_m, max_walk) if max_walk > 0 else cfg.access_radius_m
        idx, dist = near_stops(self.network.stop_lat, self.network.stop_lon, lat, lon,
                               radius / cfg.walk_detour)
        if max_walk <= 0 and len(idx):
            k = int(np.argmin(dist))
            idx, dist = idx[k:k + 1], dist[k:k + 1]
        for s, dm in zip(idx.tolist(), (dist * cfg.walk_detour).tolist()):
            out[s] = (int(np.ceil(dm / cfg.walk_speed_mps)), int(round(dm)))
        if not out:
            raise UnknownStop(f"no stop within {radius:.0f} m of {lat},{lon}", place=f"{lat},{lon}")
        return out

    def place_tz(self, place: Place, reach: dict[int, tuple[int, int]]) -> str:
        if isinstance(place, str):
            return self.stop_tz(self.stop(place))
        return self.stop_tz(min(reach, key=lambda s: reach[s][1]))

    # ---------------------------------------------------------------- search setup
    def _search(self, query: Query, d: date, reverse: bool) -> _Search:
        cfg, net = self.config, self.network
        pats = self.rev if reverse else self.fwd
        day = self.day(d, reverse)
        override = query.min_transfer_s is not None
        board, alight = self._slacks(pats, override)
        if query.modes:
            unknown = set(query.modes) - set(MODES)
            if unknown:
                raise InvalidQuery(f"unknown mode(s) {sorted(unknown)}; known: {list(MODES)}")
            ok_modes = np.array([m in query.modes for m in MODES])
            q_ok = ok_modes[pats.mode[day.q_pattern]]
        else:
            q_ok = self._ones(("q", d, reverse), day.n_q)
        if query.wheelchair:
            key = (d, reverse)
            inst_ok = self._wheel_cache.get(key)
            if inst_ok is None:
                inst_ok = self._wheel_cache[key] = net.trip_wheelchair[day.inst_trip] == 1
            stop_ok = self.stop_accessible
        else:
            inst_ok = self._ones(("i", d, reverse), len(day.inst_trip))
            stop_ok = self.all_stops_ok
        max_t = cfg.max_transfers if query.max_transfers is None else \
            max(0, min(query.max_transfers, cfg.max_transfers))
        max_walk = cfg.walk_radius_m if query.max_walk_m is None else max(0.0, query.max_walk_m)
        return _Search(
            day=day, pats=pats, fps=self.fps_rev if reverse else self.fps,
            board_slack=board, alight_slack=alight, q_ok=q_ok, inst_ok=inst_ok, stop_ok=stop_ok,
            min_conn=int(query.min_transfer_s) if override else cfg.transfer_s,
            max_walk=int(max_walk), rounds=max_t + 1)

    def _slacks(self, pats: Patterns, override: bool) -> tuple[np.ndarray, np.ndarray]:
        """Board/alight seconds per pattern stop in effect: station rules, else the mode
        default (or 0 when the query's min_transfer_s replaces the defaults)."""
        key = ("slack", pats.reverse, override)
        got = self._wheel_cache.get(key)
        if got is None:
            zb = 0 if override else pats.board_slack
            za = 0 if override else pats.alight_slack
            got = self._wheel_cache[key] = (
                np.where(pats.board_fixed >= 0, pats.board_fixed, zb).astype(np.int32),
                np.where(pats.alight_fixed >= 0, pats.alight_fixed, za).astype(np.int32))
        return got

    def _ones(self, key, n: int) -> np.ndarray:
        a = self._wheel_cache.get(key)
        if a is None or len(a) != n:
            a = self._wheel_cache[key] = np.ones(n, dtype=bool)
        return a

    def _scratch(self, n_q: int) -> raptor.Scratch:
        with self._lock:
            for i, sc in enumerate(self._pool):
                if sc.n_q >= n_q:
                    return self._pool.pop(i)
        return raptor.Scratch(self.config.max_transfers + 1, self.network.n_stops, n_q)

    def _release(self, sc: raptor.Scratch) -> None:
        with self._lock:
            if len(self._pool) < 8:
                self._pool.append(sc)

    # ---------------------------------------------------------------- plan
    def plan(self, query: Query) -> list[Itinerary]:
        if query.origin == query.destination:
            raise InvalidQuery("from and to are the same place")
        cfg = self.config
        max_walk = cfg.walk_radius_m if query.max_walk_m is None else max(0.0, query.max_walk_m)
        src = self._reach(query.destination if query.arrive_by else query.origin,
                          self.fps_rev if query.arrive_by else self.fps, max_walk)
        dst = self._reach(query.origin if query.arrive_by else query.destination,
                          self.fps if query.arrive_by else self.fps_rev, max_walk)
        anchor = query.destination if query.arrive_by else query.origin
        tz = ZoneInfo(self.place_tz(anchor, src))
        d = query.date
        self.check_date(d)
        t0 = int((datetime.combine(d, time(0), tz) + timedelta(seconds=query.time_s)).timestamp())
        se = self._search(query, d, query.arrive_by)
        day = se.day
        rel = t0 - day.origin
        window = max(0, min(query.window_s, cfg.max_window_min * 60))
        src_stops = np.array(list(src), dtype=np.int32)
        src_walk = np.array([v[0] for v in src.values()], dtype=np.int32)
        sc = self._scratch(day.n_q)
        egress = sc.egress              # all -1 but for this query's targets (reset below)
        try:
            for s, (w, _) in dst.items():
                egress[s] = w
            sc.reset()
            rides = self._collect(se, sc, src_stops, src_walk, egress, rel, window, query.arrive_by)
        finally:
            for s in dst:
                egress[s] = -1
            self._release(sc)
        limit = cfg.default_limit if query.limit is None else max(1, min(query.limit, cfg.max_limit))
        span = (t0, t0 + window) if window > 0 and not query.arrive_by else None
        return assemble(self, se, rides, query, src, dst, limit, span)

    def _departures(self, se: _Search, src_stops, src_walk, lo: int, hi: int) -> np.ndarray:
        """Candidate start times in [lo, hi]: each boardable departure minus walk and slack."""
        d, p = se.day, se.pats
        out = []
        for s, w in zip(src_stops.tolist(), src_walk.tolist()):
            for r in range(d.stop_q_start[s], d.stop_q_start[s + 1]):
                q = d.stop_q[r]
                if not se.q_ok[q]:
                    continue
                i = d.stop_q_pos[r]
                ps = p.stop_start[d.q_pattern[q]]
                if not p.board_ok[ps + i]:
                    continue
                L = p.stop_start[d.q_pattern[q] + 1] - ps
                n = d.q_inst_start[q + 1] - d.q_inst_start[q]
                deps = d.t_dep[d.q_time_start[q] + i + L * np.arange(n)]
                out.append(deps - w - se.board_slack[ps + i])
        if not out:
            return np.zeros(0, np.int64)
        c = np.unique(np.concatenate(out))
        return c[(c >= lo) & (c <= hi)][::-1]

    def _collect(self, se, sc, src_stops, src_walk, egress, rel, window, reverse) -> list:
        """Run the rounds (once, or once per departure in the window, latest first) and
        return each journey that improved the Pareto front, as rides in travel order."""
        if reverse:
            rel = -rel
        if window <= 0:
            starts = np.array([rel], dtype=np.int32)
        else:
            starts = self._departures(se, src_stops, src_walk, rel, rel + window).astype(np.int32)
        cap = max(64, 4 * se.rounds * len(starts))
        K = se.rounds + 1
        out_start = np.empty(cap, np.int32)
        out_k = np.empty(cap, np.int32)
        out_len = np.empty(cap, np.int32)
        out_inst = np.empty((cap, K), np.int32)
        out_board = np.empty((cap, K), np.int32)
        out_alight = np.empty((cap, K), np.int32)
        p, d, f = se.pats, se.day, se.fps
        n = raptor.search(
            p.stop_start, p.stops, p.board_ok, p.alight_ok, se.board_slack, se.alight_slack,
            d.q_pattern, d.q_inst_start, d.q_time_start, d.t_arr, d.t_dep,
            d.stop_q_start, d.stop_q, d.stop_q_pos, d.inst_q,
            se.q_ok, se.inst_ok, se.stop_ok,
            f.start, f.to, f.walk_s, f.floor_s, f.dist_m, f.rule, np.int32(se.min_conn),
            np.int32(se.max_walk),
            src_stops, src_walk, starts, egress, True, se.rounds,
            sc.ready, sc.ready_from, sc.veh_inst, sc.veh_board, sc.veh_alight, sc.veh,
            sc.tgt, sc.tgt_inst, sc.tgt_board, sc.tgt_alight, sc.tgt_improved,
            sc.marked, sc.q_pos, sc.marked_list, sc.veh_marked, sc.veh_flag, sc.queue, out_start, out_k, out_len, out_inst, out_board, out_alight)
        pat_len = self.pat_len
        found = []
        for i in range(n):
            rides = [Ride(inst=int(out_inst[i, m]), board=int(out_board[i, m]),
                          alight=int(out_alight[i, m]),
                          length=int(pat_len[d.q_pattern[d.inst_q[out_inst[i, m]]]]))
                     for m in range(out_len[i])]
            rides = self._squeeze(se, rides)
            if reverse:
                found.append(tuple(Ride(inst=r.inst, board=r.length - 1 - r.alight,
                                        alight=r.length - 1 - r.board, length=r.length)
                                   for r in rides))
            else:
                found.append(tuple(reversed(rides)))
        return found

    def _conn(self, se: _Search, s: int, s2: int) -> int:
        f = se.fps
        for e in range(f.start[s], f.start[s + 1]):
            if f.to[e] == s2:
                fl = int(f.floor_s[e])
                return max(int(f.walk_s[e]), fl if fl >= 0 else se.min_conn)
        return se.min_conn

    def _squeeze(self, se: _Search, rides: list[Ride]) -> list[Ride]:
        """Take the latest trip of the same day pattern on each ride that still makes the
        next connection (last ride: same arrival), so no journey waits needlessly early."""
        d, p = se.day, se.pats
        out = list(rides)                       # search order reversed: out[0] reaches target
        deadline = None
        for n, r in enumerate(out):
            q = int(d.inst_q[r.inst])
            ps = int(p.stop_start[int(d.q_pattern[q])])
            L, base, i0 = r.length, int(d.q_time_start[q]), int(d.q_inst_start[q])
            j = r.inst - i0
            if deadline is None:
                deadline = int(d.t_arr[base + j * L + r.alight])
            last = int(d.q_inst_start[q + 1]) - i0
            for k in range(j + 1, last):        # FIFO: arrivals never decrease with k
                if int(d.t_arr[base + k * L + r.alight]) > deadline:
                    break
                if se.inst_ok[i0 + k]:
                    j = k
            out[n] = Ride(inst=i0 + j, board=r.board, alight=r.alight, length=L)
            if n + 1 < len(out):
                prev = out[n + 1]
                pq = int(d.inst_q[prev.inst])
                pps = int(p.stop_start[int(d.q_pattern[pq])])
                s_b = int(p.stops[ps + r.board])
                s_a = int(p.stops[pps + prev.alight])
                deadline = (int(d.t_dep[base + j * L + r.board]) - int(se.board_slack[ps + r.board])
                            - self._conn(se, s_a, s_b) - int(se.alight_slack[pps + prev.alight]))
        return out

    # ---------------------------------------------------------------- legs (bookings)
    def leg_stops(self, leg: LegKey) -> tuple[str, ...]:
        """Stop ids from leg.from_stop to leg.to_stop if `leg` is feasible on this network
        (trip runs on that service date, positions, stops and times match); else LegNotFeasible."""
        net = self.network
        t = self.trip_index.get(leg.trip_id)
        if t is None:
            raise LegNotFeasible(f"trip {leg.trip_id} is not in the live network", trip=leg.trip_id)
        col = leg.service_date.toordinal() - net.service_base_date
        if not (0 <= col < net.service_days.shape[1] and net.service_days[net.trip_service[t], col]):
            raise LegNotFeasible(f"trip {leg.trip_id} does not run on {leg.service_date}",
                                 trip=leg.trip_id)
        a, b = int(net.trip_st_start[t]), int(net.trip_st_start[t + 1])
        if not 0 <= leg.board_pos < leg.alight_pos < b - a:
            raise LegNotFeasible("stop positions are outside the trip", trip=leg.trip_id)
        stops = net.stop_id[net.st_stop[a + leg.board_pos:a + leg.alight_pos + 1]]
        if stops[0] != leg.from_stop or stops[-1] != leg.to_stop:
            raise LegNotFeasible("the trip no longer serves these stops at these positions",
                                 trip=leg.trip_id)
        ref = service_ref_epoch(leg.service_date, net.timezones[int(self.trip_tz[t])])
        dep = ref + int(net.st_dep[a + leg.board_pos])
        arr = ref + int(net.st_arr[a + leg.alight_pos])
        if dep != int(leg.departure.timestamp()) or arr != int(leg.arrival.timestamp()):
            raise LegNotFeasible("the trip's times changed", trip=leg.trip_id,
                                 departure=datetime.fromtimestamp(dep, timezone.utc).isoformat(),
                                 arrival=datetime.fromtimestamp(arr, timezone.utc).isoformat())
        return tuple(str(s) for s in stops)

    def walk_m(self, s: int, s2: int) -> float:
        """Walking metres s -> s2: the footpath's, else the straight line x detour."""
        f = self.fps
        for e in range(int(f.start[s]), int(f.start[s + 1])):
            if f.to[e] == s2 and f.dist_m[e] > 0:
                return float(f.dist_m[e])
        net = self.network
        la1, lo1 = math.radians(net.stop_lat[s]), math.radians(net.stop_lon[s])
        la2, lo2 = math.radians(net.stop_lat[s2]), math.radians(net.stop_lon[s2])
        a = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
        return 2 * 6_371_000.0 * math.asin(min(1.0, math.sqrt(a))) * self.config.walk_detour
