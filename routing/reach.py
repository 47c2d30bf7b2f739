"""One-to-all: every stop reachable from a place within a time budget, with its earliest
arrival and the fewest transfers that reach it that early (the planner's RAPTOR rounds, run
once without a target).

The arrival at a stop is what `Planner.plan` minimises for that stop as the destination: a
vehicle's arrival plus the mode's alighting time, then a walk into the stop (a footpath, the
max of walk and rule time on transfers.txt edges, 0 between a station and its platforms);
stops within walking reach of the origin count from the walk alone (0 transfers, no ride).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from routing import raptor
from routing.errors import InvalidQuery
from routing.search import Sources

__all__ = ["Reached", "reach"]

INF = np.iinfo(np.int32).max


@dataclass(frozen=True)
class Reached:
    """Stops reached: parallel arrays, ordered by arrival."""

    t0: int                     # epoch of the departure time
    tz: str                     # zone of the origin
    stops: np.ndarray           # s (int32)
    arrival: np.ndarray         # epoch seconds (int64)
    transfers: np.ndarray       # changes on the fastest way (-1: on foot from the origin) (int32)


def _into(fps, values: np.ndarray, max_walk: int) -> np.ndarray:
    """Per stop s2: min over footpaths s -> s2 (and s2 itself) of values[s] + walk."""
    out = values.astype(np.int64)
    n = len(values)
    frm = np.repeat(np.arange(n, dtype=np.int64), np.diff(fps.start))
    ok = (frm != fps.to) & (fps.rule | ((fps.dist_m <= max_walk) & (max_walk > 0)))
    ok &= values[frm] < INF
    walk = np.maximum(fps.walk_s, np.where(fps.rule, fps.floor_s, 0)).astype(np.int64)
    np.minimum.at(out, fps.to[ok], values[frm[ok]].astype(np.int64) + walk[ok])
    return out


def _stations(planner, arr: np.ndarray) -> np.ndarray:
    """A station is reached when any of its platforms is (0 m between them)."""
    par = planner.network.stop_parent
    kids = np.flatnonzero(par >= 0)
    out = arr.copy()
    np.minimum.at(out, par[kids], arr[kids])
    return out


def reach(planner, query, max_s: int) -> Reached:
    """Every stop reachable from `query.origin` leaving at `query.date`/`query.time_s` within
    `max_s` seconds, with the options of `query` (modes, max_transfers, wheelchair,
    max_walk_m, min_transfer_s, the travel profile's walk_speed_mps, extra_transfer_s and
    step_free); `query.destination` is ignored."""
    if max_s <= 0:
        raise InvalidQuery("max_minutes must be positive", parameter="max_minutes")
    cfg, net = planner.config, planner.network
    max_walk = cfg.walk_radius_m if query.max_walk_m is None else max(0.0, query.max_walk_m)
    walks = planner.searches.footpaths(False, query.walk_speed_mps)     # no extra: walks
    src = planner._reach(query.origin, walks, max_walk, query.walk_speed_mps)
    tz = planner.place_tz(query.origin, src)
    d = query.date
    planner.check_date(d)
    t0 = int((datetime.combine(d, time(0), ZoneInfo(tz)) + timedelta(seconds=query.time_s)).timestamp())
    search = planner.searches.resolve(replace(query, arrive_by=False), planner.day(d, False))
    day = search.day
    start = t0 - day.origin
    sources = Sources.of(src)
    sc = planner.searches.scratch(day.n_q)
    try:
        sc.reset()
        p, f = search.pats, search.fps
        src_times = (start + sources.walk_s).astype(np.int32)
        raptor.run(
            p.stop_start, p.stops, p.board_ok, p.alight_ok, search.board_slack, search.alight_slack,
            day.q_pattern, day.q_inst_start, day.q_time_start, day.t_arr, day.t_dep,
            day.stop_q_start, day.stop_q, day.stop_q_pos,
            search.q_ok, search.inst_ok, search.stop_ok, search.unfiltered,
            f.start, f.rows, np.int32(search.min_conn),
            np.int32(search.max_walk), sources.stops, src_times, np.int64(raptor.INF), sc.egress, True,
            search.rounds, np.zeros(net.n_stops, np.int32),
            sc.ready, sc.ready_from, sc.veh_inst, sc.veh_board, sc.veh_alight, sc.veh,
            sc.tgt, sc.tgt_inst, sc.tgt_board, sc.tgt_alight, sc.tgt_improved,
            sc.marked, sc.q_pos, sc.marked_list, sc.veh_marked, sc.veh_flag, sc.queue)
        veh = sc.veh.copy()        # (rounds + 1, n_stops): best with at most k rides
    finally:
        planner.searches.release(sc)
    walked = np.full(net.n_stops, INF, dtype=np.int64)
    walked[sources.stops] = start + sources.walk_s.astype(np.int64)
    walked = _stations(planner, walked)
    per_k = [_stations(planner, _into(walks, veh[k], search.max_walk))
             for k in range(1, veh.shape[0])]
    best = np.minimum.reduce(per_k) if per_k else np.full(net.n_stops, INF, dtype=np.int64)
    transfers = np.full(net.n_stops, -1, dtype=np.int32)
    for k in range(len(per_k) - 1, -1, -1):      # fewest rides reaching the best time
        hit = (per_k[k] == best) & (best < INF)
        transfers[hit] = k
    arrival = np.minimum(best, walked)
    transfers[walked <= best] = -1
    limit = start + max_s
    got = np.flatnonzero(arrival <= limit)
    order = got[np.argsort(arrival[got], kind="stable")]
    return Reached(t0=t0, tz=tz, stops=order.astype(np.int32),
                   arrival=arrival[order] - start + t0, transfers=transfers[order])
