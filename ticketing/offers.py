"""Offers: an itinerary's transit legs resolved against the live network, and priced. Pure.

`make_offer` is what a booking holds; `price_itinerary` is what /v1/plan shows (one
adult by default). A leg must name a trip the network has, running on its service date,
with its boarding/alighting stops at the positions the itinerary says; otherwise the
itinerary is invalid (tampering, or a network that changed under the same version id).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from routing.fares import FareClasses
from routing.network import Network
from routing.prebuilt import registered_trips
from ticketing.errors import ItineraryInvalid, ItineraryStale
from ticketing.fares import (FareConfig, LegSpan, Quote, TripFares, TripTariff, leg_operator,
                              leg_unit_price, price_journey, price_linked, trip_pricer)

__all__ = ["OfferLeg", "Offer", "check_versions", "resolve_legs", "make_offer", "price_itinerary",
           "adult_pricer"]


@dataclass(frozen=True)
class OfferLeg:
    leg_no: int
    trip: int            # t in the network (pricing)
    feed: str
    agency_id: str       # "feed:agency_id"
    agency_name: str
    mode: str
    route_id: str
    trip_id: str
    service_date: date
    board_pos: int
    alight_pos: int
    from_stop: str
    to_stop: str
    departure: datetime
    arrival: datetime

    @property
    def span(self) -> LegSpan:
        return LegSpan(self.trip, self.board_pos, self.alight_pos)


@dataclass(frozen=True)
class Offer:
    legs: tuple[OfferLeg, ...]
    quote: Quote


def check_versions(planned: Sequence[tuple[str, str]], live: dict[str, str]) -> None:
    """410 unless every feed the itinerary was planned on is still live at that version."""
    stale = [f for f, v in planned if live.get(f) != v]
    if stale:
        raise ItineraryStale("the timetable this itinerary was planned on is no longer live",
                             feeds=sorted(stale))


@dataclass(frozen=True)
class _Trip:
    """What resolving a leg needs of trip t, as plain Python values."""

    t: int
    start: int          # first stop_times row
    n_stops: int
    service: int
    feed: str
    agency_id: str
    agency_name: str
    mode: str
    route_id: str


class _Trips:
    """Trips of one network by id, resolved on first use (the network never changes)."""

    def __init__(self, net: Network):
        self.net = net
        # the planner's shared index when it has one (no dict of every trip id per process)
        self.index = registered_trips(net) or {str(t): i for i, t in enumerate(net.trip_id)}
        self.trips: dict[int, _Trip] = {}

    def get(self, trip_id: str) -> _Trip | None:
        t = self.index.get(trip_id)
        if t is None:
            return None
        got = self.trips.get(t)
        if got is None:
            net = self.net
            start, end = int(net.trip_st_start[t]), int(net.trip_st_start[t + 1])
            r = int(net.trip_route[t])
            a = int(net.route_agency[r])
            if len(self.trips) >= 1 << 16:
                self.trips.clear()      # bounded memory on a huge network
            got = self.trips[t] = _Trip(
                t=t, start=start, n_stops=end - start, service=int(net.trip_service[t]),
                feed=str(net.feeds[int(net.agency_feed[a])]), agency_id=str(net.agency_id[a]),
                agency_name=str(net.agency_name[a]), mode=str(net.route_mode[r]),
                route_id=str(net.route_id[r]))
        return got


_TRIP_INDEX: dict[int, _Trips] = {}


def _trip_index(net: Network) -> _Trips:
    cached = _TRIP_INDEX.get(id(net))
    if cached is None or cached.net is not net:
        cached = _Trips(net)
        _TRIP_INDEX.clear()  # one live network at a time; keep only the newest
        _TRIP_INDEX[id(net)] = cached
    return cached


def _trip_of(trips: Any, n: int, leg: Any) -> _Trip:
    """Leg n's trip; 422 itinerary_invalid if the network has no such trip."""
    trip = trips.get(leg.trip_id)
    if trip is None:
        raise ItineraryInvalid(f"leg {n}: unknown trip {leg.trip_id}", leg=n)
    return trip


def _checked(net: Network, legs: Sequence[Any]) -> list[tuple[_Trip, Any]]:
    """Each leg with its trip, once the leg is known to be a ride the network has."""
    if not legs:
        raise ItineraryInvalid("the itinerary has no transit leg to book")
    trips = _trip_index(net)
    out = []
    for n, leg in enumerate(legs):
        trip = _trip_of(trips, n, leg)
        start = trip.start
        if not 0 <= leg.board_pos < leg.alight_pos < trip.n_stops:
            raise ItineraryInvalid(f"leg {n}: stop positions outside the trip", leg=n)
        if (str(net.stop_id[int(net.st_stop[start + leg.board_pos])]) != leg.from_stop
                or str(net.stop_id[int(net.st_stop[start + leg.alight_pos])]) != leg.to_stop):
            raise ItineraryInvalid(f"leg {n}: stops do not match the trip", leg=n)
        day = leg.service_date.toordinal() - net.service_base_date
        days = net.service_days
        if not (0 <= day < days.shape[1] and days[trip.service, day]):
            raise ItineraryInvalid(f"leg {n}: the trip does not run on {leg.service_date}", leg=n)
        out.append((trip, leg))
    return out


def resolve_legs(net: Network, legs: Sequence[Any]) -> tuple[OfferLeg, ...]:
    """Resolve routing LegKeys (trip_id, service_date, board_pos, alight_pos, from_stop,
    to_stop, departure, arrival) against the network."""
    return tuple(
        OfferLeg(
            leg_no=n, trip=trip.t, feed=trip.feed, agency_id=trip.agency_id,
            agency_name=trip.agency_name, mode=trip.mode, route_id=trip.route_id,
            trip_id=leg.trip_id, service_date=leg.service_date, board_pos=leg.board_pos,
            alight_pos=leg.alight_pos, from_stop=leg.from_stop, to_stop=leg.to_stop,
            departure=leg.departure, arrival=leg.arrival,
        )
        for n, (trip, leg) in enumerate(_checked(net, legs)))


def make_offer(net: Network, cfg: FareConfig, legs: Sequence[Any],
               categories: Sequence[str]) -> Offer:
    resolved = resolve_legs(net, legs)
    return Offer(resolved, price_journey(net, cfg, [leg.span for leg in resolved], categories))


def price_itinerary(net: Network, cfg: FareConfig, legs: Sequence[Any],
                    categories: Sequence[str] = ("adult",), *, planned: bool = False,
                    classes: FareClasses | None = None) -> Quote:
    """Prices of an itinerary's transit legs (routing LegKeys), for /v1/plan. `planned`: the
    legs were just made by a planner on `net` (their stops, positions and service dates are
    the network's by construction), so only their trips are looked up, not checked again
    (a fifth of pricing a new itinerary); a booking's legs (from an id) are always checked.
    `classes` (with `planned`): that planner's fare classes; a leg is priced as its class's
    representative trip (same route, same stops: the same price, as a price search counts
    it), so a unit price computed for one trip serves every trip of its class."""
    if planned and classes is not None:
        pricer = _planned(net, cfg, classes)
        if pricer is not None:
            return pricer.quote(legs, categories)
    try:
        key = (tuple(legs), tuple(categories))
        memo = _QUOTES.get(net)
        got = memo.get(key) if memo is not None else None
    except TypeError:   # legs that are not hashable: no memo
        return _quote(net, cfg, legs, categories, planned, classes)
    if got is not None and got[0] is cfg:
        return got[1]
    quote = _quote(net, cfg, legs, categories, planned, classes)
    if memo is None:
        memo = _QUOTES.setdefault(net, {})
    if len(memo) >= 1 << 12:       # ~1.5 KB an entry (the legs are kept alive)
        memo.clear()
    memo[key] = (cfg, quote)
    return quote


def _quote(net: Network, cfg: FareConfig, legs: Sequence[Any],
           categories: Sequence[str], planned: bool = False,
           classes: FareClasses | None = None) -> Quote:
    """make_offer(...).quote, checking the legs the same way without building OfferLegs."""
    if planned:
        trips = _trip_index(net)
        ts = [_trip_of(trips, n, leg).t for n, leg in enumerate(legs)]
        if classes is not None and len(classes.trip_class) == net.n_trips:
            ts = [int(classes.rep_trip[classes.trip_class[t]]) for t in ts]
        spans = [LegSpan(t, leg.board_pos, leg.alight_pos) for t, leg in zip(ts, legs, strict=True)]
    else:
        spans = [LegSpan(trip.t, leg.board_pos, leg.alight_pos)
                 for trip, leg in _checked(net, legs)]
    return price_journey(net, cfg, spans, categories)


class _Planned:
    """Quotes of planned legs on one network, priced as their fare class's representative
    trip (`price_itinerary(planned=True, classes=...)`), from plain memos: trip id -> its
    class's record (the trip priced, its operator, its `TripTariff` or `TripFares`) and (that
    trip, board, alight) -> unit price; the quote itself is `price_linked`'s (memoised by the
    units). The same values as `_quote(..., planned=True, classes=...)`, without hashing the
    legs (a leg key holds eight fields, two datetimes) or looking the network up in a weak
    memo once per leg: a plan's new itineraries (a new day, a query nobody asked yet) were
    priced at ~3x the in-process cost inside a busy server. A unit not seen before comes
    straight from the class's tariff (`TripTariff.unit`) when the network has no GTFS fares,
    from its zones' fare (`TripFares.unit`) when it has v1 fares only."""

    __slots__ = ("net", "cfg", "trip_class", "rep_trip", "index", "trips", "classes", "units")

    def __init__(self, net: Network, cfg: FareConfig, classes: FareClasses) -> None:
        # not `classes` itself: it is this pricer's key in the weak memo (a value holding
        # its key would keep both, and the network, alive after the planner is gone)
        self.net, self.cfg = net, cfg
        self.trip_class, self.rep_trip = classes.trip_class, classes.rep_trip
        self.index = _trip_index(net).index
        self.trips: dict[str, tuple[int, str, TripTariff | TripFares | None]] = {}
        self.classes: dict[int, tuple[int, str, TripTariff | TripFares | None]] = {}
        self.units: dict[tuple[int, int, int], tuple[int, str]] = {}

    def quote(self, legs: Sequence[Any], categories: Sequence[str] = ("adult",)) -> Quote:
        trips, memo = self.trips, self.units
        units = []
        first, linked = None, False     # linked: two legs of different operators
        for n, leg in enumerate(legs):
            rep, operator, tariff = trips.get(leg.trip_id) or self._trip(n, leg)
            key = (rep, leg.board_pos, leg.alight_pos)
            unit = memo.get(key)
            if unit is None:
                unit = self._unit(key, tariff)
            units.append(unit)
            if first is None:
                first = operator
            elif operator != first:
                linked = True
        return price_linked(self.cfg, tuple(units), linked, tuple(categories))

    def _unit(self, key: tuple[int, int, int],
              tariff: TripTariff | TripFares | None) -> tuple[int, str]:
        unit = tariff.unit(key[1], key[2]) if tariff is not None \
            else leg_unit_price(self.net, self.cfg, LegSpan(*key))
        if len(self.units) >= 1 << 16:
            self.units.clear()
        self.units[key] = unit
        return unit

    def _trip(self, n: int, leg: Any) -> tuple[int, str, TripTariff | TripFares | None]:
        t = self.index.get(leg.trip_id)
        if t is None:
            _trip_of(_trip_index(self.net), n, leg)     # 422 itinerary_invalid: no such trip
        c = int(self.trip_class[t])
        got = self.classes.get(c)
        if got is None:
            net, rep = self.net, int(self.rep_trip[c])
            got = self.classes[c] = (rep, leg_operator(net, LegSpan(rep, 0, 0)),
                                     trip_pricer(net, self.cfg, rep))
        if len(self.trips) >= 1 << 16:
            self.trips.clear()
        self.trips[leg.trip_id] = got
        return got


_PLANNED: weakref.WeakKeyDictionary[FareClasses, _Planned] = weakref.WeakKeyDictionary()


def adult_pricer(net: Network, cfg: FareConfig,
                 classes: FareClasses | None) -> Callable[[Sequence[Any]], Quote]:
    """`lambda legs: price_itinerary(net, cfg, legs, planned=True, classes=classes)` (one
    adult), its memos looked up once: /v1/plan prices every itinerary of a response with
    the same network, config and planner."""
    pricer = _planned(net, cfg, classes) if classes is not None else None
    if pricer is not None:
        return pricer.quote
    return functools.partial(price_itinerary, net, cfg, planned=True, classes=classes)


def _planned(net: Network, cfg: FareConfig, classes: FareClasses) -> _Planned | None:
    """The pricer of `classes` (a planner's) on `net` with `cfg`; None when `classes` is not
    of `net`'s trips."""
    got = _PLANNED.get(classes)
    if got is None or got.net is not net or got.cfg is not cfg:
        if len(classes.trip_class) != net.n_trips:
            return None
        got = _PLANNED[classes] = _Planned(net, cfg, classes)
    return got


# network -> (legs, categories) -> (cfg, quote): /v1/plan prices the same itineraries again
# and again; a quote is a pure function of these (an invalid itinerary raises, never stored)
_QUOTES: weakref.WeakKeyDictionary[Network, dict[tuple[Any, Any], tuple[FareConfig, Quote]]] \
    = weakref.WeakKeyDictionary()
