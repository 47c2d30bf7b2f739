"""Realtime on the static timetable: GTFS-Realtime trip updates as an overlay, no rebuild.

`Planner.with_realtime(updates)` resolves each `routing.updates.TripUpdate` into a `Run`
(trip t on one service date: cancelled, or its realtime times and skipped stops) and keeps
everything static shared. What changes:

* *Patterns*: a run with skipped stops rides a *skip pattern*, a copy of its static pattern
  with boarding and alighting off at those stops (one per distinct pattern and skip set),
  appended after the static patterns (forward and reversed). Cost: the rows of those
  patterns.
* *Days* (`overlay`, per expanded day, on first use): a changed run whose realtime times
  stay FIFO with the instances before and after it in its day pattern (at every stop) gets
  them written over its instance in a copy of the day's time arrays. Any other changed run
  (it would overtake or be overtaken, or it skips stops) is *moved*: its static instance is
  marked dead (`Day.inst_alive`, which the rounds and the squeeze already skip like a
  wheelchair filter) and it becomes a new instance; the moved ones are split into FIFO day
  patterns of their own (`timetable.expand`), appended after the static ones. Cancelled runs
  are only marked dead. So no day pattern ever holds an instance that overtakes another,
  and the binary search over a day pattern's departures stays correct. The static day is shared and never
  written; the overlay copies its arrays once (a memcpy) and adds the changed runs: no
  sorting, FIFO split or pattern building of the network.

Times (GTFS-Realtime `StopTimeEvent`): an absolute `time` wins over a `delay`. At a stop
with an update, a missing arrival takes the departure's event and a missing departure the
arrival's. A stop without an update (or with no event, e.g. a SKIPPED stop) takes the delay
of the closest earlier stop that has one (its departure delay); stops before the first
update run as scheduled. Then the run is made non-decreasing (arr_i >= dep_{i-1},
dep_i >= arr_i), as compile does for static trips. A CANCELED run is never boarded; a
SKIPPED stop is neither boarded nor alighted at, the run still passes through it.

Stops are matched by GTFS `stop_sequence` (`Network.st_seq`) when the update gives one and
the network knows them (a stop id given too must name the same stop, or a stop of the same
station, else the update names an unknown stop), else by stop id (first occurrence at or
after the previous matched position, so loops work).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import numpy as np

from routing.context import Context
from routing.timetable import Day, Patterns, expand, service_ref_epoch
from routing.updates import StopTimeEvent, TripUpdate

__all__ = ["Run", "Realtime", "LegStatus", "resolve", "overlay"]

UNKNOWN_TRIP = "unknown_trip"
UNKNOWN_STOP = "unknown_stop"
NOT_RUNNING = "not_running_that_day"


@dataclass(frozen=True, eq=False)
class Run:
    """The realtime state of trip t on one service date."""

    trip: int
    service_date: int           # ordinal
    ref: int                    # epoch of the service-day reference (times are relative to it)
    canceled: bool
    arr: np.ndarray             # position -> realtime arrival, s since `ref` (int32)
    dep: np.ndarray             # position -> realtime departure (int32)
    skipped: np.ndarray         # position -> not served (bool)
    changed: bool               # times or skips differ from the schedule (or cancelled)
    pattern: int = -1           # forward pattern it rides (a skip pattern, or the static one)


@dataclass(frozen=True)
class LegStatus:
    """A booked leg on the realtime state of a planner."""

    departure: datetime             # realtime, aware UTC
    arrival: datetime               # realtime, aware UTC
    scheduled_departure: datetime   # aware UTC
    scheduled_arrival: datetime
    delay_s: int                    # departure delay (+ late, - early), as on a Leg
    arrival_delay_s: int
    cancelled: bool                 # run cancelled, or its boarding or alighting stop skipped
    realtime: bool                  # the run has a realtime update


def _at(ev: StopTimeEvent | None, scheduled: int, ref: int) -> int | None:
    """The time an event gives (s since `ref`): its absolute time, else schedule + delay."""
    if ev is None:
        return None
    if ev.time is not None:
        return int(ev.time) - ref
    if ev.delay is not None:
        return int(scheduled) + int(ev.delay)
    return None


def _same_station(ctx: Context, s: int | None, s2: int) -> bool:
    """s and s2 are one stop, or stops of one station (a platform and its station)."""
    if s is None:
        return False
    par = ctx.network.stop_parent
    return s == s2 or int(par[s]) == s2 or int(par[s2]) == s or (par[s] >= 0 and par[s] == par[s2])


def _positions(ctx: Context, t: int, update: TripUpdate) -> dict[int, int] | None:
    """Update index -> position in trip t; None if a stop is not in the trip."""
    net = ctx.network
    a, b = int(net.trip_st_start[t]), int(net.trip_st_start[t + 1])
    seqs = net.st_seq[a:b] if len(net.st_seq) == len(net.st_stop) else None
    if seqs is not None and (seqs < 0).any():
        seqs = None
    out: dict[int, int] = {}
    prev = 0
    for k, su in enumerate(update.stop_updates):
        pos = -1
        if su.stop_sequence is not None and seqs is not None:
            hit = np.flatnonzero(seqs == su.stop_sequence)
            pos = int(hit[0]) if len(hit) else -1
            if pos >= 0 and su.stop_id is not None and not _same_station(
                    ctx, ctx.stop_index.get(su.stop_id), int(net.st_stop[a + pos])):
                pos = -1                    # both given and they disagree
        elif su.stop_id is not None:
            s = ctx.stop_index.get(su.stop_id)
            if s is not None:
                hit = np.flatnonzero(net.st_stop[a + prev:b] == s)
                if not len(hit):            # named out of order: anywhere in the trip
                    hit = np.flatnonzero(net.st_stop[a:b] == s) - prev
                pos = prev + int(hit[0]) if len(hit) else -1
        if pos < 0:
            return None
        out[k] = pos
        prev = pos
    return out


def resolve(ctx: Context, update: TripUpdate) -> Run | str:
    """The run an update describes, or the reason it does not apply (`unknown_trip`,
    `not_running_that_day`, `unknown_stop`)."""
    t = ctx.trip_index.get(update.trip_id)
    if t is None:
        return UNKNOWN_TRIP
    if not ctx.runs_on(t, update.service_date):
        return NOT_RUNNING
    positions = _positions(ctx, t, update)
    if positions is None:
        return UNKNOWN_STOP
    net = ctx.network
    a, b = int(net.trip_st_start[t]), int(net.trip_st_start[t + 1])
    ref = service_ref_epoch(update.service_date, net.timezones[int(ctx.trip_tz[t])])
    st_arr = net.st_arr[a:b].astype(np.int64)
    st_dep = net.st_dep[a:b].astype(np.int64)
    n = b - a
    arr, dep = st_arr.copy(), st_dep.copy()
    skipped = np.zeros(n, dtype=bool)
    by_pos = {positions[k]: su for k, su in enumerate(update.stop_updates)}
    delay = 0
    for i in range(n):
        su = by_pos.get(i)
        ta = _at(su.arrival, st_arr[i], ref) if su is not None else None
        td = _at(su.departure, st_dep[i], ref) if su is not None else None
        if su is not None:
            skipped[i] = su.skipped
        if ta is None and td is None:       # no event: the delay carried down the trip
            arr[i], dep[i] = st_arr[i] + delay, st_dep[i] + delay
            continue
        # one event given: the other end of the stop keeps the same delay
        arr[i] = ta if ta is not None else st_arr[i] + (td - st_dep[i])  # type: ignore[operator]
        dep[i] = td if td is not None else st_dep[i] + (arr[i] - st_arr[i])
        delay = int(dep[i] - st_dep[i])
    both = np.empty(2 * n, dtype=np.int64)
    both[0::2], both[1::2] = arr, dep
    both = np.maximum.accumulate(both)
    arr, dep = both[0::2].astype(np.int32), both[1::2].astype(np.int32)
    changed = bool(update.canceled or skipped.any() or (arr != st_arr).any()
                   or (dep != st_dep).any())
    return Run(trip=t, service_date=update.service_date.toordinal(), ref=ref,
               canceled=update.canceled, arr=arr, dep=dep, skipped=skipped, changed=changed,
               pattern=int(ctx.fwd.trip_pattern[t]))


def _append(base: Patterns, extra: Patterns) -> Patterns:
    """`base` followed by the patterns of `extra` (same direction)."""
    return Patterns(
        stop_start=np.concatenate([base.stop_start, base.stop_start[-1] + extra.stop_start[1:]]),
        stops=np.concatenate([base.stops, extra.stops]),
        board_ok=np.concatenate([base.board_ok, extra.board_ok]),
        alight_ok=np.concatenate([base.alight_ok, extra.alight_ok]),
        board_slack=np.concatenate([base.board_slack, extra.board_slack]),
        alight_slack=np.concatenate([base.alight_slack, extra.alight_slack]),
        board_fixed=np.concatenate([base.board_fixed, extra.board_fixed]),
        alight_fixed=np.concatenate([base.alight_fixed, extra.alight_fixed]),
        mode=np.concatenate([base.mode, extra.mode]),
        trip_pattern=base.trip_pattern, reverse=base.reverse)


def _skip_patterns(fwd: Patterns, skips: list[tuple[int, np.ndarray]]) -> Patterns:
    """Copies of static patterns p with boarding and alighting off where `skipped`."""
    rows = [np.arange(fwd.stop_start[p], fwd.stop_start[p + 1]) for p, _ in skips]
    allr = np.concatenate(rows)
    off = np.concatenate([sk for _, sk in skips])
    start = np.zeros(len(skips) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=start[1:])
    return Patterns(
        stop_start=start, stops=fwd.stops[allr],
        board_ok=fwd.board_ok[allr] & ~off, alight_ok=fwd.alight_ok[allr] & ~off,
        board_slack=fwd.board_slack[allr], alight_slack=fwd.alight_slack[allr],
        board_fixed=fwd.board_fixed[allr], alight_fixed=fwd.alight_fixed[allr],
        mode=fwd.mode[[p for p, _ in skips]], trip_pattern=fwd.trip_pattern, reverse=False)


class Realtime:
    """The realtime state a planner plans on: the runs the updates name, and the patterns
    (static + skip patterns) in both directions."""

    def __init__(self, ctx: Context, rev: Patterns, updates: Iterable[TripUpdate]):
        runs: dict[tuple[int, int], Run] = {}
        for u in updates:
            r = resolve(ctx, u)
            if isinstance(r, Run):
                runs[(r.trip, r.service_date)] = r      # a later update of a run wins
        skips: dict[tuple[int, bytes], int] = {}
        n_static = ctx.fwd.n_patterns
        for key, r in runs.items():
            if r.skipped.any() and not r.canceled:
                sk = (r.pattern, r.skipped.tobytes())
                p = skips.setdefault(sk, n_static + len(skips))
                runs[key] = replace(r, pattern=p)
        self.runs = runs
        self.static_pattern = ctx.fwd.trip_pattern      # t -> p (runs without skips ride it)
        if skips:
            extra = _skip_patterns(ctx.fwd, [(p, np.frombuffer(m, dtype=bool))
                                             for p, m in skips])
            self.fwd, self.rev = _append(ctx.fwd, extra), _append(rev, extra.reversed())
        else:
            self.fwd, self.rev = ctx.fwd, rev

    def run(self, t: int, service_date: int) -> Run | None:
        return self.runs.get((t, service_date))


# static Day -> (sorted instance keys, instance of each): built once per static day, shared
# by every realtime state planned on it
_INDEX: weakref.WeakKeyDictionary[Day, tuple[np.ndarray, np.ndarray]] = \
    weakref.WeakKeyDictionary()


def _key(trip: np.ndarray, sd: np.ndarray) -> np.ndarray:
    return trip.astype(np.int64) * 4_000_000 + sd.astype(np.int64)


def _instances(day: Day, runs: list[Run]) -> np.ndarray:
    """Instance of each run in `day`, -1 where the run is not expanded there."""
    got = _INDEX.get(day)
    if got is None:
        keys = _key(day.inst_trip, day.inst_date)
        order = np.argsort(keys, kind="stable")
        got = _INDEX[day] = (keys[order], order)
    keys, order = got
    if not len(keys):
        return np.full(len(runs), -1, dtype=np.int64)
    want = _key(np.array([r.trip for r in runs]), np.array([r.service_date for r in runs]))
    k = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    return np.where(keys[k] == want, order[k], -1)


def _times(r: Run, day: Day) -> tuple[np.ndarray, np.ndarray]:
    """(t_arr, t_dep) of run r as `day` lays them out (reversed days: backwards, negated)."""
    off = r.ref - day.origin
    if day.reverse:
        return -(r.dep[::-1].astype(np.int64) + off), -(r.arr[::-1].astype(np.int64) + off)
    return r.arr.astype(np.int64) + off, r.dep.astype(np.int64) + off


def _in_place(day: Day, t_arr: np.ndarray, t_dep: np.ndarray, j: int, r: Run) -> bool:
    """Write run r's times over instance j if it stays FIFO with the instances before and
    after it in its day pattern (at every stop, arrival and departure), so the binary
    search over the day pattern stays right; False (nothing written) if it would overtake
    or be overtaken."""
    q = int(day.inst_q[j])
    k, n = j - int(day.q_inst_start[q]), int(day.q_inst_start[q + 1] - day.q_inst_start[q])
    a, d = _times(r, day)
    length = len(a)
    base = int(day.q_time_start[q]) + k * length
    if k > 0 and ((t_arr[base - length:base] > a).any() or (t_dep[base - length:base] > d).any()):
        return False
    nxt = base + length
    if k + 1 < n and ((t_arr[nxt:nxt + length] < a).any()
                      or (t_dep[nxt:nxt + length] < d).any()):
        return False
    t_arr[base:nxt], t_dep[base:nxt] = a, d
    return True


def overlay(rt: Realtime, day: Day, n_stops: int) -> Day:
    """`day` (static) with the times of the changed runs: in place where a run stays FIFO
    with its neighbours, else moved to FIFO day patterns of their own (a run that would
    overtake or be overtaken, a run with skipped stops); the static instances of cancelled
    and moved runs are dead."""
    runs = [r for r in rt.runs.values() if r.changed]
    if not runs:
        return day
    inst = _instances(day, runs)
    hit = inst >= 0
    if not hit.any():
        return day
    alive = np.ones(len(day.inst_trip), dtype=bool)
    t_arr, t_dep = day.t_arr.copy(), day.t_dep.copy()
    moved = []
    static_pattern = rt.static_pattern
    for r, j in zip(runs, inst.tolist()):
        if j < 0:
            continue
        if r.canceled:
            alive[j] = False
        elif r.pattern != static_pattern[r.trip] or not _in_place(day, t_arr, t_dep, j, r):
            alive[j] = False
            moved.append(r)
    if not moved:
        return replace(day, t_arr=t_arr, t_dep=t_dep, inst_alive=alive)
    pats = rt.rev if day.reverse else rt.fwd
    lens = np.array([len(r.arr) for r in moved], dtype=np.int64)
    row = np.zeros(len(moved), dtype=np.int64)
    if len(moved):
        np.cumsum(lens[:-1], out=row[1:])
    loc_arr = np.concatenate([r.arr for r in moved]) if moved else np.zeros(0, np.int32)
    loc_dep = np.concatenate([r.dep for r in moved]) if moved else np.zeros(0, np.int32)
    off = np.array([r.ref - day.origin for r in moved], dtype=np.int64)
    pat = np.array([r.pattern for r in moved], dtype=np.int64)
    ex = expand(pats, pat, row, off, loc_arr, loc_dep)
    n_q, n_inst, n_t = day.n_q, len(day.inst_trip), len(day.t_arr)
    new_stop = ex.row_stop[ex.by_stop]
    at = day.stop_q_start[new_stop.astype(np.int64) + 1]
    extra = np.zeros(n_stops + 1, dtype=np.int64)
    np.cumsum(np.bincount(new_stop, minlength=n_stops), out=extra[1:])
    trips = np.array([r.trip for r in moved], dtype=np.int32)
    dates = np.array([r.service_date for r in moved], dtype=np.int32)
    return Day(
        query_date=day.query_date, origin=day.origin, reverse=day.reverse,
        q_pattern=np.concatenate([day.q_pattern, ex.q_pattern]),
        q_inst_start=np.concatenate([day.q_inst_start[:-1], n_inst + ex.q_inst_start]),
        q_time_start=np.concatenate([day.q_time_start, n_t + ex.q_time_start]),
        t_arr=np.concatenate([t_arr, ex.t_arr]), t_dep=np.concatenate([t_dep, ex.t_dep]),
        inst_trip=np.concatenate([day.inst_trip, trips[ex.order]]),
        inst_date=np.concatenate([day.inst_date, dates[ex.order]]),
        inst_q=np.concatenate([day.inst_q, n_q + ex.inst_q]),
        stop_q_start=day.stop_q_start + extra,
        stop_q=np.insert(day.stop_q, at, n_q + ex.row_q[ex.by_stop]),
        stop_q_pos=np.insert(day.stop_q_pos, at, ex.row_pos[ex.by_stop]),
        inst_alive=np.concatenate([alive, np.ones(len(moved), dtype=bool)]),
    )


def utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)
