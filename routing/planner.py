"""The journey planner: `Planner.build(network, config)` once, then `plan(query)` many times.

The facade: it resolves places (stops, platforms, coordinates, walking reach), the query's
date and time, then hands over to the search machinery (`routing.search`) on the expanded
day (`routing.days`), and turns the rides found into itineraries (`routing.journeys`).

Build (pure, a few seconds on a province): patterns (forward and reversed), footpaths
(networkx), stop lookups. Expanded days are built on first use and cached (LRU). Given a
`shared` hook (routing.prebuilt), the planner asks it for all of these instead, so the
processes of one machine can share one (read-only, memory-mapped) copy. Querying
is thread-safe: the only mutable state is a pool of per-query scratch arrays and the day
cache, both behind a lock, and memos whose races build an equal value twice.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np

from routing import raptor
from routing.config import RoutingConfig
from routing.context import Context, trip_zones
from routing.days import DayCache
from routing.errors import DateOutOfService, InvalidQuery, LegNotFeasible, UnknownStop
from routing.fares import FareClasses, FareTable, fare_classes
from routing.footpaths import Footpaths, build_footpaths, haversine_m, near_stops
from routing.frozen import blank
from routing.itinerary import Itinerary, LegKey
from routing.journeys import Catalog, assemble, journey_keys
from routing.mcraptor import BagPool, collect_priced
from routing.network import Network
from routing.prebuilt import Shared, pack, register_trips, trip_arrays, unpack
from routing.realtime import LegStatus, Realtime, overlay, resolve, utc
from routing.search import Searches, Sources, collect
from routing.timetable import (Day, Patterns, build_day, build_patterns, day_span,
                               service_ref_epoch)
from routing.updates import TripUpdate
from routing.via import plan_via

__all__ = ["Planner", "Query", "Prepared", "Place", "LegStatus"]

Place = str | tuple[float, float]      # "feed:stop_id" or (lat, lon)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


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
    min_transfer_s: int | None = None   # v: be at every boarding v before (replaces the mode
    #                                     board/alight and change defaults; rules still apply)
    limit: int | None = None
    via: tuple[str, ...] = ()            # stops to pass through in order (routing.via)
    via_min_stay_s: int = 0             # at least this long from arrival to departure at each
    # travel profile (routing.config.Profile): None/0/False keep the network's behaviour
    walk_speed_mps: float | None = None  # every walk at this speed (access, egress, footpaths)
    extra_transfer_s: int = 0           # added to every change between two vehicles
    transfer_penalty_s: int = 0         # ranking: a change costs this much arrival time
    step_free: bool = False             # no stop/trip the feed marks as not accessible (2)

    @classmethod
    def of(cls, **fields: Any) -> Query:
        """The Query of every field given by name, as `Query(**fields)`, in one dict update:
        the frozen dataclass's __init__ sets each field with its own object.__setattr__
        (18 fields: 2.6 us against 1.1 hot, 10 against 9 cache-cold, on every plan request).
        Every field must be given; only their number is checked (comparing the names cost
        more, cold, than the update saves): a misspelt one leaves its field at its default."""
        if len(fields) != len(cls.__dataclass_fields__):
            raise TypeError(f"Query.of takes every field: {sorted(fields)}")
        q = blank(cls)
        vars(q).update(fields)
        return q

    def at(self, time_s: int) -> Query:
        """This query at another time of its date (`Query.of`'s one dict update)."""
        q = blank(type(self))
        got = vars(q)
        got.update(vars(self))
        got["time_s"] = time_s
        return q


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything a query's search is but for its time (`Planner.prepared`): its places'
    walking reach, the time zone and midnight of its date, the search of its day and options,
    its limit, window length and walk-only offer, and its part of `Searched.key`. A caller
    that meets the same query at other times keeps this and calls `Planner.searched_at`
    (`maas.api.plan` keeps it per query text, for as long as the planner lives): ~15 memo
    look-ups and checks of `prepared`, cache-cold tens of us a plan, made once.
    `searched_at` checks its search is still of the planner's day."""

    planner: Planner
    query: Query
    fares: FareTable | None
    src: dict                       # walking reach, search direction (`_reach`)
    dst: dict
    src_in: Sources                 # the same as the kernel takes them (`_sources`)
    dst_in: Sources
    tz: str                         # the anchor's zone
    midnight: int | None            # `_midnight(tz, date)`
    window: int
    limit: int
    walk: tuple[int, float] | None  # `_walk_only`
    search: Any                     # resolved on the day of the query (not the long one)
    exact: int                      # `_exact_until(search, False)`
    longer: bool                    # `_longer_helps(date, arrive_by)`
    qkey: tuple                     # the query's fields but its time


class Searched:
    """A query searched, its itineraries not yet assembled (`Planner.searched`). `key()` is
    everything they are made of besides the planner: the journeys the search found (trips,
    service dates, positions), the query but for its time, the limit, the range window, the
    prices and the walk-only offer (which carries the query's time). Two queries to one
    planner with equal keys get equal itineraries, so a caller may keep what it makes of them
    (`maas.api.plan` keeps the rendered body) by the key, for as long as the planner lives."""

    __slots__ = ("planner", "search", "found", "query", "src", "dst", "limit", "window",
                 "prices", "walk", "keys", "qkey")

    def __init__(self, planner: Planner, search: Any, found: list, query: Query, src: dict,
                 dst: dict, limit: int, window: tuple[int, int] | None,
                 prices: list[int] | None, walk: tuple[int, int, float] | None,
                 qkey: tuple) -> None:
        self.planner, self.search, self.found, self.query = planner, search, found, query
        self.src, self.dst, self.limit, self.window = src, dst, limit, window
        self.prices, self.walk, self.qkey = prices, walk, qkey
        self.keys = journey_keys(search, found)     # (what `assemble` starts from anyway)

    def key(self) -> tuple:
        return (self.qkey, tuple(self.keys), self.limit, self.window,
                None if self.prices is None else tuple(self.prices), self.walk)

    def itineraries(self) -> list[Itinerary]:
        p = self.planner
        return assemble(p.ctx, p.catalog, self.search, self.found, self.query, self.src,
                        self.dst, self.limit, self.window, prices=self.prices, walk=self.walk,
                        keys=self.keys)


class Children:
    """s -> its child stops (stop_parent) in stop order, `.get(s, default)` like a dict of
    lists, over two arrays (a CSR) instead of a dict per worker."""

    def __init__(self, parent: np.ndarray) -> None:
        kids = np.flatnonzero(parent >= 0)
        kids = kids[np.argsort(parent[kids], kind="stable")]
        self._kids = kids
        self._start = np.searchsorted(parent[kids], np.arange(len(parent) + 1))

    def get(self, s: int, default: Any = None) -> Any:
        if not 0 <= s < len(self._start) - 1:
            return default
        a, b = int(self._start[s]), int(self._start[s + 1])
        return self._kids[a:b].tolist() if b > a else default


class Planner:
    def __init__(self, network: Network, config: RoutingConfig, fwd: Patterns, fps: Footpaths,
                 shared: Shared | None = None):
        self.network = network
        self.config = config
        self.fwd = fwd
        self.fps = fps
        if shared is None:
            self.rev = fwd.reversed()
            self.fps_rev = fps.transposed()
            self.ctx = Context.of(network, config, fwd, fps)
        else:
            self.rev = unpack(Patterns, shared.arrays("patterns-rev", lambda: pack(fwd.reversed())),
                              reverse=True)
            self.fps_rev = unpack(Footpaths, shared.arrays("footpaths-rev",
                                                           lambda: pack(fps.transposed())))
            self.ctx = Context.of(network, config, fwd, fps, shared.arrays("trips", lambda: {
                **trip_arrays(network.trip_id), "trip_tz": trip_zones(network)}),
                shared.arrays("stop-ids", lambda: trip_arrays(network.stop_id)))
            register_trips(network, self.ctx.trip_index)
        self.versions = self.ctx.versions
        self.stop_index = self.ctx.stop_index
        self.trip_index = self.ctx.trip_index
        self.trip_tz = self.ctx.trip_tz
        self.children = Children(network.stop_parent)
        runs = np.flatnonzero(network.service_days.any(axis=0)) if network.service_days.size else []
        base = network.service_base_date
        self.valid_from = date.fromordinal(base + int(runs[0])) if len(runs) else None
        self.valid_to = date.fromordinal(base + int(runs[-1])) if len(runs) else None
        self._max_dep = int(network.st_dep.max()) if len(network.st_dep) else 0
        self.days = DayCache(
            lambda d, reverse, long: build_day(network, self.rev if reverse else fwd, d, config,
                                               long)
            if shared is None else _shared_day(shared, network, self.rev if reverse else fwd,
                                               d, config, long),
            config.date_cache_size)
        self.searches = Searches(self.ctx, fwd, self.rev, self.fps_rev)
        self._reach_cache: dict[tuple, dict[int, tuple[int, int]]] = {}
        self._sources_memo: dict[int, tuple[dict, Sources]] = {}   # id(reach) -> (reach, of it)
        self._place_members: dict[str, list[int]] = {}     # stop place -> _members of its stop
        self._midnights: dict[tuple[str, date], int | None] = {}   # see _local_epoch
        self.catalog = Catalog(self.ctx)    # stops and trips as itineraries show them (memo)
        self._bags = BagPool()                  # label buffers of price searches
        self.realtime: Realtime | None = None   # the realtime state planned on (None: static)
        self._static = self                     # the planner without realtime

    # ---------------------------------------------------------------- realtime
    def with_realtime(self, updates: Iterable[TripUpdate]) -> Planner:
        """A planner on the realtime state `updates` describe (the FULL current state: it
        replaces whatever realtime this planner had). Shares every static structure; costs
        in proportion to the runs named (days are overlaid on first use). Updates that do
        not apply (`check_update`) are left out."""
        base = self._static
        rt = Realtime(base.ctx, base.rev, updates)
        new = copy.copy(base)
        new.realtime = rt
        new.days = DayCache(lambda d, reverse, long: overlay(rt, base.days.get(d, reverse, long),
                                                             base.network.n_stops),
                            base.config.date_cache_size)
        new.searches = Searches(base.ctx, rt.fwd, rt.rev, base.fps_rev, like=base.searches)
        new.catalog = Catalog(base.ctx, rt, like=base.catalog)
        return new

    def check_update(self, update: TripUpdate) -> str | None:
        """None if `update` applies to this network, else why not: `unknown_trip`,
        `not_running_that_day` (the trip does not run on its service date), `unknown_stop`
        (a stop_sequence or stop id the trip does not have)."""
        got = resolve(self.ctx, update)
        return got if isinstance(got, str) else None

    def leg_status(self, leg: LegKey) -> LegStatus:
        """A leg of the timetable (as booked: `LegKey`) on this planner's realtime state.
        Raises LegNotFeasible if the leg is not in the network (see `leg_stops`)."""
        self.leg_stops(leg)
        t = self.trip_index[leg.trip_id]
        run = self.realtime.run(t, leg.service_date.toordinal()) if self.realtime else None
        sdep, sarr = int(leg.departure.timestamp()), int(leg.arrival.timestamp())
        if run is None:
            return LegStatus(departure=utc(sdep), arrival=utc(sarr), scheduled_departure=utc(sdep),
                             scheduled_arrival=utc(sarr), delay_s=0, arrival_delay_s=0,
                             cancelled=False, realtime=False)
        dep = run.ref + int(run.dep[leg.board_pos])
        arr = run.ref + int(run.arr[leg.alight_pos])
        return LegStatus(
            departure=utc(dep), arrival=utc(arr), scheduled_departure=utc(sdep),
            scheduled_arrival=utc(sarr), delay_s=dep - sdep, arrival_delay_s=arr - sarr,
            cancelled=bool(run.canceled or run.skipped[leg.board_pos]
                           or run.skipped[leg.alight_pos]),
            realtime=True)

    # ---------------------------------------------------------------- build
    @classmethod
    def build(cls, network: Network, config: RoutingConfig | None = None,
              shared: Shared | None = None) -> Planner:
        """`shared` (routing.prebuilt): where the patterns, footpaths, trip index and expanded
        days are kept once for every process, instead of each building its own."""
        config = config or RoutingConfig()
        if shared is None:
            return cls(network, config, build_patterns(network, config),
                       build_footpaths(network, config))
        fwd = unpack(Patterns, shared.arrays(
            "patterns", lambda: pack(build_patterns(network, config))), reverse=False)
        fps = unpack(Footpaths, shared.arrays(
            "footpaths", lambda: pack(build_footpaths(network, config))))
        return cls(network, config, fwd, fps, shared)

    # ---------------------------------------------------------------- lookups
    def stop(self, stop_id: str) -> int:
        return self.ctx.stop(stop_id)

    def stop_tz(self, s: int) -> str:
        return self.ctx.stop_tz(s)

    def day(self, d: date, reverse: bool = False, long: bool = False) -> Day:
        return self.days.get(d, reverse, long)

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

    def _place_stops(self, place: str) -> list[int]:
        """`_members` of a stop place (memo: two lookups and a slice of numpy arrays each
        time otherwise, on every point query's walk-only check). Raises UnknownStop."""
        got = self._place_members.get(place)
        if got is None:
            if len(self._place_members) > 8192:
                self._place_members.clear()
            got = self._place_members[place] = self._members(self.stop(place))
        return got

    def _reach(self, place: Place, fps: Footpaths, max_walk: float,
               speed_mps: float | None = None) -> dict[int, tuple[int, int]]:
        """Stops reachable on foot from (or to) a place: s -> (walk seconds, metres);
        `fps` walked at `speed_mps` (Searches.footpaths), coordinates walked at it too."""
        if not isinstance(place, str):
            return self._reach_uncached(place, fps, max_walk, speed_mps)
        # adjusted footpaths share `start` with the ones they were made from (direction)
        key = (place, fps.start is self.fps.start, max_walk, speed_mps)
        got = self._reach_cache.get(key)
        if got is None:
            if len(self._reach_cache) > 8192:
                self._reach_cache.clear()
            if len(self._sources_memo) > 8192:
                self._sources_memo.clear()
            got = self._reach_cache[key] = self._reach_uncached(place, fps, max_walk, speed_mps)
            self._sources_memo[id(got)] = (got, Sources.of(got))
        return got

    def _sources(self, reach: dict[int, tuple[int, int]]) -> Sources:
        """`Sources.of(reach)`, made once per reach dict `_reach` keeps (a stop's; the entry
        holds the dict, so its id stays its own); a coordinate's reach is new each query."""
        got = self._sources_memo.get(id(reach))
        return got[1] if got is not None and got[0] is reach else Sources.of(reach)

    def _reach_uncached(self, place: Place, fps: Footpaths, max_walk: float,
                        speed_mps: float | None = None):
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
                    if s2 in members or (not r and (dm > max_walk or max_walk <= 0)):
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
            out[s] = (int(np.ceil(dm / (speed_mps or cfg.walk_speed_mps))), int(round(dm)))
        if not out:
            raise UnknownStop(f"no stop within {radius:.0f} m of {lat},{lon}", place=f"{lat},{lon}")
        return out

    def place_tz(self, place: Place, reach: dict[int, tuple[int, int]]) -> str:
        if isinstance(place, str):
            return self.stop_tz(self.stop(place))
        return self.stop_tz(min(reach, key=lambda s: reach[s][1]))

    # ---------------------------------------------------------------- plan
    def fare_classes(self) -> FareClasses:
        """What a `FareTable` for this planner is indexed by (built once, shared with its
        realtime planners)."""
        base = self._static
        got = base.__dict__.get("_fare_classes")
        if got is None:
            got = base.__dict__["_fare_classes"] = fare_classes(base.network, base.fwd)
        return got

    def plan(self, query: Query, fares: FareTable | None = None, *,
             walk_only: bool = True) -> list[Itinerary]:
        """Itineraries for `query`. With `fares` (criteria=price; depart-at point queries
        only), price is a third Pareto criterion: slower journeys that cost less survive.
        `walk_only`: offer walking when within reach (see `_walk_only`; off for the
        segments of a via query, which ride to and from each via stop)."""
        self._check(query, fares)
        if query.via:
            if fares is not None:
                raise InvalidQuery("criteria=price is not combined with via", parameter="criteria")
            return plan_via(self, query)
        return self._searched(query, fares, walk_only).itineraries()

    def searched(self, query: Query, fares: FareTable | None = None, *,
                 walk_only: bool = True) -> Searched:
        """`plan` up to its itineraries, for a query without `via` (several searches): the
        search run, the itineraries not yet assembled (`Searched`)."""
        return self._searched(query, fares, walk_only)

    @staticmethod
    def _check(query: Query, fares: FareTable | None) -> None:
        if query.origin == query.destination:
            raise InvalidQuery("from and to are the same place")
        if fares is not None and (query.arrive_by or query.window_s > 0):
            raise InvalidQuery("criteria=price plans departures at a time: not with arrive_by "
                               "or window_min", parameter="criteria")

    def _searched(self, query: Query, fares: FareTable | None, walk_only: bool) -> Searched:
        return self.searched_at(self.prepared(query, fares, walk_only=walk_only), query)

    def prepared(self, query: Query, fares: FareTable | None = None, *,
                walk_only: bool = True) -> Prepared:
        """`searched` but for the query's time, for `searched_at` (`Prepared`). Raises what
        `searched` raises for anything but the time (an unknown stop, a date out of service)."""
        self._check(query, fares)
        if query.via:
            raise InvalidQuery("a via query is several searches: plan it", parameter="via")
        cfg = self.config
        max_walk = cfg.walk_radius_m if query.max_walk_m is None else max(0.0, query.max_walk_m)
        speed, walks = query.walk_speed_mps, self.searches.footpaths
        src = self._reach(query.destination if query.arrive_by else query.origin,
                          walks(query.arrive_by, speed), max_walk, speed)
        dst = self._reach(query.origin if query.arrive_by else query.destination,
                          walks(not query.arrive_by, speed), max_walk, speed)
        anchor = query.destination if query.arrive_by else query.origin
        d = query.date
        tz = self.place_tz(anchor, src)
        self.check_date(d)
        search = self.searches.resolve(query, self.day(d, query.arrive_by))
        return Prepared(
            planner=self, query=query, fares=fares, src=src, dst=dst,
            src_in=self._sources(src), dst_in=self._sources(dst), tz=tz,
            midnight=self._midnight(tz, d),
            window=max(0, min(query.window_s, cfg.max_window_min * 60)),
            limit=cfg.default_limit if query.limit is None
            else max(1, min(query.limit, cfg.max_limit)),
            # (not with fares: a price search answers with journeys to book)
            walk=self._walk_only(query, src, dst, max_walk) if fares is None and walk_only
            else None,
            search=search, exact=self._exact_until(search, False),
            longer=self._longer_helps(d, query.arrive_by),
            qkey=tuple([v for f, v in vars(query).items() if f != "time_s"]))

    def searched_at(self, prep: Prepared, query: Query) -> Searched:
        """`searched(query)` for a query that is `prep.query` but for its time (the caller
        vouches for that; `prep` made by this planner)."""
        if prep.planner is not self:
            raise ValueError("prepared by another planner")
        d, time_s = query.date, query.time_s
        t0 = prep.midnight + time_s if prep.midnight is not None and 0 <= time_s < 86400 \
            else self._local_epoch(prep.tz, d, time_s)
        search, exact = prep.search, prep.exact
        day = self.day(d, query.arrive_by)
        if search.day is not day:       # the day was dropped from the cache and made again
            search = self.searches.resolve(query, day)
            exact = self._exact_until(search, False)
        window, src, dst, fares = prep.window, prep.src, prep.dst, prep.fares
        rides, prices, best = self._search(search, t0, window, prep.src_in, prep.dst_in, dst,
                                           fares)
        if best > exact and prep.longer:
            # nothing found that trips of the days not expanded could not beat: search again
            # on the days up to the horizon (overnight trains, long-haul flights)
            search = self.searches.resolve(query, self.day(d, query.arrive_by, True))
            rides, prices, best = self._search(search, t0, window, prep.src_in, prep.dst_in,
                                               dst, fares)
        span = (t0, t0 + window) if window > 0 and not query.arrive_by else None
        walk = prep.walk
        if walk is not None:    # (departure, seconds, metres): leave at the query time
            walk = (t0 - walk[0] if query.arrive_by else t0, *walk)
        return Searched(self, search, rides, query, src, dst, prep.limit, span, prices, walk,
                        prep.qkey)

    def _local_epoch(self, tz: str, d: date, time_s: int) -> int:
        """The epoch of the wall time `time_s` seconds after midnight of `d` in zone `tz`,
        as `(datetime.combine(d, time(0), ZoneInfo(tz)) + timedelta(seconds=time_s))
        .timestamp()`: on a day whose UTC offset is the same at its midnight and the next
        (no transition), that is the midnight's epoch + time_s, memoised per (zone, date);
        a day with a transition, or a time outside the day, takes the datetime way."""
        if 0 <= time_s < 86400:
            midnight = self._midnight(tz, d)
            if midnight is not None:
                return midnight + time_s
        return int((datetime.combine(d, time(0), ZoneInfo(tz))
                    + timedelta(seconds=time_s)).timestamp())

    def _midnight(self, tz: str, d: date) -> int | None:
        """The epoch of `d`'s midnight in zone `tz` when its UTC offset is the same at the
        next midnight (no transition that day), else None (`_local_epoch`)."""
        key = (tz, d)
        midnight = self._midnights.get(key, False)
        if midnight is False:
            if len(self._midnights) > 4096:
                self._midnights.clear()
            zone = ZoneInfo(tz)
            start = datetime.combine(d, time(0), zone)
            end = datetime.combine(d + timedelta(1), time(0), zone)
            midnight = self._midnights[key] = int(start.timestamp()) \
                if start.utcoffset() == end.utcoffset() else None
        return midnight

    def _walk_only(self, query: Query, src: dict, dst: dict,
                   max_walk: float) -> tuple[int, float] | None:
        """(seconds, metres) of the shortest walk from the origin to the destination, if
        within walking reach: a stop (or a platform of it) within the other place's walking
        reach (`src`/`dst`, search direction), or two coordinates within `access_radius_m`;
        None without (or with max_walk_m=0)."""
        if max_walk <= 0:
            return None
        o_reach, d_reach = (dst, src) if query.arrive_by else (src, dst)
        best: tuple[int, float] | None = None
        for place, other in ((query.origin, d_reach), (query.destination, o_reach)):
            if isinstance(place, str):
                for m in self._place_stops(place):
                    if m in other and (best is None or other[m][0] < best[0]):
                        best = (int(other[m][0]), float(other[m][1]))
        if best is None and not isinstance(query.origin, str) and \
                not isinstance(query.destination, str):
            cfg = self.config
            dm = float(haversine_m(*query.origin, *query.destination)) * cfg.walk_detour
            if dm <= min(cfg.access_radius_m, max_walk):
                speed = query.walk_speed_mps or cfg.walk_speed_mps
                best = (int(np.ceil(dm / speed)), dm)
        return best

    def _search(self, search: Any, t0: int, window: int, src: Sources, dst: Sources,
                dst_reach: dict, fares: FareTable | None):
        """Run the rounds of `search` (its day: the query's, or expanded to the horizon) from
        the sources `src` to the targets `dst` (`dst_reach`: theirs as a dict); the journeys
        found, their prices (with `fares`) and the best target value (search time, INF:
        none)."""
        scratch = self.searches.scratch(search.day.n_q)
        try:
            if fares is None:   # (the kernel writes the targets' walks into scratch.egress)
                rides, best = collect(search, scratch, src, dst, t0 - search.day.origin, window)
                return rides, None, best
            if fares.classes is not self.fare_classes():
                raise ValueError("the fare table was made for another planner's network")
            egress = scratch.egress         # all -1 but for this query's targets (reset below)
            try:
                for s, (w, _) in dst_reach.items():
                    egress[s] = w
                priced = collect_priced(search, self._bags, src, egress,
                                        t0 - search.day.origin, fares)
            finally:
                for s in dst_reach:
                    egress[s] = -1
        finally:
            self.searches.release(scratch)
        rides, prices = [r for r, _, _ in priced], [c for _, c, _ in priced]
        best = min((a for _, _, a in priced), default=int(raptor.INF))
        return rides, prices, best

    def _exact_until(self, search, long: bool) -> int:
        """Search time up to which the day's expansion is exact: no trip of a service date
        it leaves out arrives earlier (forward), or departs later (arrive-by: searched
        backwards), than that. UTC+14 is the earliest local midnight of a date."""
        day = search.day
        before, after = day_span(self.config, day.reverse, long)
        midnight = (day.query_date.toordinal() - _EPOCH_ORDINAL) * 86400     # UTC midnight
        if day.reverse:     # times are origin - t: a left-out trip departs by `last`
            last = midnight - (before + 1) * 86400 + 14 * 3600 + self._max_dep
            return day.origin - last
        return midnight + (after + 1) * 86400 - 14 * 3600 - day.origin

    def _longer_helps(self, d: date, reverse: bool) -> bool:
        """Does any feed run on a date the long expansion adds?"""
        cfg = self.config
        if cfg.horizon_days <= (cfg.days_before if reverse else cfg.days_after):
            return False
        if reverse:
            return self.valid_from is not None and self.valid_from < d - timedelta(cfg.days_before)
        return self.valid_to is not None and self.valid_to > d + timedelta(cfg.days_after)

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
        return self.ctx.walk_m(s, s2)

    def alight_s(self, leg, min_transfer_s: int | None = None) -> int:
        """Seconds after a transit leg's arrival before the passenger is free (station rule,
        else the mode's default; 0 with a query's min_transfer_s)."""
        pats = self.fwd
        t = self.trip_index[leg.key.trip_id]
        row = int(pats.stop_start[int(pats.trip_pattern[t])]) + leg.key.alight_pos
        fixed = int(pats.alight_fixed[row])
        if fixed >= 0:
            return fixed
        return 0 if min_transfer_s is not None else int(pats.alight_slack[row])


def _shared_day(shared: Shared, network: Network, pats: Patterns, d: date,
                config: RoutingConfig, long: bool = False) -> Day:
    """The expanded day (d, direction of `pats`, `long`: to the horizon) kept in `shared`,
    built there once."""
    def build() -> dict[str, np.ndarray]:
        day = build_day(network, pats, d, config, long)
        return {**pack(day), "day_origin": np.array([day.origin], dtype=np.int64)}

    name = f"day-{d.isoformat()}-{'rev' if pats.reverse else 'fwd'}{'-long' if long else ''}"
    got = shared.arrays(name, build)
    return unpack(Day, got, query_date=d, origin=int(got["day_origin"][0]), reverse=pats.reverse)
