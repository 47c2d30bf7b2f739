"""GET /v1/plan: journeys across every active feed (parse -> routing.Planner -> render)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
import weakref
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from feeds.alerts import of_legs
from maas.api import plan_json
from maas.api.plan_options import PlanOptions
from maas.api.realtime import AlertOut, alert_out
from maas.appkeys import BOOKINGS, LIVE, SETTINGS
from maas.domain_metrics import DOMAIN_METRICS
from maas.http import Router, json_body
from maas.lang import request_lang
from routing.config import PROFILES
from routing.errors import InvalidQuery, NoTimetable
from routing.fares import FareClasses, FareTable
from routing.itinerary import Itinerary, Leg, LegKey, Place
from routing.names import display_name, headsign, primary, route_name
from routing.planner import Planner, Prepared, Query
from ticketing.errors import TicketingError
from ticketing.fares import FareConfig, Quote, format_minor, search_fares
from ticketing.offers import adult_pricer

log = logging.getLogger(__name__)
router = Router(tag="plan")

_COORD = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


class PlanQuery(PlanOptions):
    """GET /v1/plan's query; the options that shape a journey: PlanOptions."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description='Origin: "FEED:STOP_ID" or "lat,lon" (nearest stops within walking reach)')
    to: str = Field(description='Destination: "FEED:STOP_ID" or "lat,lon"')
    date: str = Field(description="YYYY-MM-DD, local date at the origin (at the destination when arrive_by)")
    time: str = Field(description="HH:MM or HH:MM:SS, local time of the origin stop (destination stop when arrive_by)")
    arrive_by: bool = Field(False, description="true: latest departures arriving by date/time")
    window_min: int = Field(0, ge=0, description="Range query: every non-dominated journey departing in [time, time + window_min] (arriving in [time - window, time] when arrive_by). Capped at routing.max_window_min (default 360).")
    limit: int | None = Field(None, ge=1, description="Itineraries to return; default routing.default_limit (5), capped at routing.max_limit (20)")
    criteria: str | None = Field(None, description="Comma-separated Pareto criteria: arrival and transfers always; add price (criteria=price) to keep slower journeys that cost less (one adult, the booking's fares and linked discount). Departures at a time only: not with arrive_by or window_min. Default: arrival,transfers")
    lang: str | None = Field(None, description="Language of the alerts' texts (BCP 47, e.g. zh, en), with a fallback; zh or en also names the legs' stops, routes and headsigns in it (translations.txt, else English/pinyin); without it, names follow Accept-Language (zh/en), else as published")
    via: str | None = Field(None, max_length=400, description='Stops to pass through in order, "FEED:STOP_ID[,FEED:STOP_ID]" (at most 3): the itinerary alights at (or walks into) each and boards again from there; forward point queries only (not with arrive_by or window_min)')
    via_min_stay_s: int = Field(0, ge=0, le=86400, description="With via: at least this many seconds from the arrival at each via stop to the next departure (never less than a change takes)")


class StopOut(BaseModel):
    id: str | None = Field(description='"FEED:STOP_ID", or null for a coordinate')
    name: str
    lat: float
    lon: float


class RouteOut(BaseModel):
    id: str = Field(description='"FEED:ROUTE_ID"')
    short_name: str
    long_name: str


class LegOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    mode: str = Field(description="bus, coach, rail, metro, tram, ferry, air, other, or walk")
    feed: str | None = Field(None, description="Feed of the trip (null for walks)")
    trip_id: str | None = Field(None, description='"FEED:TRIP_ID" (frequency runs: "FEED:TRIP_ID@HH:MM:SS")')
    route: RouteOut | None = None
    operator: str | None = Field(None, description="Agency name")
    headsign: str | None = None
    trip_short_name: str | None = Field(None, description="Train or flight number: the trip's trip_short_name, else the route's short name (null for walks)")
    intermediate_stops: list[StopOut] = Field(default_factory=list, description="Stops the vehicle serves between from and to (empty for walks); times per stop: GET /v1/trips/{trip_id}")
    from_: StopOut = Field(alias="from")
    to: StopOut
    departure: str = Field(description="ISO 8601 with the UTC offset of the from stop's time zone")
    arrival: str = Field(description="ISO 8601 with the UTC offset of the to stop's time zone")
    scheduled_departure: str = Field(description="departure as the timetable has it (= departure without realtime)")
    scheduled_arrival: str = Field(description="arrival as the timetable has it")
    delay_s: int | None = Field(None, description="realtime delay at departure, seconds (+ late, - early)")
    realtime: bool = Field(False, description="departure/arrival come from a realtime update")
    duration_s: int
    stops: int = Field(0, description="Stops ridden (hops); 0 for walks")
    distance_m: float | None = Field(None, description="Walks: walking distance")
    service_date: str | None = Field(None, description="GTFS service date of the trip")
    price: Any = Field(None, description="Price of this leg (added by ticketing when known)")


class ItineraryOut(BaseModel):
    id: str = Field(description="Stable, tamper-evident id; POST it to /v1/bookings")
    departure: str = Field(description="ISO 8601, origin's offset")
    arrival: str = Field(description="ISO 8601, destination's offset")
    duration_s: int
    transfers: int
    legs: list[LegOut]
    total: Any = Field(None, description="Total price (added by ticketing when known)")
    alerts: list[AlertOut] = Field(default_factory=list, description="Service alerts touching its legs while they travel")


class PlanResponse(BaseModel):
    itineraries: list[ItineraryOut]


def _place(p: str, name: str) -> str | tuple[float, float]:
    m = _COORD.match(p) if "," in p else None     # a stop id (the usual case): no comma
    if m:
        lat, lon = float(m.group(1)), float(m.group(2))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise InvalidQuery(f"{name}: coordinates out of range: {p}", parameter=name)
        return lat, lon
    if ":" not in p or p.startswith(":") or p.endswith(":"):
        raise InvalidQuery(f'{name} must be "FEED:STOP_ID" or "lat,lon", not {p!r}', parameter=name)
    return p.strip()


CRITERIA = ("arrival", "transfers", "price")


def by_price(q: PlanQuery) -> bool:
    """True when `criteria` asks for price; InvalidQuery (400 invalid_query) for an unknown
    criterion, or price with arrive_by or window_min."""
    if q.criteria is None:
        return False
    asked = [c.strip() for c in q.criteria.split(",")]
    unknown = [c for c in asked if c not in CRITERIA]
    if unknown or not asked:
        raise InvalidQuery(f"unknown criteria {unknown}; known: {list(CRITERIA)}",
                           parameter="criteria")
    if "price" in asked and (q.arrive_by or q.window_min > 0 or q.via):
        raise InvalidQuery("criteria=price plans departures at a time: not with arrive_by, "
                           "window_min or via", parameter="criteria")
    return "price" in asked


def to_query(q: PlanQuery) -> Query:
    try:
        d = date.fromisoformat(q.date)
    except ValueError:
        raise InvalidQuery(f"date must be YYYY-MM-DD, not {q.date!r}", parameter="date") from None
    secs = time_s(q.time)
    origin, dest = _place(q.from_, "from"), _place(q.to, "to")
    if origin == dest:
        raise InvalidQuery("from and to are the same place")
    modes = frozenset(x.strip() for x in q.modes.split(",") if x.strip()) if q.modes else None
    return Query.of(origin=origin, destination=dest, date=d, time_s=secs, arrive_by=q.arrive_by,
                    window_s=q.window_min * 60, modes=modes,
                    wheelchair=q.wheelchair, max_walk_m=q.max_walk_m,
                    min_transfer_s=q.min_transfer_s, limit=q.limit, via=_vias(q.via),
                    via_min_stay_s=q.via_min_stay_s, **profile_options(q))


def time_s(text: str) -> int:
    """Seconds after midnight of a query's `time` (HH:MM or HH:MM:SS); InvalidQuery else."""
    # `_TIME.match(text.strip())` by hand (a cache-cold regex match cost ~1 % of a served
    # plan): isdecimal is re's \d (Unicode Nd), which int() reads
    parts = text.strip().split(":")
    if 2 <= len(parts) <= 3 and 1 <= len(parts[0]) <= 2 and all(
            len(p) == 2 for p in parts[1:]) and all(p.isdecimal() for p in parts):
        h, mi = int(parts[0]), int(parts[1])
        sec = int(parts[2]) if len(parts) == 3 else 0
        if h <= 23 and mi <= 59 and sec <= 59:
            return h * 3600 + mi * 60 + sec
    raise InvalidQuery(f"time must be HH:MM or HH:MM:SS, not {text!r}", parameter="time")


def _vias(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    out = []
    for part in text.split(","):
        if part.strip():
            p = _place(part, "via")
            if not isinstance(p, str):
                raise InvalidQuery(f"via takes stop ids, not coordinates: {part!r}", parameter="via")
            out.append(p)
    return tuple(out)


def profile_options(q: Any) -> dict[str, Any]:
    """The travel-profile fields of a Query from a query model with `profile`, `walk_speed`,
    `extra_transfer_s` and `max_transfers` (plan, reach): the profile's defaults, then
    whatever the query set explicitly."""
    p = PROFILES[q.profile]
    speed = q.walk_speed if q.walk_speed is not None else p.walk_speed_mps
    return {
        "walk_speed_mps": None if speed is None else round(float(speed), 2),
        "extra_transfer_s": q.extra_transfer_s if q.extra_transfer_s is not None else p.extra_transfer_s,
        "max_transfers": q.max_transfers if q.max_transfers is not None else p.max_transfers,
        "transfer_penalty_s": p.transfer_penalty_s, "step_free": p.step_free}


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def _stop(p: Place) -> StopOut:
    return StopOut(id=p.id, name=p.name, lat=p.lat, lon=p.lon)


def _live(leg: Leg) -> tuple[str, str, int | None, bool]:
    """(scheduled departure, scheduled arrival, delay_s, realtime) of a leg; a leg planned
    without realtime runs as scheduled."""
    sched_dep = getattr(leg, "scheduled_departure", None) or leg.departure
    sched_arr = getattr(leg, "scheduled_arrival", None) or leg.arrival
    realtime = bool(getattr(leg, "realtime", False))
    delay = getattr(leg, "delay_s", None)
    if delay is None and leg.mode != "walk":
        delay = int((leg.departure - sched_dep).total_seconds())
    return sched_dep.isoformat(), sched_arr.isoformat(), delay, realtime


def _leg(leg: Leg) -> LegOut:
    walk = leg.mode == "walk"
    sched_dep, sched_arr, delay, realtime = _live(leg)
    return LegOut(
        mode=leg.mode, feed=leg.feed, trip_id=leg.trip_id,
        route=None if walk else RouteOut(id=leg.route_id, short_name=leg.route_short_name or "",
                                         long_name=leg.route_long_name or ""),
        operator=leg.operator, headsign=leg.headsign, trip_short_name=leg.trip_short_name,
        intermediate_stops=[_stop(p) for p in leg.intermediate], from_=_stop(leg.from_place),
        to=_stop(leg.to_place), departure=_iso(leg.departure), arrival=_iso(leg.arrival),
        scheduled_departure=sched_dep, scheduled_arrival=sched_arr, delay_s=delay,
        realtime=realtime,
        duration_s=leg.duration_s, stops=leg.stops, distance_m=leg.distance_m if walk else None,
        service_date=str(leg.key.service_date) if leg.key else None)


def render(it: Itinerary, alerts: list[AlertOut] | None = None) -> ItineraryOut:
    """The itinerary as the response model (the contract; `render_json` is its fast twin)."""
    return ItineraryOut(id=it.id, departure=_iso(it.departure), arrival=_iso(it.arrival),
                        duration_s=it.duration_s, transfers=it.transfers,
                        legs=[_leg(leg) for leg in it.legs], alerts=alerts or [])


def itinerary_alerts(request: web.Request, it: Itinerary, lang: str | None) -> list[AlertOut]:
    """The alerts touching the itinerary's legs, from this worker's realtime state."""
    snap = request.app[LIVE].current
    found = of_legs(snap.network, snap.realtime.all_alerts(), it.legs)
    return [alert_out(a, lang) for a in found]


# --- prices (one adult) -------------------------------------------------------------------


def itinerary_quote(request: web.Request, it: Itinerary,
                    prices: Callable[[list[LegKey]], Quote] | None = None
                    ) -> tuple[Quote | None, bool]:
    """(quote of its transit legs, priced): one adult; (None, True) when it has no transit
    leg (free), (None, False) when its legs cannot be priced. `prices`: `_prices(request)`,
    when the caller prices several itineraries."""
    keys = it.key.legs      # its transit legs' keys, in order
    if not keys:
        return None, True
    try:
        return (prices or _prices(request))(keys), True
    except TicketingError:
        log.warning("could not price an itinerary", exc_info=True)
        return None, False


def _prices(request: web.Request) -> Callable[[list[LegKey]], Quote]:
    """One adult's price of planned legs on this worker's network (`adult_pricer`)."""
    snap = request.app[LIVE].current
    return adult_pricer(snap.network, request.app[BOOKINGS].config.fares,
                        snap.planner.fare_classes() if snap.planner is not None else None)


def add_prices(request: web.Request, out: ItineraryOut, it: Itinerary) -> ItineraryOut:
    """Set `price` on each transit leg and `total` of a rendered /v1/plan itinerary (one
    adult; walks are free). Leaves them null when the legs cannot be priced."""
    quote, priced = itinerary_quote(request, it)
    if not priced:
        return out
    currency = request.app[BOOKINGS].config.fares.currency
    if quote is not None:
        transit = [i for i, leg in enumerate(it.legs) if leg.key is not None]
        for i, p in zip(transit, quote.legs, strict=True):
            out.legs[i].price = {"amount": format_minor(p.amount_minor), "currency": currency}
    out.total = {"amount": format_minor(quote.total_minor if quote else 0), "currency": currency}
    return out


# --- the response body without building the models (maas.api.plan_json) ---------------------


def _in_lang(request: web.Request, leg: Leg, lang: str) -> Leg:
    """The leg with its stops named in `lang` (zh/en)."""
    snap = request.app[LIVE].current
    index, net = snap.planner.stop_index, snap.network

    def named(p: Place) -> Place:
        s = index.get(p.id) if p.id is not None else None
        return p if s is None else dataclasses.replace(p, name=display_name(net, s, lang))

    leg = dataclasses.replace(leg, from_place=named(leg.from_place), to_place=named(leg.to_place),
                              intermediate=tuple(named(p) for p in leg.intermediate))
    t = snap.planner.trip_index.get(leg.trip_id) if leg.trip_id is not None else None
    if t is None:
        return leg
    r = int(net.trip_route[t])
    return dataclasses.replace(
        leg, route_short_name=route_name(net, r, "route_short_name", lang),
        route_long_name=route_name(net, r, "route_long_name", lang), headsign=headsign(net, t, lang))


def _alerts_json(request: web.Request, it: Itinerary, lang: str | None, any_alert: bool) -> bytes:
    if not any_alert:
        return b"[]"   # no alert anywhere (the usual case): nothing to look up
    return to_json([a.model_dump(mode="json") for a in itinerary_alerts(request, it, lang)])


def render_json(request: web.Request, its: list[Itinerary], lang: str | None = None,
                names: str | None = None) -> bytes:
    """`PlanResponse(itineraries=[add_prices(request, render(it, itinerary_alerts(...)), it)
    ...])` as JSON bytes; alerts in `lang`; stops, routes and headsigns named in `names`
    (zh or en; default: `lang`'s)."""
    names = names or primary(lang)
    memo = names is None      # renamed legs are new objects: not memoised
    if not memo:
        its = [dataclasses.replace(it, legs=tuple(_in_lang(request, leg, names) for leg in it.legs))
               for it in its]
    currency = request.app[BOOKINGS].config.fares.currency
    prices = _prices(request)
    any_alert = any(request.app[LIVE].current.realtime.alerts.values())   # once a request
    out = [b'{"itineraries":[']     # every piece of the body, joined once
    for n, it in enumerate(its):
        if n:
            out.append(b",")
        quote, priced = itinerary_quote(request, it, prices)
        plan_json.itinerary_json(out, it, quote, priced, currency,
                                 _alerts_json(request, it, lang, any_alert), memo)
    out.append(b"]}")
    return b"".join(out)


def _answer(request: web.Request, kind: str, started: float, its: list[Itinerary] | None,
            bodies: _Bodies | None, memo: dict[tuple, bytes] | None, key: tuple | None,
            body: bytes | None, lang: str | None, names: str | None) -> web.Response:
    """The plan's response: its time and (a point query's) body counted, the body written
    unless kept (`body`), and kept (in `bodies`' `memo`, by `key`)."""
    metrics = request.app[DOMAIN_METRICS]
    metrics.plan_took(kind, time.perf_counter() - started)
    if key is not None:
        metrics.plan_body(body is not None)
    if body is None:
        body = render_json(request, its, lang, names)
        if bodies is not None and memo is not None and key is not None:
            bodies.keep(memo, key, body)
    return json_body(body)


def known_plan(request: web.Request) -> web.Response | None:
    """A point query whose text but for its time (and whose Accept-Language) this worker
    answered on the current snapshot, answered before the query is parsed again: its
    `Prepared` (routing.planner) holds what the text decides, checked then (the query's
    fields, the places and their walking reach, the date, the day's search), and only the
    time is read here. None: not one of those (or its time is not plain HH:MM[:SS]): parse
    and plan it the usual way. (Parsing the query and preparing its search took ~0.05-0.1
    ms of a served plan's ~0.6, cache-cold: BENCHMARKS.md.)"""
    split = _split_time(request.rel_url.raw_query_string)
    if split is None:
        return None
    rest, text = split
    snap = request.app[LIVE].current
    bodies = _bodies(request)
    memo = bodies.of(snap)
    got = bodies.known.get((rest, request.headers.get("Accept-Language")))
    if got is None or memo is None:
        return None
    prep, lang, names, gauge = got
    planner = snap.planner
    if prep.planner is not planner or not gauge.inline():
        return None
    try:    # (a text `time_s` takes has only digits and colons: as the parser decodes it)
        q = prep.query.at(time_s(text.replace("%3A", ":").replace("%3a", ":")))
    except InvalidQuery:
        return None
    started = time.perf_counter()
    its, key, body, _ = gauge.plan(planner, q, memo, lang, names, prep)
    return _answer(request, "point", started, its, bodies, memo, key, body, lang, names)


_KNOWN_TEXT = 512       # a query text (and Accept-Language) longer than this is not kept


def _split_time(raw: str) -> tuple[str, str] | None:
    """(the query text without its `time=` parameter, that parameter's value) when the text
    has one `time=` parameter (as written: a name percent-encoded is left to the parser);
    None else."""
    parts = raw.split("&")
    at = -1
    for i, part in enumerate(parts):
        if part.startswith("time="):
            if at >= 0:
                return None
            at = i
    if at < 0:
        return None
    text = parts.pop(at)
    return "&".join(parts), text[5:]


@router.get(
    "/v1/plan",
    summary="Plan journeys across bus, coach, rail, metro and air",
    query=PlanQuery,
    known=known_plan,
    response=PlanResponse,
    errors={400: "malformed date/time/coordinates, from = to, unknown mode, unknown criteria "
                 "or criteria=price with arrive_by/window_min/via, via with arrive_by/window_min "
                 "or repeated (invalid_query, parameter named); option out of bounds "
                 "(invalid_parameter)",
            404: "unknown stop (named in the problem), or no stop near the coordinates",
            422: "date outside every active feed's service (valid_from/valid_to given); "
                 "price_search_too_large",
            503: "no timetable loaded yet"},
    description="Pareto-optimal journeys over (arrival, transfers), with criteria=price over "
    "(arrival, transfers, price); with window_min every "
    "non-dominated journey departing in the window; arrive_by gives latest departures. "
    "Caps: window_min <= 360, limit <= 20, max_transfers <= 6 (routing settings).",
)
async def plan(request: web.Request, query: PlanQuery) -> web.Response:
    q = to_query(query)
    price = by_price(query)
    snap = request.app[LIVE].current
    planner = snap.planner
    if planner is None:
        raise NoTimetable("no timetable is loaded yet")
    names = request_lang(request, query.lang)
    started = time.perf_counter()
    key = body = memo = prep = bodies = None
    if price:
        table = await fare_table(planner, request.app[BOOKINGS].config.fares)
        its = await asyncio.to_thread(planner.plan, q, table)
    elif q.window_s > 0 or q.via:       # range and via queries: several searches, a thread
        its = await asyncio.to_thread(planner.plan, q)
    else:
        bodies = _bodies(request)
        memo = bodies.of(snap)
        gauge = _gauge(planner)
        if gauge.inline():
            its, key, body, prep = gauge.plan(planner, q, memo, query.lang, names)
        else:
            its, key, body, prep = await asyncio.to_thread(gauge.plan, planner, q, memo,
                                                           query.lang, names)
        if prep is not None and bodies.snap is snap:
            bodies.know(request, prep, query.lang, names, gauge)
    kind = "price" if price else "range" if q.window_s > 0 else "point"
    return _answer(request, kind, started, its, bodies, memo, key, body, query.lang, names)


# --- rendered point plans, kept (Settings.plan_memo) ----------------------------------------
# A point query's body is a function of the snapshot (its planner: network, realtime times,
# ids' secret; its alerts), the app's fares, the journeys the search found, the query but for
# its time (`Searched.key`) and the two languages. Queries at different times often find the
# same journeys (every query before a line's next departure finds it), so the search runs
# each time and assembling, pricing and writing the body once serves them all. In (b)'s
# stream of bench_requests.py a quarter of the bodies are such repeats.

class _Bodies:
    """One LiveNetwork's kept bodies and known point queries (`known_plan`): of its current
    snapshot only (a new snapshot, a new network or realtime state, starts empty), at most
    `most` of each (cleared when full)."""

    __slots__ = ("snap", "memo", "known", "most")

    def __init__(self, most: int) -> None:
        self.snap: Any = None
        self.memo: dict[tuple, bytes] | None = None
        self.known: dict[tuple[str, str | None], tuple] = {}
        self.most = most

    def of(self, snap: Any) -> dict[tuple, bytes] | None:
        """The memo of `snap` (None: kept bodies are off)."""
        if self.snap is not snap:
            self.snap, self.memo, self.known = snap, {} if self.most > 0 else None, {}
        return self.memo

    def know(self, request: web.Request, prep: Any, lang: str | None, names: str | None,
             gauge: Any) -> None:
        """Keep `prep` for `known_plan`, by the request's query text but for its time."""
        split = _split_time(request.rel_url.raw_query_string)
        accept = request.headers.get("Accept-Language")
        if split is None or len(split[0]) + len(accept or "") > _KNOWN_TEXT:
            return
        if len(self.known) >= self.most:
            self.known.clear()
        self.known[(split[0], accept)] = (prep, lang, names, gauge)

    def keep(self, memo: dict[tuple, bytes], key: tuple, body: bytes) -> None:
        if len(memo) >= self.most:
            memo.clear()
        memo[key] = body


_BODIES: weakref.WeakKeyDictionary[Any, _Bodies] = weakref.WeakKeyDictionary()


def _bodies(request: web.Request) -> _Bodies:
    live = request.app[LIVE]
    got = _BODIES.get(live)
    if got is None:
        got = _BODIES.setdefault(live, _Bodies(request.app[SETTINGS].plan_memo))
    return got


def _point(planner: Planner, q: Query, memo: dict[tuple, bytes] | None, lang: str | None,
           names: str | None, prep: Prepared | None = None
           ) -> tuple[list[Itinerary] | None, tuple | None, bytes | None, Prepared | None]:
    """A point query: (itineraries, memo key, None, its Prepared), or (None, key, body,
    prepared) when `memo` has the body already; without a memo (itineraries, None, None,
    None). `prep`: `q`'s, prepared before (`known_plan`)."""
    if memo is None:
        return planner.plan(q), None, None, None
    if prep is None:
        prep = planner.prepared(q)
    searched = planner.searched_at(prep, q)
    key = (searched.key(), lang, names)
    body = memo.get(key)
    if body is not None:
        return None, key, body, prep
    return searched.itineraries(), key, None, prep


# --- the fare table of criteria=price --------------------------------------------------------
# Built on the first price query of a network (seconds on a large one: one price per ride of
# every fare class), in a thread, once even when several requests wait for it; kept while the
# planner's fare classes live (realtime planners share them).

_TABLES: weakref.WeakKeyDictionary[FareClasses, tuple[FareConfig, FareTable]] = \
    weakref.WeakKeyDictionary()
_BUILDING: dict[tuple[int, int], asyncio.Future[FareTable]] = {}


async def fare_table(planner: Planner, cfg: FareConfig) -> FareTable:
    classes = planner.fare_classes()
    got = _TABLES.get(classes)
    if got is not None and got[0] is cfg:
        return got[1]
    key = (id(classes), id(cfg))
    fut = _BUILDING.get(key)
    if fut is None or fut.get_loop() is not asyncio.get_running_loop():
        fut = asyncio.ensure_future(asyncio.to_thread(search_fares, planner.network, cfg, classes))
        _BUILDING[key] = fut
        fut.add_done_callback(lambda _: _BUILDING.pop(key, None))
    table = await asyncio.shield(fut)
    _TABLES[classes] = (cfg, table)
    return table


# --- where a plan runs ---------------------------------------------------------------------
# Handing a plan to a thread and back, with the GIL changing hands between that thread and
# the event loop, cost about as much CPU as a short plan itself (1 worker, demo network: 1.4-1.7
# ms per plan request run on the loop, 1.8-2.0 ms in a thread). So a point query runs on the
# loop once point queries on this planner are known to take under _INLINE_CPU_S; range queries,
# and those of a planner not yet measured or slow, run in a thread so the loop (which also
# serves gate validations, p99 <= 30 ms) is never held for long.

_INLINE_CPU_S = 0.002   # typical point query below this: run on the loop
_ALPHA = 0.05           # weight of the newest measurement in the moving average
_SLOW_S = 4 * _INLINE_CPU_S   # a measurement counts at most this much
# Once the mean of the first 1/_ALPHA queries is known, one point query in _EVERY is measured
# (a planner turning slow is then seen in _EVERY times as many queries; every new planner,
# realtime ones included, starts a new gauge): `time.thread_time()` is a system call (the
# thread CPU clock has no vDSO path), two per plan, and a system call is where the kernel
# switches out a worker that a wake-up on its core has marked for preemption, mid-plan (py-spy
# put 22 % of a busy worker's GIL samples on those two lines). Unmeasured, the plan and its
# body make no system call; the request's read, send and the loop's waits are around them.
_EVERY = 16


class _Gauge:
    """Typical CPU seconds of one point query on one planner: the mean of the first
    measurements, then an exponential moving average of one query in _EVERY. (Starting the
    average from a slow guess took ~30 queries, each handed to a thread, to come down to a
    fast planner.)"""

    __slots__ = ("typical", "seen", "calls")

    def __init__(self) -> None:
        self.typical = _SLOW_S    # unknown: slow until measured
        self.seen = 0
        self.calls = 0

    def inline(self) -> bool:
        return self.typical < _INLINE_CPU_S

    def record(self, cpu_s: float) -> None:
        self.seen += 1       # races between threads only blur the figure
        weight = max(_ALPHA, 1 / self.seen)
        # one very slow query (a day expanded on first use) counts as slow, not as seconds
        self.typical += weight * (min(cpu_s, _SLOW_S) - self.typical)

    def plan(self, planner: Planner, q: Query, memo: dict[tuple, bytes] | None = None,
             lang: str | None = None, names: str | None = None, prep: Prepared | None = None
             ) -> tuple[list[Itinerary] | None, tuple | None, bytes | None, Prepared | None]:
        """`_point(planner, q, memo, lang, names, prep)`, measured as this gauge decides."""
        self.calls += 1
        if self.seen * _ALPHA >= 1 and self.calls % _EVERY:
            return _point(planner, q, memo, lang, names, prep)
        t = time.thread_time()
        try:
            return _point(planner, q, memo, lang, names, prep)
        finally:
            self.record(time.thread_time() - t)


_GAUGES: weakref.WeakKeyDictionary[Planner, _Gauge] = weakref.WeakKeyDictionary()


def _gauge(planner: Planner) -> _Gauge:
    got = _GAUGES.get(planner)
    if got is None:
        got = _GAUGES.setdefault(planner, _Gauge())
    return got
