"""From reconstructed rides to user-facing itineraries: times, walks, Pareto filter, ids.

A journey found by the rounds is a tuple of `Ride`s (trip instance + positions). Times are
taken from the network itself (service-day reference of the trip's time zone + GTFS
seconds), so what we show is exactly what the feed says and what `Planner.leg_stops` checks;
on a realtime planner a run with an update shows its realtime times (the same the overlay
day searched), and its leg keeps the timetable's in `scheduled_*` and in its `LegKey`.

Deduplication: journeys are compared on (departure, arrival, transfers). One that leaves no
later, arrives no earlier and changes no less often than another is dropped, so no near-copy
that only waits longer at the start survives; among equal ones the first (least walking) wins.
Range queries compare what the search optimises: the start (departure minus board time and
access walk) and the arrival plus the alight time.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

from routing.frozen import fields_of, filled
from routing.itinerary import Itinerary, ItineraryKey, Leg, LegKey, Place, encode_id
from routing.timetable import service_ref_epoch
from routing.trips import trip_number

if TYPE_CHECKING:
    from routing.context import Context
    from routing.planner import Query
    from routing.realtime import Realtime
    from routing.search import Search

__all__ = ["Ride", "Catalog", "assemble"]

Reach = dict[int, tuple[int, int]]      # s -> (walk seconds, metres)
RideKey = tuple[int, int, int, int]     # a ride as (trip t, service date ordinal, board, alight)


class Ride(NamedTuple):
    """One ride of a journey found by the rounds (a named tuple: a plan makes a dozen or more,
    and a frozen dataclass took ~4x as long to make)."""

    inst: int       # trip instance in the Day
    board: int      # forward position in the trip's stop sequence
    alight: int
    length: int     # stops in the trip


_WALK = fields_of(Leg, mode="walk")     # a walk's Leg fields, to copy and fill
_ZONES: dict[str, ZoneInfo] = {}      # a few zones a network: never cleared
# The datetimes legs show, per zone (UTC: a leg key's) and epoch: a demo plan shows ~27 (a new
# ride's four, ~11 of walks, made again each plan), half of them shown before (a ride's
# departure is its access walk's arrival and other rides' too), and making one took ~0.4 us
# against ~0.05 for a look-up. Ints to datetimes: the collector never tracks these dicts.
_TIMES: dict[str, dict[int, datetime]] = {}
_UTC: dict[int, datetime] = {}
_MAX_TIMES = 1 << 14    # per zone; cleared when full (a datetime and its entry ~0.1 KB)


def _dt(epoch: int, tz: str) -> datetime:
    """`epoch` in zone `tz` (the same as converting the UTC time with astimezone)."""
    times = _TIMES.get(tz)
    if times is None:
        times = _TIMES[tz] = {}
    got = times.get(epoch)
    if got is None:
        zone = _ZONES.get(tz)
        if zone is None:
            zone = _ZONES[tz] = ZoneInfo(tz)
        if len(times) >= _MAX_TIMES:
            times.clear()
        got = times[epoch] = datetime.fromtimestamp(epoch, zone)
    return got


def _utc(epoch: int) -> datetime:
    got = _UTC.get(epoch)
    if got is None:
        if len(_UTC) >= _MAX_TIMES:
            _UTC.clear()
        got = _UTC[epoch] = datetime.fromtimestamp(epoch, timezone.utc)
    return got


class _Trip(NamedTuple):
    """What a transit leg shows of trip t, as plain Python values (a named tuple: a young
    worker makes ~1 a plan, and a frozen dataclass's keyword call took ~1 us more)."""

    trip_id: str
    feed: str
    row: int                # first stop_times row of the trip
    tz: int                 # z of its agency
    pattern: int            # forward pattern
    mode: str
    route_id: str
    route_short_name: str
    route_long_name: str
    operator: str
    headsign: str
    number: str             # train or flight number: trip_short_name, else route short name
    # a ride's Leg fields, those of the trip filled: copied and completed per ride (`filled`)
    leg: dict


class Catalog:
    """Stops and trips as itineraries show them, memoised per planner: the network never
    changes under a planner, and building these from numpy scalars was a large part of
    assembling a plan. Thread-safe (dict get/set; a race builds an equal value twice)."""

    _MAX = 1 << 16          # entries per memo; cleared when full (bounded memory)
    _MAX_RIDES = 1 << 13    # a ride's leg is ~1 KB of objects

    def __init__(self, ctx: Context, realtime: Realtime | None = None,
                 like: Catalog | None = None):
        """`realtime`: legs show its times; `like`: a catalog of the same network whose
        stop, trip and reference memos to share (they do not depend on realtime)."""
        self.ctx, self.net, self.rt = ctx, ctx.network, realtime
        self._places: dict[int, Place] = like._places if like else {}
        self._trips: dict[int, _Trip] = like._trips if like else {}
        self._routes: dict[int, tuple[str, str, str, str, str]] = like._routes if like else {}
        self._refs: dict[tuple[int, int], int] = like._refs if like else {}
        # the stops a ride passes, per (pattern, board, alight): every trip of a pattern
        # passes the same ones, so its legs share one tuple (and renderers can key by it)
        self._spans: dict[tuple[int, int, int], tuple[Place, ...]] = like._spans if like else {}
        self._rides: dict[tuple[int, int, int, int], tuple[Leg, int, int]] = {}
        self._versions: dict[frozenset[str], tuple[tuple[str, str], ...]] = \
            like._versions if like else {}

    def forget_rides(self) -> None:
        """Drop the memoised legs of rides (benchmarks: measure queries as if first seen)."""
        self._rides.clear()

    def versions(self, feeds: frozenset[str]) -> tuple[tuple[str, str], ...]:
        """(feed, version) of each feed in `feeds` (the feeds an itinerary rides: a new
        version of an unrelated feed keeps it bookable), in the network's order; memoised
        per set of feeds (a leg's `feed` is its trip id's prefix)."""
        got = self._versions.get(feeds)
        if got is None:
            if len(self._versions) >= self._MAX:
                self._versions.clear()
            got = self._versions[feeds] = tuple(fv for fv in self.ctx.versions if fv[0] in feeds)
        return got

    def ref(self, sd: int, z: int) -> int:
        """Epoch of the service-day reference of service date `sd` (ordinal) in zone z."""
        key = (sd, z)
        got = self._refs.get(key)
        if got is None:
            if len(self._refs) >= self._MAX:
                self._refs.clear()
            got = self._refs[key] = service_ref_epoch(date.fromordinal(sd), self.net.timezones[z])
        return got

    def ride(self, t: int, sd: int, board: int, alight: int) -> tuple[Leg, int, int, int, int]:
        """The leg riding trip t of service date `sd` (ordinal) from position `board` to
        `alight`, with its boarding and alighting stop and its departure and arrival (epoch
        seconds: what the leg shows, so walks and itineraries are timed without reading the
        leg's datetimes back)."""
        key = (t, sd, board, alight)
        got = self._rides.get(key)
        if got is None:
            got = self._ride(t, sd, board, alight)
            if len(self._rides) >= self._MAX_RIDES:
                self._rides.clear()
            self._rides[key] = got
        return got

    def times(self, trip: _Trip, ref: int, t: int, sd: int, board: int,
              alight: int) -> tuple[int, int]:
        """(departure at `board`, arrival at `alight`) of trip t (`trip`) on service date `sd`
        (its reference epoch `ref`), epoch seconds: realtime when the run has an update, else
        the timetable's."""
        run = self.rt.run(t, sd) if self.rt is not None else None
        if run is not None:
            return ref + run.dep.item(board), ref + run.arr.item(alight)
        net, row = self.net, trip.row
        return ref + net.st_dep.item(row + board), ref + net.st_arr.item(row + alight)

    def _ride(self, t: int, sd: int, board: int, alight: int) -> tuple[Leg, int, int, int, int]:
        net = self.net
        trip = self.trip(t)
        row = trip.row
        ref = self.ref(sd, trip.tz)
        sdep = ref + net.st_dep.item(row + board)
        sarr = ref + net.st_arr.item(row + alight)
        run = self.rt.run(t, sd) if self.rt is not None else None
        dep, arr = (ref + run.dep.item(board), ref + run.arr.item(alight)) if run is not None \
            else (sdep, sarr)
        s_b, s_a = net.st_stop.item(row + board), net.st_stop.item(row + alight)
        known = self._places
        fb, ta = known.get(s_b) or self.place(s_b), known.get(s_a) or self.place(s_a)
        key = filled(LegKey, {"trip_id": trip.trip_id, "service_date": date.fromordinal(sd),
                              "board_pos": board, "alight_pos": alight, "from_stop": fb.id,
                              "to_stop": ta.id, "departure": _utc(sdep), "arrival": _utc(sarr)})
        values = trip.leg.copy()
        values["from_place"], values["to_place"] = fb, ta
        values["scheduled_departure"] = sched_dep = _dt(sdep, fb.tz)
        values["scheduled_arrival"] = sched_arr = _dt(sarr, ta.tz)
        if run is None:
            values["departure"], values["arrival"] = sched_dep, sched_arr
        else:
            values["departure"], values["arrival"] = _dt(dep, fb.tz), _dt(arr, ta.tz)
            values["delay_s"], values["realtime"] = dep - sdep, True
        values["duration_s"], values["stops"] = arr - dep, alight - board
        values["key"], values["intermediate"] = key, self.passed(trip, board, alight)
        leg = filled(Leg, values)
        return leg, s_b, s_a, dep, arr

    def place(self, s: int) -> Place:
        got = self._places.get(s)
        if got is None:
            net = self.net
            got = Place(id=str(net.stop_id[s]), name=str(net.stop_name[s]),
                        lat=float(net.stop_lat[s]), lon=float(net.stop_lon[s]),
                        tz=self.ctx.stop_tz(s))
            if len(self._places) >= self._MAX:
                self._places.clear()
            self._places[s] = got
        return got

    def passed(self, trip: _Trip, board: int, alight: int) -> tuple[Place, ...]:
        """The places of the stops `trip` serves between positions `board` and `alight`."""
        key = (trip.pattern, board, alight)
        got = self._spans.get(key)
        if got is None:
            row = trip.row
            got = self.places(self.net.st_stop[row + board + 1:row + alight].tolist())
            if len(self._spans) >= self._MAX:
                self._spans.clear()
            self._spans[key] = got
        return got

    def places(self, stops: list[int]) -> tuple[Place, ...]:
        """`place` of each stop (a ride passes ~10: one lookup each, no call when known)."""
        known = self._places
        return tuple([known.get(s) or self.place(s) for s in stops])

    def trip(self, t: int) -> _Trip:
        got = self._trips.get(t)
        if got is None:
            net = self.net
            route = net.trip_route.item(t)
            mode, route_id, route_short_name, route_long_name, operator = \
                self._routes.get(route) or self._route(route)
            trip_id = str(net.trip_id[t])
            feed, headsign, number = trip_id.split(":", 1)[0], str(net.trip_headsign[t]), \
                trip_number(net, t)
            got = _Trip(trip_id, feed, net.trip_st_start.item(t), self.ctx.trip_tz.item(t),
                        self.ctx.fwd.trip_pattern.item(t), mode, route_id, route_short_name,
                        route_long_name, operator, headsign, number,
                        fields_of(Leg, mode=mode, feed=feed, trip_id=trip_id,
                                  route_id=route_id, route_short_name=route_short_name,
                                  route_long_name=route_long_name, operator=operator,
                                  headsign=headsign, trip_short_name=number))
            if len(self._trips) >= self._MAX:
                self._trips.clear()
            self._trips[t] = got
        return got

    def _route(self, route: int) -> tuple[str, str, str, str, str]:
        """(mode, route id, short name, long name, operator) of a route, as `trip` shows them:
        a young worker meets ~1 new trip a plan, mostly of routes it has seen."""
        net = self.net
        got = (str(net.route_mode[route]), str(net.route_id[route]),
               str(net.route_short_name[route]), str(net.route_long_name[route]),
               str(net.agency_name[net.route_agency.item(route)]))
        if len(self._routes) >= self._MAX:
            self._routes.clear()
        self._routes[route] = got
        return got


class _Builder:
    def __init__(self, ctx: Context, catalog: Catalog, query: Query,
                 src: Reach, dst: Reach):
        self.ctx, self.net, self.q = ctx, ctx.network, query
        self.cat = catalog
        self.origin, self.dest = query.origin, query.destination
        # `src`/`dst` are in search direction; map to origin/destination reach
        self.o_reach, self.d_reach = (dst, src) if query.arrive_by else (src, dst)
        self.fwd = ctx.fwd

    def place(self, s: int) -> Place:
        return self.cat.place(s)

    def coord_place(self, p, near: int) -> Place:
        lat, lon = p
        return Place(id=None, name=f"{lat:.6f},{lon:.6f}", lat=float(lat), lon=float(lon),
                     tz=self.ctx.stop_tz(near))

    def walk(self, a: Place, b: Place, start: int, dist_m: float, dur: int | None = None) -> Leg:
        if dur is None:
            # math.ceil: np.ceil of a Python float is the same integer at ~5x the cost
            dur = math.ceil(dist_m / (self.q.walk_speed_mps or self.ctx.config.walk_speed_mps))
        values = _WALK.copy()
        values["from_place"], values["to_place"] = a, b
        values["departure"], values["arrival"] = _dt(start, a.tz), _dt(start + dur, b.tz)
        values["duration_s"], values["distance_m"] = dur, round(dist_m, 1)
        return filled(Leg, values)

    def slack(self, r: RideKey, board: bool) -> int:
        """Board/alight time in effect at ride `r`'s stop (for drawing walks)."""
        p = self.cat.trip(r[0]).pattern
        return self._slack_row(self.fwd.stop_start.item(p) + (r[2] if board else r[3]), board)

    def walk_only(self, dep: int, dur: int, dist_m: float) -> tuple:
        """The journey of one walk from the origin to the destination (as `build`)."""
        near = next(iter(self.o_reach or self.d_reach))
        a = self.place(self.ctx.stop(self.origin)) if isinstance(self.origin, str) \
            else self.coord_place(self.origin, near)
        z = self.place(self.ctx.stop(self.dest)) if isinstance(self.dest, str) \
            else self.coord_place(self.dest, near)
        return dep, dep + dur, 0, (self.walk(a, z, dep, dist_m, dur),), ()

    def raw(self, rides: tuple[RideKey, ...], legs: bool = False) -> tuple[int, int, int]:
        """(departure, arrival, transfers) as build() will compute them. `legs`: read from
        the first and last ride's leg (`Catalog.ride`, memoised: build takes them from there),
        for queries that build nearly every journey found (a point query's); without, from
        the timetable, making no objects (a range query drops most of its journeys)."""
        net, pats, cat = self.net, self.fwd, self.cat
        (t1, d1, board1, alight1), (t2, d2, board2, alight2) = rides[0], rides[-1]
        trip1, trip2 = cat.trip(t1), cat.trip(t2)
        if legs:
            _, s_b, _, dep, _ = cat.ride(t1, d1, board1, alight1)
            _, _, s_a, _, arr = cat.ride(t2, d2, board2, alight2)
        else:
            dep = cat.times(trip1, cat.ref(d1, trip1.tz), t1, d1, board1, alight1)[0]
            arr = cat.times(trip2, cat.ref(d2, trip2.tz), t2, d2, board2, alight2)[1]
            s_b = net.st_stop.item(trip1.row + board1)
            s_a = net.st_stop.item(trip2.row + alight2)
        w, dm = self.o_reach.get(s_b, (0, 0))
        slack = self._slack_row(pats.stop_start.item(trip1.pattern) + board1, True)
        if dm > 0 or not isinstance(self.origin, str):
            dep -= w + slack
            self.start = dep
        else:
            self.start = dep - slack
        w, dm = self.d_reach.get(s_a, (0, 0))
        row = pats.stop_start.item(trip2.pattern) + alight2
        if dm > 0 or not isinstance(self.dest, str):
            arr += w + self._slack_row(row, False)
            self.value = arr
        else:       # what the search minimises: free to leave the destination
            self.value = arr + self._slack_row(row, False)
        return dep, arr, len(rides) - 1

    def _slack_row(self, row: int, board: bool) -> int:
        pats = self.fwd
        fixed = (pats.board_fixed if board else pats.alight_fixed).item(row)
        if fixed >= 0:
            return fixed
        if self.q.min_transfer_s is not None:
            return int(self.q.min_transfer_s) if board else 0
        return (pats.board_slack if board else pats.alight_slack).item(row)

    def build(self, rides: tuple[RideKey, ...]) -> tuple:
        """(departure, arrival, transfers, legs, the transit legs) of a journey's rides."""
        ride = self.cat.ride
        transit = [ride(*r) for r in rides]
        legs: list[Leg] = []
        first, s_first, _, dep, _ = transit[0]
        last, _, s_last, _, arr = transit[-1]
        # access walk
        if isinstance(self.origin, str):
            w, dm = self.o_reach.get(s_first, (0, 0))
            if dm > 0:
                a = self.place(self.ctx.stop(self.origin))
                dep -= self.slack(rides[0], True) + w
                legs.append(self.walk(a, first.from_place, dep, dm, w))
        else:
            w, dm = self.o_reach[s_first]
            dep -= self.slack(rides[0], True) + w
            legs.append(self.walk(self.coord_place(self.origin, s_first), first.from_place, dep,
                                  dm, w))
        for i, (leg, _, s, _, at) in enumerate(transit):
            legs.append(leg)
            if i + 1 < len(transit):
                nxt, s2, _, _, _ = transit[i + 1]
                if s2 != s:
                    start = at + self.slack(rides[i], False)
                    legs.append(self.walk(leg.to_place, nxt.from_place, start, self.ctx.walk_m(s, s2)))
        # egress walk
        if isinstance(self.dest, str):
            w, dm = self.d_reach.get(s_last, (0, 0))
            if dm > 0:
                start = arr + self.slack(rides[-1], False)
                legs.append(self.walk(last.to_place, self.place(self.ctx.stop(self.dest)), start, dm, w))
                arr = start + w
        else:
            w, dm = self.d_reach[s_last]
            start = arr + self.slack(rides[-1], False)
            legs.append(self.walk(last.to_place, self.coord_place(self.dest, s_last), start, dm, w))
            arr = start + w
        return dep, arr, len(transit) - 1, tuple(legs), [t[0] for t in transit]


def _pareto(cands: list[tuple], priced: bool = False) -> list[tuple]:
    """Keep journeys no other one beats on (later departure, earlier arrival, fewer transfers;
    `priced`: and a price no higher, c[5])."""
    if len(cands) < 2:          # (a point query finds one journey or two)
        return list(cands)
    if priced:
        cands = sorted(cands, key=lambda c: (c[1], c[2], c[5], -c[0], c[3]))
    else:
        cands = sorted(cands, key=lambda c: (c[1], c[2], -c[0], c[3]))
    kept: list[tuple] = []
    for c in cands:
        if any(k[0] >= c[0] and k[1] <= c[1] and k[2] <= c[2] and (not priced or k[5] <= c[5])
               for k in kept):
            continue
        kept.append(c)
    return kept


def _order(kept: list[tuple], query: Query) -> None:
    """Sort journeys for the kind of query (see `assemble`)."""
    if query.window_s > 0:
        kept.sort(key=lambda c: (c[0], c[1], c[2]))
    elif query.arrive_by:
        pen = int(query.transfer_penalty_s or 0)
        kept.sort(key=lambda c: (-c[0] + pen * c[2], c[2], c[1]))
    elif query.transfer_penalty_s:      # a profile preferring fewer changes
        pen = int(query.transfer_penalty_s)
        kept.sort(key=lambda c: (c[1] + pen * c[2], c[2], -c[0]))
    else:
        kept.sort(key=lambda c: (c[1], c[2], -c[0]))


def journey_keys(search: Search, found: list[tuple[Ride, ...]]) -> list[tuple[RideKey, ...]]:
    """Each journey's rides as (trip, service date ordinal, board, alight): what the network
    calls them, whatever day expansion the search ran on (an empty journey: ())."""
    inst_trip, inst_date = search.day.inst_trip, search.day.inst_date
    return [tuple([(inst_trip.item(r.inst), inst_date.item(r.inst), r.board, r.alight)
                   for r in rides]) for rides in found]


def assemble(ctx: Context, catalog: Catalog, search: Search, found: list[tuple[Ride, ...]],
             query: Query, src: Reach, dst: Reach, limit: int,
             window: tuple[int, int] | None = None,
             prices: list[int] | None = None,
             walk: tuple[int, int, float] | None = None,
             keys: list[tuple[RideKey, ...]] | None = None) -> list[Itinerary]:
    """Itineraries of the journeys `found` (rides in travel order): Pareto-filtered over
    (time to set out, time free at the destination, transfers: what the search optimises, board
    and alight times included), sorted for the kind of query (a point query with a
    `transfer_penalty_s` by arrival + penalty x transfers), at most `limit`.
    `src`/`dst` are the walking reach in search direction; `window` keeps range journeys
    starting inside it. `prices` (criteria=price, one per journey found): price is a fourth
    criterion of the filter, and the cheapest journey is always among the `limit` returned.
    `walk` (departure, seconds, metres): the origin is within walking reach of the
    destination: a walk-only itinerary is offered (no ride: nothing beats it on transfers)
    and every journey that walking from its own start would beat (arrive no later) dropped.
    `keys`: `journey_keys(search, found)`, when the caller has them already."""
    b = _Builder(ctx, catalog, query, src, dst)
    seen: set = set()
    raws = []
    legs = window is None       # (see raw)
    for n, key in enumerate(journey_keys(search, found) if keys is None else keys):
        if not key:
            continue
        if key in seen:
            continue
        seen.add(key)
        _, _, transfers = b.raw(key, legs)     # (and b.start, b.value)
        if walk is not None and b.value - b.start >= walk[1]:
            continue                    # walking from its start arrives no later, no ride
        if window is not None and not window[0] <= b.start <= window[1]:
            continue                    # a range query returns journeys starting in its window
        # Pareto over what the search optimises: the latest time to set out (board time and
        # access walk included) and the time free at the destination (alight time, egress
        # walk). Not the legs' departure and arrival: a flight landing at 03:00 leaves the
        # passenger free at 03:20, so a train arriving at 03:19 with a change is no worse
        raws.append((b.start, b.value, transfers, 0, key,
                     prices[n] if prices is not None else None))
    kept = _pareto(raws, priced=prices is not None)
    if walk is not None:
        kept.append((walk[0], walk[0] + walk[1], 0, walk[2], None, 0 if prices is not None else None))
    if len(kept) > 1:
        _order(kept, query)
    top = kept[:limit]
    if prices is not None and kept:
        cheapest = min(kept, key=lambda c: (c[5], c[1], c[2]))
        if cheapest not in top:
            top = top[:limit - 1] + [cheapest]
    out = []
    for c in top:
        dep, arr, transfers, legs, rode = b.build(c[4]) if c[4] is not None \
            else b.walk_only(c[0], c[1] - c[0], c[3])
        ikey = filled(ItineraryKey, {
            "versions": catalog.versions(frozenset([leg.feed for leg in rode])),
            "legs": tuple([leg.key for leg in rode])})
        out.append(filled(Itinerary, {
            "id": encode_id(ikey, ctx.config.id_secret), "key": ikey,
            "departure": legs[0].departure, "arrival": legs[-1].arrival, "duration_s": arr - dep,
            "transfers": transfers, "legs": legs, "price_minor": c[5]}))
    return out
