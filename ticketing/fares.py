"""Prices of journey legs: GTFS fares where the feed has them, else distance tariffs.

Pure: takes the merged `routing.network.Network` and a frozen `FareConfig`, returns
integer amounts in minor units (fen for CNY) of the settlement currency.

Per leg, one passenger's base price (`unit_minor`) is:
1. the GTFS-Fares v2 product of the leg's feed whose fare_leg_rule matches the route's
   network and the areas of the boarding and alighting stops (highest rule_priority, then the
   most specific rule, then the cheapest); else
2. the cheapest GTFS v1 fare (fare_attributes + fare_rules) of the leg's feed that applies
   to its route and origin/destination zones (a fare without rules applies to every route
   of its agency); either converted to the settlement currency with `fx`; else
3. the distance tariff of the leg's operator ("feed:agency_id"), else of its mode:
   max(minimum, base + per_km * km along the trip's stops), rounded to `round_minor`.

Each passenger then pays unit * (1 - concession discount of their category), and a
journey linking two or more operators gets `linked_discount` off every leg (one-stop
purchase). Removing a leg re-prices the rest with the same function, so the discount
disappears when only one operator is left.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

from routing.fares import FareClasses, FareTable
from routing.network import Network
from ticketing.errors import NoFare, UnknownCategory

__all__ = ["Tariff", "FareConfig", "LegSpan", "LegPrice", "Quote", "leg_unit_price",
           "leg_operator", "price_units", "price_journey", "leg_distance_km", "format_minor",
           "search_fares"]

_EARTH_KM = 6371.0088


@dataclass(frozen=True)
class Tariff:
    per_km: float       # settlement currency per km
    minimum: float      # lowest price of a leg
    base: float = 0.0   # flat part added before the minimum applies


@dataclass(frozen=True)
class FareConfig:
    currency: str = "CNY"
    mode_tariffs: Mapping[str, Tariff] = field(default_factory=dict)      # mode -> tariff
    operator_tariffs: Mapping[str, Tariff] = field(default_factory=dict)  # "feed:agency" -> tariff
    concessions: Mapping[str, float] = field(default_factory=dict)        # category -> discount 0..1
    linked_discount: float = 0.0    # off every leg when the journey links >= 2 operators
    fx: Mapping[str, float] = field(default_factory=dict)  # GTFS fare currency -> settlement rate
    round_minor: int = 10           # tariff prices are rounded to this many minor units


@dataclass(frozen=True)
class LegSpan:
    trip: int        # t in the network
    board_pos: int   # position of the boarding stop in the trip's stop times
    alight_pos: int  # position of the alighting stop (> board_pos)


@dataclass(frozen=True)
class LegPrice:
    unit_minor: int    # one adult, before the linked discount
    amount_minor: int  # all passengers, after concessions and the linked discount
    source: str        # "fare:feed:fare_id" | "tariff:operator:feed:agency" | "tariff:mode:rail"


@dataclass(frozen=True)
class Quote:
    legs: tuple[LegPrice, ...]
    total_minor: int
    currency: str
    linked: bool       # the linked (multi-operator) discount applied


def format_minor(amount_minor: int) -> str:
    """1250 -> "12.50" (two-decimal currencies)."""
    sign = "-" if amount_minor < 0 else ""
    whole, cents = divmod(abs(amount_minor), 100)
    return f"{sign}{whole}.{cents:02d}"


def _round(value: Decimal, step: int = 1) -> int:
    return int((value / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)) * step


# --- GTFS fares ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _FareIndex:
    by_route: dict[int, list[tuple[int, str, str]]]  # r -> [(q, origin, destination)]
    any_route: dict[str, list[tuple[int, str, str]]]  # feed -> rules without a route
    ruleless: dict[str, list[int]]                    # feed -> fares that have no rules


_INDEX: weakref.WeakKeyDictionary[Network, _FareIndex] = weakref.WeakKeyDictionary()


def _feed_of(namespaced: str) -> str:
    return namespaced.split(":", 1)[0]


def _fare_index(net: Network) -> _FareIndex:
    idx = _INDEX.get(net)
    if idx is None:
        by_route: dict[int, list[tuple[int, str, str]]] = {}
        any_route: dict[str, list[tuple[int, str, str]]] = {}
        for j in range(len(net.fare_rule_fare)):
            q = int(net.fare_rule_fare[j])
            rule = (q, str(net.fare_rule_origin[j]), str(net.fare_rule_destination[j]))
            r = int(net.fare_rule_route[j])
            if r >= 0:
                by_route.setdefault(r, []).append(rule)
            else:
                any_route.setdefault(_feed_of(str(net.fare_id[q])), []).append(rule)
        with_rules = set(int(q) for q in net.fare_rule_fare)
        ruleless: dict[str, list[int]] = {}
        for q in range(len(net.fare_id)):
            if q not in with_rules:
                ruleless.setdefault(_feed_of(str(net.fare_id[q])), []).append(q)
        idx = _FareIndex(by_route, any_route, ruleless)
        _INDEX[net] = idx
    return idx


_MEMO_MAX = 1 << 16  # entries per memo below; cleared when full
_Memo = weakref.WeakKeyDictionary[Network, dict[Any, tuple[FareConfig, Any]]]


def _memo(store: _Memo, net: Network, cfg: FareConfig, key: Any, compute: Any) -> Any:
    """compute() once per (network, cfg, key): prices are pure functions of the (immutable)
    network and the config, and /v1/plan prices the same legs again and again."""
    memo = store.get(net)
    if memo is None:
        memo = store.setdefault(net, {})
    got = memo.get(key)
    if got is not None and got[0] is cfg:
        return got[1]
    value = compute()
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[key] = (cfg, value)
    return value


_GTFS: _Memo = weakref.WeakKeyDictionary()   # (route, origin zone, destination zone) -> fare
_TARIFF: _Memo = weakref.WeakKeyDictionary()  # (route, stops ridden) -> tariff price
_UNITS: _Memo = weakref.WeakKeyDictionary()   # (trip, board_pos, alight_pos) -> unit price


def _gtfs_fare(net: Network, cfg: FareConfig, route: int, origin: str,
               destination: str) -> tuple[int, str] | None:
    return _memo(_GTFS, net, cfg, (route, origin, destination),
                 lambda: _gtfs_fare_of(net, cfg, route, origin, destination))


def _gtfs_fare_of(net: Network, cfg: FareConfig, route: int, origin: str,
                  destination: str) -> tuple[int, str] | None:
    idx = _fare_index(net)
    feed = _feed_of(str(net.route_id[route]))
    agency = int(net.route_agency[route])
    candidates = [q for q, o, d in idx.by_route.get(route, []) + idx.any_route.get(feed, [])
                  if o in ("", origin) and d in ("", destination)]
    candidates += idx.ruleless.get(feed, [])
    best: tuple[int, str] | None = None
    for q in candidates:
        if int(net.fare_agency[q]) not in (-1, agency):
            continue
        rate = 1.0 if net.fare_currency[q] == cfg.currency else cfg.fx.get(str(net.fare_currency[q]))
        if rate is None:
            continue  # a currency we cannot convert: fall back to the tariff
        minor = _round(Decimal(str(float(net.fare_price[q]))) * Decimal(str(rate)) * 100)
        if best is None or minor < best[0]:
            best = (minor, f"fare:{net.fare_id[q]}")
    return best


# --- GTFS-Fares v2 (leg rules) ------------------------------------------------------------

@dataclass(frozen=True)
class _V2Index:
    areas: dict[int, frozenset[str]]                        # s -> its areas (stop_areas.txt)
    rules: dict[str, list[tuple[int, str, str, str, int]]]  # feed -> (p, network, from, to, priority)


_V2: weakref.WeakKeyDictionary[Network, _V2Index] = weakref.WeakKeyDictionary()


def _v2_index(net: Network) -> _V2Index:
    idx = _V2.get(net)
    if idx is None:
        areas: dict[int, set[str]] = {}
        for s, area in zip(net.stop_area_stop.tolist(), net.stop_area_area):
            areas.setdefault(int(s), set()).add(str(area))
        rules: dict[str, list[tuple[int, str, str, str, int]]] = {}
        for j in range(len(net.fare_leg_product)):
            p = int(net.fare_leg_product[j])
            rules.setdefault(_feed_of(str(net.fare_product_id[p])), []).append(
                (p, str(net.fare_leg_network[j]), str(net.fare_leg_from_area[j]),
                 str(net.fare_leg_to_area[j]), int(net.fare_leg_priority[j])))
        idx = _V2Index({s: frozenset(a) for s, a in areas.items()}, rules)
        _V2[net] = idx
    return idx


def _stop_areas(net: Network, idx: _V2Index, s: int) -> frozenset[str]:
    parent = int(net.stop_parent[s])  # an area may list the station instead of its platforms
    return idx.areas.get(s, frozenset()) | (idx.areas.get(parent, frozenset()) if parent >= 0 else frozenset())


def _v2_fare(net: Network, cfg: FareConfig, route: int, board: int,
             alight: int) -> tuple[int, str] | None:
    if not len(net.fare_leg_product):
        return None
    idx = _v2_index(net)
    network = str(net.route_network[route]) if len(net.route_network) else ""
    src, dst = _stop_areas(net, idx, board), _stop_areas(net, idx, alight)
    best: tuple[tuple[int, int, int], str] | None = None
    for p, rule_net, frm, to, priority in idx.rules.get(_feed_of(str(net.route_id[route])), []):
        if rule_net not in ("", network) or (frm and frm not in src) or (to and to not in dst):
            continue
        currency = str(net.fare_product_currency[p])
        rate = 1.0 if currency == cfg.currency else cfg.fx.get(currency)
        if rate is None:
            continue
        minor = _round(Decimal(str(float(net.fare_product_amount[p]))) * Decimal(str(rate)) * 100)
        specific = (rule_net != "") + (frm != "") + (to != "")
        rank = (-priority, -specific, minor)
        if best is None or rank < best[0]:
            best = (rank, f"fare:{net.fare_product_id[p]}")
    return (best[0][2], best[1]) if best is not None else None


# --- distance tariffs ----------------------------------------------------------------------

def _segments_km(net: Network, stops: np.ndarray) -> np.ndarray:
    """Great-circle km between consecutive stops (element by element: the same value for a
    segment whatever array it is computed in)."""
    lat = np.radians(net.stop_lat[stops])
    lon = np.radians(net.stop_lon[stops])
    dlat, dlon = np.diff(lat), np.diff(lon)
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:-1]) * np.cos(lat[1:]) * np.sin(dlon / 2) ** 2
    return 2 * _EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def leg_distance_km(net: Network, leg: LegSpan) -> float:
    """Great-circle length of the leg along its trip's stops (km)."""
    return float(_trip_segments_km(net, leg.trip)[leg.board_pos:leg.alight_pos].sum())


# The segments of a trip's whole stop sequence, computed once per sequence (trips of a route
# mostly share a few) and sliced per leg: the same values (`_segments_km` is element by
# element) summed by the same np.sum, so the same km as computing the leg's own segments, at
# a fifth of the cost of the dozen numpy calls on a leg not priced before.
_SEGMENTS: weakref.WeakKeyDictionary[Network, tuple[dict[int, np.ndarray], dict[bytes, np.ndarray]]] \
    = weakref.WeakKeyDictionary()


def _trip_segments_km(net: Network, t: int) -> np.ndarray:
    memo = _SEGMENTS.get(net)
    if memo is None:
        memo = _SEGMENTS.setdefault(net, ({}, {}))
    by_trip, by_stops = memo
    got = by_trip.get(t)
    if got is None:
        stops = net.st_stop[int(net.trip_st_start[t]):int(net.trip_st_start[t + 1])]
        key = stops.tobytes()
        got = by_stops.get(key)
        if got is None:
            got = _segments_km(net, stops)
            got.flags.writeable = False
            if len(by_stops) >= _MEMO_MAX >> 4:     # ~30 floats a sequence
                by_stops.clear()
            by_stops[key] = got
        if len(by_trip) >= _MEMO_MAX:
            by_trip.clear()
        by_trip[t] = got
    return got


class TripTariff:
    """`leg_unit_price` of trip t's rides on a network without GTFS fares, from what every
    ride of t shares, looked up once: its route's tariff and the km of its stops' segments.
    `unit(board, alight)` is the same (price, source) as `leg_unit_price(net, cfg, LegSpan(t,
    board, alight))` (the same tariff, the same km: `np_sum` adds the same segments in
    np.sum's order), without the memos and numpy calls that path takes per leg."""

    __slots__ = ("cfg", "tariff", "source", "mode", "seg")

    def __init__(self, net: Network, cfg: FareConfig, t: int) -> None:
        route = int(net.trip_route[t])
        self.cfg = cfg
        self.tariff, self.source = _tariff_for(net, cfg, route)
        self.mode = str(net.route_mode[route])
        self.seg: list[float] = _trip_segments_km(net, t).tolist()

    def unit(self, board: int, alight: int) -> tuple[int, str]:
        return _tariff_minor(self.cfg, self.tariff, np_sum(self.seg, board, alight),
                             self.mode), self.source


def np_sum(xs: Sequence[float], begin: int, end: int) -> float:
    """`float(np.asarray(xs)[begin:end].sum())` (end > begin) without numpy's ~1.5 us a call:
    the same additions in the same order as its pairwise summation of a contiguous float64
    run (below 8 values one after another; up to 128, eight running sums added pairwise,
    then the rest one by one); longer runs are left to numpy."""
    n = end - begin
    if n < 8:
        total = 0.0
        for i in range(begin, end):
            total += xs[i]
        return total
    if n > 128:
        return float(np.sum(np.asarray(xs[begin:end], dtype=np.float64)))
    r0, r1, r2, r3, r4, r5, r6, r7 = xs[begin:begin + 8]
    whole = end - n % 8
    for i in range(begin + 8, whole, 8):
        r0 += xs[i]
        r1 += xs[i + 1]
        r2 += xs[i + 2]
        r3 += xs[i + 3]
        r4 += xs[i + 4]
        r5 += xs[i + 5]
        r6 += xs[i + 6]
        r7 += xs[i + 7]
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(whole, end):
        total += xs[i]
    return total


def trip_tariff(net: Network, cfg: FareConfig, t: int) -> TripTariff | None:
    """Trip t's `TripTariff`; None when `leg_unit_price` would not come from the tariff
    alone: the network has GTFS fares (v1 or v2), or no tariff applies to t's route."""
    if len(net.fare_leg_product) or len(net.fare_id):
        return None
    try:
        return TripTariff(net, cfg, t)
    except NoFare:
        return None


class TripFares:
    """`leg_unit_price` of trip t's rides on a network with GTFS fares v1 and no v2 leg
    rules, from what every ride of t shares, looked up once: its route, its stops' zone
    texts and the network's fare memo. `unit(board, alight)` is the same (price, source) as
    `leg_unit_price(net, cfg, LegSpan(t, board, alight))` (the same memoised fare of (route,
    origin zone, destination zone), else the same tariff), without the numpy scalar reads,
    the v2 check and the two weak memo look-ups that path takes per leg: (b)'s demo network
    has GTFS fares and a fresh plan prices ~2.5 rides not seen before."""

    __slots__ = ("net", "cfg", "t", "route", "zones", "fares")

    def __init__(self, net: Network, cfg: FareConfig, t: int) -> None:
        self.net, self.cfg, self.t = net, cfg, t
        self.route = int(net.trip_route[t])
        stops = net.st_stop[int(net.trip_st_start[t]):int(net.trip_st_start[t + 1])]
        self.zones = [str(z) for z in net.stop_zone[stops]]
        fares = _GTFS.get(net)
        self.fares = fares if fares is not None else _GTFS.setdefault(net, {})

    def unit(self, board: int, alight: int) -> tuple[int, str]:
        got = self.fares.get((self.route, self.zones[board], self.zones[alight]))
        fare = got[1] if got is not None and got[0] is self.cfg else \
            _gtfs_fare(self.net, self.cfg, self.route, self.zones[board], self.zones[alight])
        if fare is not None:
            return fare
        return _tariff(self.net, self.cfg, self.route, LegSpan(self.t, board, alight))


def trip_pricer(net: Network, cfg: FareConfig, t: int) -> TripTariff | TripFares | None:
    """Trip t's `TripFares` on a network with GTFS fares v1 only, else its `TripTariff`;
    None when `leg_unit_price` is per leg (v2 leg rules) or no tariff applies."""
    if len(net.fare_id) and not len(net.fare_leg_product):
        return TripFares(net, cfg, t)
    return trip_tariff(net, cfg, t)


def _tariff(net: Network, cfg: FareConfig, route: int, leg: LegSpan) -> tuple[int, str]:
    start = int(net.trip_st_start[leg.trip])
    ridden = net.st_stop[start + leg.board_pos: start + leg.alight_pos + 1].tobytes()
    return _memo(_TARIFF, net, cfg, (route, ridden), lambda: _tariff_of(net, cfg, route, leg))


def _tariff_of(net: Network, cfg: FareConfig, route: int, leg: LegSpan) -> tuple[int, str]:
    return _tariff_km(net, cfg, route, leg_distance_km(net, leg))


def _tariff_km(net: Network, cfg: FareConfig, route: int, km: float) -> tuple[int, str]:
    tariff, source = _tariff_for(net, cfg, route)
    return _tariff_minor(cfg, tariff, km, str(net.route_mode[route])), source


def _tariff_for(net: Network, cfg: FareConfig, route: int) -> tuple[Tariff, str]:
    """The tariff of a route: its operator's, else its mode's (else "other")."""
    agency = str(net.agency_id[int(net.route_agency[route])])
    mode = str(net.route_mode[route])
    if agency in cfg.operator_tariffs:
        return cfg.operator_tariffs[agency], f"tariff:operator:{agency}"
    if mode in cfg.mode_tariffs or "other" in cfg.mode_tariffs:
        key = mode if mode in cfg.mode_tariffs else "other"
        return cfg.mode_tariffs[key], f"tariff:mode:{key}"
    raise NoFare(f"no fare and no tariff for mode {mode!r}", mode=mode)


def _tariff_minor(cfg: FareConfig, tariff: Tariff, km: float, mode: str) -> int:
    price = max(tariff.minimum, tariff.base + tariff.per_km * km)
    if not math.isfinite(price):
        raise NoFare("tariff gives no finite price", mode=mode)
    return _round_price(price, cfg.round_minor)


def _round_price(price: float, step: int) -> int:
    """`_round(Decimal(str(price)) * 100, step)` (the price's shortest decimal text in minor
    units, half up to a multiple of `step`) without Decimal where floats cannot round it
    differently: y = price * 100 / step in floats is within 3 ulps (< 1e-15 * |y|) of that
    decimal's exact quotient, so unless y lies within 1e-12 * (1 + |y|) of a half-way point
    both round to the same integer; near one (2.75 yuan at 10 fen: 27.5) Decimal decides."""
    if step > 0:
        y = price * 100 / step
        if abs(y) < 1e15:
            whole = math.floor(y)
            frac = y - whole    # exact: y and its floor are within one binade
            if abs(frac - 0.5) > 1e-12 * (1.0 + abs(y)):
                return (whole + (frac > 0.5)) * step
    return _round(Decimal(str(price)) * 100, step)


# id(cfg) -> (cfg, (units, linked, categories) -> Quote): Decimal arithmetic on the same few inputs
_QUOTES: dict[int, tuple[FareConfig, dict[tuple[Any, ...], Quote]]] = {}


def leg_unit_price(net: Network, cfg: FareConfig, leg: LegSpan) -> tuple[int, str]:
    """(one adult's base price in minor units, where it came from) for one leg."""
    return _memo(_UNITS, net, cfg, (leg.trip, leg.board_pos, leg.alight_pos),
                 lambda: _leg_unit_price(net, cfg, leg))


def _leg_unit_price(net: Network, cfg: FareConfig, leg: LegSpan) -> tuple[int, str]:
    route = int(net.trip_route[leg.trip])
    start = int(net.trip_st_start[leg.trip])
    board = int(net.st_stop[start + leg.board_pos])
    alight = int(net.st_stop[start + leg.alight_pos])
    fare = _fare(net, cfg, route, board, alight)
    return fare if fare is not None else _tariff(net, cfg, route, leg)


def _fare(net: Network, cfg: FareConfig, route: int, board: int,
          alight: int) -> tuple[int, str] | None:
    """The GTFS fare (v2, else v1) of a ride of `route` from stop `board` to `alight`."""
    fare = _v2_fare(net, cfg, route, board, alight)
    if fare is None and len(net.fare_id):   # no v1 fare in the network: none applies
        fare = _gtfs_fare(net, cfg, route, str(net.stop_zone[board]), str(net.stop_zone[alight]))
    return fare


# --- journeys ------------------------------------------------------------------------------

def price_units(cfg: FareConfig, units: Sequence[tuple[int, str]], operators: Sequence[str],
                categories: Sequence[str] = ("adult",)) -> Quote:
    """Price legs from their one-adult base prices (unit, source) and operators.

    No network needed: cancelling a leg re-prices the rest from the stored units.
    """
    linked = len(units) >= 2 and len(set(operators)) >= 2
    try:
        return price_linked(cfg, tuple(units), linked, tuple(categories))
    except TypeError:   # a unit given as a list: not hashable, price it directly
        return _price_units(cfg, units, linked, categories)


def price_linked(cfg: FareConfig, units: tuple[tuple[int, str], ...], linked: bool,
                 categories: tuple[str, ...]) -> Quote:
    """`price_units` once whether the legs link operators is known (`linked`), memoised by
    its arguments (Decimal arithmetic on the same few inputs)."""
    key = (units, linked, categories)
    memo = _QUOTES.get(id(cfg))
    if memo is None or memo[0] is not cfg:
        if len(_QUOTES) >= 8:
            _QUOTES.clear()
        memo = _QUOTES[id(cfg)] = (cfg, {})
    got = memo[1].get(key)
    if got is None:
        got = _price_units(cfg, units, linked, categories)
        if len(memo[1]) >= _MEMO_MAX:
            memo[1].clear()
        memo[1][key] = got
    return got


def _price_units(cfg: FareConfig, units: Sequence[tuple[int, str]], linked: bool,
                 categories: Sequence[str]) -> Quote:
    factors = []
    for i, cat in enumerate(categories):
        if cat != "adult" and cat not in cfg.concessions:
            raise UnknownCategory(f"unknown passenger category {cat!r}",
                                  field=f"passengers[{i}].category")
        discount = cfg.concessions.get(cat, 0.0)
        factors.append(_ONE if discount == 0 else _ONE - Decimal(str(discount)))
    keep = _ONE - Decimal(str(cfg.linked_discount)) if linked else _ONE
    # at factor 1 an integer unit is its own rounded amount, once per passenger (no Decimal)
    plain = keep == 1 and all(f == 1 for f in factors)
    priced = tuple(
        LegPrice(unit, unit * len(factors) if plain and type(unit) is int
                 else sum(_round(Decimal(unit) * f * keep) for f in factors), source)
        for unit, source in units
    )
    return Quote(priced, sum(p.amount_minor for p in priced), cfg.currency, linked)


_ONE = Decimal(1)


def leg_operator(net: Network, leg: LegSpan) -> str:
    """The leg's operator, "feed:agency_id"."""
    return str(net.agency_id[int(net.route_agency[int(net.trip_route[leg.trip])])])


def price_journey(net: Network, cfg: FareConfig, legs: Sequence[LegSpan],
                  categories: Sequence[str] = ("adult",)) -> Quote:
    """Price every leg for the given passengers (one category each) and the total."""
    units = [leg_unit_price(net, cfg, leg) for leg in legs]
    return price_units(cfg, units, [leg_operator(net, leg) for leg in legs], categories)


# --- the fare table of a price search (criteria=price) ---------------------------------------

_INT32_MAX = 2**31 - 1

def search_fares(net: Network, cfg: FareConfig, classes: FareClasses) -> FareTable:
    """Every ride's price as `routing.fares.FareTable` arrays: for each fare class (trips with
    the same stops and route) and each (board, alight) pair its stops allow, the one-adult
    unit price `leg_unit_price` gives and the same with the linked discount rounded as
    `price_units` rounds it, so the search adds up exactly what a booking charges.
    A ride that has no price (NoFare) is -1. Costs one price per pair (seconds on a large
    network): build it once per network and config."""
    full = np.full(classes.n_entries, -1, dtype=np.int32)   # minor units: < 21M CNY a ride
    disc = np.full(classes.n_entries, -1, dtype=np.int32)
    adult = Decimal(1) - Decimal(str(cfg.concessions.get("adult", 0.0)))
    keep = Decimal(1) - Decimal(str(cfg.linked_discount))
    rounded: dict[int, int] = {}
    has_fares = bool(len(net.fare_leg_product) or len(net.fare_id))
    for c in range(classes.n_classes):
        t, n = int(classes.rep_trip[c]), int(classes.length[c])
        base, row = int(classes.start[c]), int(classes.row[c])
        board = classes.board_ok[row:row + n]
        alight = classes.alight_ok[row:row + n]
        route = int(net.trip_route[t])
        first = int(net.trip_st_start[t])
        stops = net.st_stop[first:first + n]
        seg = _segments_km(net, stops)      # leg_distance_km, segment by segment
        mode = str(net.route_mode[route])
        try:
            tariff: Tariff | None = _tariff_for(net, cfg, route)[0]
        except NoFare:
            tariff = None
        for b in range(n - 1):
            if not board[b]:
                continue
            for a in range(b + 1, n):
                if not alight[a]:
                    continue
                fare = _fare(net, cfg, route, int(stops[b]), int(stops[a])) if has_fares else None
                if fare is not None:
                    unit = fare[0]
                elif tariff is None:
                    continue
                else:
                    try:
                        unit = _tariff_minor(cfg, tariff, float(np.sum(seg[b:a])), mode)
                    except NoFare:
                        continue
                got = rounded.get(unit)
                if got is None:     # what price_units charges one adult, alone and linked
                    got = rounded[unit] = (unit if adult == 1 else _round(Decimal(unit) * adult),
                                           _round(Decimal(unit) * adult * keep))
                if not 0 <= got[1] <= got[0] <= _INT32_MAX:
                    continue        # negative or absurd (> 21M): left out of price searches
                full[base + b * n + a], disc[base + b * n + a] = got
    agencies = np.unique(net.agency_id.astype(str), return_inverse=True)[1].astype(np.int32)
    operator = agencies[net.route_agency[net.trip_route]] if net.n_trips else np.zeros(0, np.int32)
    return FareTable(classes=classes, full=full, disc=disc,
                     trip_operator=np.asarray(operator, dtype=np.int32), linked=keep != 1)
