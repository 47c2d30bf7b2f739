"""The search machinery behind `Planner.plan`: a query resolved into the arrays the RAPTOR
kernel takes (`Searches.resolve` -> `Search`), the kernel run (once, or once per departure
of a range), and the rides it found squeezed to the latest trips that still connect.

`Searches` holds what queries share and reuse: the board/alight times in effect per
pattern stop, the wheelchair filter of each expanded day, all-true filters, and a pool of
per-query scratch arrays. Thread-safe: the pool is behind a lock; the caches are dicts whose
races build an equal value twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from routing import raptor
from routing.errors import InvalidQuery
from routing.footpaths import Footpaths
from routing.frozen import blank
from routing.journeys import Ride
from routing.timetable import MODES, Day, Patterns

if TYPE_CHECKING:
    from routing.context import Context
    from routing.planner import Query

__all__ = ["BOUND_STOPS", "Search", "Sources", "Searches", "collect"]

BOUND_STOPS = 2048      # the most stops a network's lower-bound table is made for (8 MB)


@dataclass(frozen=True, eq=False)
class Search:
    """Everything one direction of a query needs, resolved."""

    day: Day
    pats: Patterns
    fps: Footpaths
    board_slack: np.ndarray     # pattern-stop row -> board seconds in effect (int32)
    alight_slack: np.ndarray    # pattern-stop row -> alight seconds in effect (int32)
    q_ok: np.ndarray            # day pattern -> allowed by the query's modes (bool)
    inst_ok: np.ndarray         # instance -> allowed (wheelchair) (bool)
    stop_ok: np.ndarray         # s -> allowed (wheelchair) (bool)
    unfiltered: bool            # q_ok, inst_ok and stop_ok all true (the kernel skips them)
    min_conn: int               # default change time / footpath floor (s)
    max_walk: int               # metres of a walk between two stops
    rounds: int                 # max trips per journey
    pat_len: np.ndarray         # p -> stops in pattern p
    bounds: np.ndarray          # [t, s] -> a lower bound of the time from s to t (int16;
    #                             `Searches.bounds`); (0, 0): none, no such pruning
    bounds_graph: np.ndarray    # the graph whose shortest paths they are (`raptor.bound_graph`)
    kernel: tuple               # `raptor._search`'s arguments up to the sources: the fields
    #                             above as it takes them (`raptor.KERNEL`)
    pinned: np.ndarray          # `kernel` as `raptor.search` takes it (`raptor.pin`; the
    #                             tuple keeps its arrays alive)


def _new_search(**values: object) -> Search:
    """`Search(**values)` without the frozen dataclass's `__init__`, which sets each of its
    fields through `object.__setattr__` (~3.5 us, most of a resolve; one per query). Every
    field must be given (a test checks the two ways make equal searches)."""
    search = blank(Search)
    vars(search).update(values)
    return search


@dataclass(frozen=True, eq=False)
class Sources:
    """Where the search starts: stops (search direction) and the walk to each (s), the two
    rows of one array (`raptor.search` takes it as one argument, not two)."""

    rows: np.ndarray            # (2, n) int32: stops, walk seconds

    @property
    def stops(self) -> np.ndarray:
        return self.rows[0]

    @property
    def walk_s(self) -> np.ndarray:
        return self.rows[1]

    @classmethod
    def of(cls, reach: dict[int, tuple[int, int]]) -> Sources:
        return cls(np.array([list(reach), [v[0] for v in reach.values()]], dtype=np.int32))


class Searches:
    """Resolves queries into `Search`es over one planner's days; lends scratch arrays."""

    def __init__(self, ctx: Context, fwd: Patterns, rev: Patterns, fps_rev: Footpaths,
                 like: Searches | None = None) -> None:
        """`fwd`/`rev`: the patterns the days refer to (static, or with realtime skip
        patterns); `like`: a Searches of the same network whose stop filters to share."""
        self._ctx, self._fwd, self._rev, self._fps_rev = ctx, fwd, rev, fps_rev
        self.stop_accessible: np.ndarray
        self.stop_not_barred: np.ndarray
        self._all_stops: np.ndarray
        self._pat_len: np.ndarray
        if like is not None:
            self.stop_accessible, self._all_stops = like.stop_accessible, like._all_stops
            self.stop_not_barred = like.stop_not_barred
        else:
            net = ctx.network
            par = net.stop_parent
            wc = net.stop_wheelchair.copy()
            inherit = (wc == 0) & (par >= 0)
            wc[inherit] = net.stop_wheelchair[par[inherit]]
            self.stop_accessible = wc == 1  # s -> step-free (a platform inherits its station)
            self.stop_not_barred = wc != 2  # s -> not marked inaccessible (unknown passes)
            self._all_stops = np.ones(net.n_stops, dtype=bool)
        self._pat_len = like._pat_len if like is not None and like._fwd is fwd \
            else np.diff(fwd.stop_start)
        self._cache: dict[tuple, object] = {}
        self._fps: dict[tuple, Footpaths] = {}
        self._lock = threading.Lock()
        self._pool: list[raptor.Scratch] = []
        # id(day) -> (day, {options: their Search}) (`resolve`)
        self._made: dict[int, tuple[Day, dict[tuple, Search]]] = {}
        self._bounds: dict[int, tuple[Day, tuple]] = {}     # id(day) -> (day, bounds(day))
        # reverse -> (footpaths, (table, graph)): the bounds the days share (`bounds`); a
        # realtime planner's Searches shares its static one's
        self._tables: dict[bool, tuple[Footpaths, tuple]] = \
            like._tables if like is not None else {}

    def resolve(self, query: Query, day: Day) -> Search:
        """The Search of `query` on `day`: the same immutable Search for every query of a
        day with the same options that change the search (modes, accessibility, transfer
        times, walking, max_transfers), made once (its cache lookups and the Search cost
        ~2-8 us hot, `raptor.pin` ~40 us); kept for the last few days only (as many as a
        planner's `DayCache`: each holds its day), checked to be of this very day, and a
        few option sets a day."""
        got = self._made.get(id(day))
        if got is None or got[0] is not day:
            if len(self._made) >= 4:
                self._made.clear()
            got = self._made[id(day)] = (day, {})
        options = (query.modes, query.min_transfer_s, query.extra_transfer_s,
                   query.walk_speed_mps, query.max_transfers, query.max_walk_m,
                   query.wheelchair, query.step_free)
        search = got[1].get(options)
        if search is None:
            if len(got[1]) >= 8:
                got[1].clear()
            search = got[1][options] = self._resolve(query, day)
        return search

    def _resolve(self, query: Query, day: Day) -> Search:
        cfg, net = self._ctx.config, self._ctx.network
        reverse = day.reverse
        pats = self._rev if reverse else self._fwd
        d = day.query_date
        override = query.min_transfer_s is not None
        if override and query.min_transfer_s < 0:     # (the kernel's pruning needs slacks >= 0)
            raise InvalidQuery("min_transfer_s must be >= 0", parameter="min_transfer_s")
        extra = max(0, int(query.extra_transfer_s or 0))
        board, alight = self._slacks(pats, query.min_transfer_s)
        if query.modes:
            unknown = set(query.modes) - set(MODES)
            if unknown:
                raise InvalidQuery(f"unknown mode(s) {sorted(unknown)}; known: {list(MODES)}")
            ok_modes = np.array([m in query.modes for m in MODES])
            q_ok = ok_modes[pats.mode[day.q_pattern]]
        else:
            q_ok = self._ones(("q", d, reverse), day.n_q)
        alive = day.inst_alive          # realtime: cancelled and moved instances are dead
        if query.wheelchair:
            key = (d, reverse)
            got = self._cache.get(key)
            if isinstance(got, np.ndarray) and len(got) == len(day.inst_trip):
                inst_ok = got
            else:
                inst_ok = net.trip_wheelchair[day.inst_trip] == 1
                if alive is not None:
                    inst_ok &= alive
                self._cache[key] = inst_ok
            stop_ok = self.stop_accessible
        elif query.step_free:
            key = ("step_free", d, reverse)
            got = self._cache.get(key)
            if isinstance(got, np.ndarray) and len(got) == len(day.inst_trip):
                inst_ok = got
            else:
                inst_ok = net.trip_wheelchair[day.inst_trip] != 2
                if alive is not None:
                    inst_ok &= alive
                self._cache[key] = inst_ok
            stop_ok = self.stop_not_barred
        elif alive is not None:
            inst_ok, stop_ok = alive, self._all_stops
        else:
            inst_ok = self._ones(("i", d, reverse), len(day.inst_trip))
            stop_ok = self._all_stops
        # no mode, accessibility or realtime filter: the kernel need not read the three
        # (~3 % of its CPU cache-cold on a NYC query; a few hundred reads)
        unfiltered = not query.modes and stop_ok is self._all_stops and alive is None
        max_t = cfg.max_transfers if query.max_transfers is None else \
            max(0, min(query.max_transfers, cfg.max_transfers))
        max_walk = int(cfg.walk_radius_m if query.max_walk_m is None
                       else max(0.0, query.max_walk_m))
        fps = self.footpaths(reverse, query.walk_speed_mps, extra)
        # with min_transfer_s the board time carries it: a change at one stop is 0 + v;
        # extra_transfer_s is in every footpath's time (walk and floor) and here
        min_conn = (0 if override else cfg.transfer_s) + extra
        bounds = self.bounds(day) if query.walk_speed_mps is None else _NO_BOUNDS
        kernel = (pats.stop_start, pats.stops, pats.board_ok, pats.alight_ok, board, alight,
                  day.q_pattern, day.q_inst_start, day.q_time_start, day.t_arr, day.t_dep,
                  day.stop_q_start, day.stop_q, day.stop_q_pos, day.inst_q,
                  q_ok, inst_ok, stop_ok, unfiltered,
                  fps.start, fps.rows, min_conn, max_walk, max_t + 1, self._pat_len, reverse,
                  *bounds)
        return _new_search(
            day=day, pats=pats, fps=fps, board_slack=board, alight_slack=alight, q_ok=q_ok,
            inst_ok=inst_ok, stop_ok=stop_ok, unfiltered=unfiltered, min_conn=min_conn,
            max_walk=max_walk, rounds=max_t + 1, pat_len=self._pat_len, bounds=bounds[0],
            bounds_graph=bounds[1], kernel=kernel, pinned=raptor.pin(kernel, raptor.KERNEL))

    def bounds(self, day: Day) -> tuple[np.ndarray, np.ndarray]:
        """The kernel's lower bounds on `day`: (table, graph), `raptor.bound_graph` over the
        network's own footpaths (a query's extra change time only lengthens them;
        `_resolve` passes none where its walk speed may shorten them) and its table of
        shortest paths, stops x (stops + 1) int16. None on a network of more than
        `BOUND_STOPS` stops. One graph and table per direction, made whole with the first
        day (NYC's 1,223 stops: ~0.2 s; `maas.live.warm` plans both directions before a
        worker serves), serve every day the graph bounds (`raptor.graph_bounds`, checked
        once a day, ~1 ms); a day it does not (a faster ride, a realtime skipped stop, other
        patterns) gets its own, each row made on its first use as a target
        (`raptor._fill_row`, ~0.2 ms; all 0 till then, pages the OS has not even mapped).
        Kept for the last few days, checked to be of this very day."""
        got = self._bounds.get(id(day))
        if got is not None and got[0] is day:
            return got[1]
        n_stops = self._ctx.network.n_stops
        if n_stops > BOUND_STOPS:
            return _NO_BOUNDS
        pats = self._rev if day.reverse else self._fwd
        fps = self._fps_rev if day.reverse else self._ctx.fps
        rides = (pats.stop_start, pats.stops, day.q_pattern, day.q_inst_start,
                 day.q_time_start, day.t_arr, day.t_dep)
        shared = self._tables.get(day.reverse)
        if shared is not None and shared[0] is fps and \
                raptor.graph_bounds(shared[1][1], n_stops, *rides):
            made = shared[1]
        else:
            made = (np.zeros((n_stops, n_stops + 1), np.int16),
                    raptor.bound_graph(*rides, fps.start, fps.rows, n_stops))
            if shared is None or shared[0] is not fps:
                raptor.fill_rows(*made)     # (~0.2 ms a row: not on the queries of a run)
                self._tables[day.reverse] = (fps, made)
        if len(self._bounds) >= 4:
            self._bounds.clear()
        self._bounds[id(day)] = (day, made)
        return made

    def footpaths(self, reverse: bool, speed_mps: float | None = None,
                  extra_s: int = 0) -> Footpaths:
        """The footpaths (search direction) walked at `speed_mps` (None: the network's), each
        change taking `extra_s` more (a query's travel profile); cached per combination."""
        base = self._fps_rev if reverse else self._ctx.fps
        if speed_mps is None and not extra_s:
            return base
        key = (reverse, speed_mps, extra_s)
        got = self._fps.get(key)
        if got is None:
            if len(self._fps) >= 16:     # bounded: queries choose these values
                self._fps.clear()
            got = self._fps[key] = base.adjusted(speed_mps, self._ctx.config.walk_speed_mps,
                                                 extra_s)
        return got

    def _slacks(self, pats: Patterns, min_transfer_s: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Board/alight seconds per pattern stop in effect: station rules, else the mode
        default; a query's min_transfer_s v replaces the defaults: board v (every boarding,
        the first included), alight 0 (in reversed patterns the roles swap)."""
        key = ("slack", pats.reverse, min_transfer_s)
        got = self._cache.get(key)
        if got is None:
            zb: np.ndarray | int
            za: np.ndarray | int
            if min_transfer_s is None:
                zb, za = pats.board_slack, pats.alight_slack
            else:
                v = int(min_transfer_s)
                zb, za = (0, v) if pats.reverse else (v, 0)
            got = self._cache[key] = (
                np.where(pats.board_fixed >= 0, pats.board_fixed, zb).astype(np.int32),
                np.where(pats.alight_fixed >= 0, pats.alight_fixed, za).astype(np.int32))
        return got  # type: ignore[return-value]

    def _ones(self, key: tuple, n: int) -> np.ndarray:
        a = self._cache.get(key)
        if a is None or len(a) != n:  # type: ignore[arg-type]
            a = self._cache[key] = np.ones(n, dtype=bool)
        return a  # type: ignore[return-value]

    def scratch(self, n_q: int) -> raptor.Scratch:
        with self._lock:
            for i, sc in enumerate(self._pool):
                if sc.n_q >= n_q:
                    return self._pool.pop(i)
        return raptor.Scratch(self._ctx.config.max_transfers + 1, self._ctx.network.n_stops, n_q)

    def release(self, scratch: raptor.Scratch) -> None:
        with self._lock:
            if len(self._pool) < 8:
                self._pool.append(scratch)


def departures(search: Search, sources: Sources, lo: int, hi: int) -> np.ndarray:
    """Candidate start times in [lo, hi], latest first: each boardable departure at a
    source stop minus the walk to it and the board time."""
    d, p = search.day, search.pats
    out = []
    for s, w in zip(sources.stops.tolist(), sources.walk_s.tolist()):
        for r in range(d.stop_q_start[s], d.stop_q_start[s + 1]):
            q = d.stop_q[r]
            if not search.q_ok[q]:
                continue
            i = d.stop_q_pos[r]
            ps = p.stop_start[d.q_pattern[q]]
            if not p.board_ok[ps + i]:
                continue
            length = p.stop_start[d.q_pattern[q] + 1] - ps
            n = d.q_inst_start[q + 1] - d.q_inst_start[q]
            deps = d.t_dep[d.q_time_start[q] + i + length * np.arange(n)]
            out.append(deps - w - search.board_slack[ps + i])
    if not out:
        return np.zeros(0, np.int64)
    c = np.unique(np.concatenate(out))
    return c[(c >= lo) & (c <= hi)][::-1]


_tuple_new = tuple.__new__

# no lower bounds (table, graph): the kernel prunes by the target only
_NO_BOUNDS = (np.zeros((0, 0), np.int16), np.zeros(0, np.int64))
_NO_STARTS = np.zeros(0, np.int32)     # a point query's `starts` (its start goes as `point`)


def collect(search: Search, scratch: raptor.Scratch, sources: Sources, targets: Sources,
            start: int, window: int) -> tuple[list[tuple[Ride, ...]], int]:
    """Run the rounds from `start` (seconds since the day's origin, forward time) once, or
    once per departure in [start, start + window] latest first, to `targets` (stops and the
    walk from each, search direction), and return each journey that improved the Pareto
    front, as rides in travel order, and the best target value (search time; INF: none)."""
    reverse = search.day.reverse
    rel = -start if reverse else start
    if window <= 0:
        starts, point, latest = _NO_STARTS, rel, int(raptor.INF)
    else:
        starts = departures(search, sources, rel, rel + window).astype(np.int32)
        point, latest = int(raptor.INF), rel + window
    out = scratch.outputs(max(raptor.OUT_ROWS, 4 * search.rounds * len(starts)))
    _, best, m = raptor.search(search.pinned, scratch.pinned, sources.rows, targets.rows,
                               starts, point, latest, True, True, out.pinned)
    found: list[tuple[Ride, ...]] = []
    if m == 0:
        return found, best
    # the journeys as the kernel laid them out (`raptor._found`: a journey's number of rides,
    # then four ints a ride, in travel order), as Python ints in one conversion; a Ride
    # through tuple.__new__ (its own __new__ is a Python function of four arguments)
    vals = out.found[:m].tolist()
    i = 0
    while i < m:
        end = i + 1 + 4 * vals[i]
        found.append(tuple([_tuple_new(Ride, vals[j:j + 4]) for j in range(i + 1, end, 4)]))
        i = end
    return found, best


def _conn(search: Search, s: int, s2: int) -> int:
    """Seconds from free at s to ready at s2 (footpath or change at one stop)."""
    f = search.fps
    for e in range(f.start[s], f.start[s + 1]):
        if f.to[e] == s2:
            fl = int(f.floor_s[e])
            return max(int(f.walk_s[e]), fl if fl >= 0 else search.min_conn)
    return search.min_conn


def squeeze(search: Search, rides: list[Ride], inst_class: np.ndarray | None = None,
            first_by: int = int(raptor.INF)) -> list[Ride]:
    """Take the latest trip of the same day pattern on each ride that still makes the
    next connection (last ride: same arrival), so no journey waits needlessly early.
    `rides` are in search order reversed: rides[0] reaches the target. With `inst_class`
    (instance -> fare class; criteria=price) only a trip of the same fare class (same price).
    `first_by`: the first ride (rides[-1]) leaves no later than this, departure - board slack
    (a range query's window: `raptor.squeeze_rows`)."""
    d, p = search.day, search.pats
    out = list(rides)
    deadline = None
    for n, r in enumerate(out):
        q = int(d.inst_q[r.inst])
        ps = int(p.stop_start[int(d.q_pattern[q])])
        length, base, i0 = r.length, int(d.q_time_start[q]), int(d.q_inst_start[q])
        j = r.inst - i0
        if deadline is None:
            deadline = int(d.t_arr[base + j * length + r.alight])
        last = int(d.q_inst_start[q + 1]) - i0
        by = first_by if n == len(out) - 1 else int(raptor.INF)
        for k in range(j + 1, last):        # FIFO: arrivals never decrease with k
            if int(d.t_arr[base + k * length + r.alight]) > deadline:
                break
            leaves = (int(d.t_dep[base + k * length + r.board])
                      - int(search.board_slack[ps + r.board]))
            if leaves > by:
                break                       # departures never decrease with k either
            if search.inst_ok[i0 + k] and (inst_class is None
                                           or inst_class[i0 + k] == inst_class[r.inst]):
                j = k
        out[n] = Ride(inst=i0 + j, board=r.board, alight=r.alight, length=length)
        if n + 1 < len(out):
            prev = out[n + 1]
            pq = int(d.inst_q[prev.inst])
            pps = int(p.stop_start[int(d.q_pattern[pq])])
            s_b = int(p.stops[ps + r.board])
            s_a = int(p.stops[pps + prev.alight])
            deadline = (int(d.t_dep[base + j * length + r.board])
                        - int(search.board_slack[ps + r.board])
                        - _conn(search, s_a, s_b) - int(search.alight_slack[pps + prev.alight]))
    return out
