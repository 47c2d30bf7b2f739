"""The /v1/plan body written from JSON fragments, without building the response models.

Validating ~20 pydantic models per plan and dumping them was a fifth of a plan request's
CPU, and writing the legs from dicts a quarter of it. `itinerary_json` writes the same bytes
as `PlanResponse(...).model_dump_json(by_alias=True)` would (same keys in the same order,
values as pydantic-core's encoder writes them; a test checks it against the models): each
stop's object and each trip's leading fields are written once by pydantic-core and kept, a
transit leg's text (up to its price) once per Leg object. Texts are joined as `str` and
encoded once per response.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_json

from routing.itinerary import Itinerary, Leg, Place
from ticketing.fares import Quote, format_minor

__all__ = ["leg_json", "itinerary_json", "money_json", "clear"]


def _text(value: Any) -> str:
    return to_json(value).decode()


# Memos, bounded (cleared when full). Places and legs are keyed by identity (the planner's
# catalog hands out the same objects; an entry holds its object, so its id is not reused
# while cached); trips by the values their leading fields show (renamed legs share them).
_MAX = 1 << 14
_PLACES: dict[int, tuple[Place, str]] = {}
_TRIPS: dict[tuple[Any, ...], str] = {}
_LEG_JSON: dict[int, tuple[Leg, str]] = {}
_SPANS: dict[int, tuple[tuple[Place, ...], str]] = {}   # a ride's passed stops, by the tuple
_LEG_JSON_MAX = 8192


def clear() -> None:
    _PLACES.clear()
    _TRIPS.clear()
    _LEG_JSON.clear()
    _SPANS.clear()


def _kept(memo: dict[int, tuple[Any, str]], obj: Any, write: Any, most: int = _MAX) -> str:
    """write(obj), kept in `memo` by obj's identity (the entry holds obj, so its id is not
    reused while kept); emptied when `most` entries are held."""
    got = memo.get(id(obj))
    if got is not None and got[0] is obj:
        return got[1]
    text = write(obj)
    if len(memo) >= most:
        memo.clear()
    memo[id(obj)] = (obj, text)
    return text


def _write_place(p: Place) -> str:
    return _text({"id": p.id, "name": p.name, "lat": float(p.lat), "lon": float(p.lon)})


def _place(p: Place) -> str:
    return _kept(_PLACES, p, _write_place)


def _places(ps: tuple[Place, ...]) -> str:
    """`_place` of each, comma-separated; kept by the tuple's identity (the planner's
    catalog hands every trip of a pattern the same tuple for the same span)."""
    return _kept(_SPANS, ps, _join_places)


def _join_places(ps: tuple[Place, ...]) -> str:
    """`_place` of each, comma-separated (inlined: ~60 stops a response)."""
    out = []
    memo = _PLACES
    for p in ps:
        got = memo.get(id(p))
        out.append(got[1] if got is not None and got[0] is p else _place(p))
    return ",".join(out)


def _head(leg: Leg) -> str:
    """`{"mode":...,"trip_short_name":...,"intermediate_stops":[` of a leg."""
    key = (leg.mode, leg.feed, leg.trip_id, leg.route_id, leg.route_short_name,
           leg.route_long_name, leg.operator, leg.headsign, leg.trip_short_name)
    got = _TRIPS.get(key)
    if got is None:
        route = None if leg.mode == "walk" else {
            "id": leg.route_id, "short_name": leg.route_short_name or "",
            "long_name": leg.route_long_name or ""}
        got = _text({"mode": leg.mode, "feed": leg.feed, "trip_id": leg.trip_id, "route": route,
                     "operator": leg.operator, "headsign": leg.headsign,
                     "trip_short_name": leg.trip_short_name})[:-1] + ',"intermediate_stops":['
        if len(_TRIPS) >= _MAX:
            _TRIPS.clear()
        _TRIPS[key] = got
    return got


def _write_leg(leg: Leg, memo: bool = True) -> str:
    walk = leg.mode == "walk"
    dep, arr = leg.departure.isoformat(), leg.arrival.isoformat()
    sched_dep = leg.scheduled_departure
    sched_arr = leg.scheduled_arrival
    sdep = dep if sched_dep is None or sched_dep is leg.departure else sched_dep.isoformat()
    sarr = arr if sched_arr is None or sched_arr is leg.arrival else sched_arr.isoformat()
    delay = leg.delay_s
    if delay is None and not walk:
        delay = int((leg.departure - (sched_dep or leg.departure)).total_seconds())
    place = _place
    return "".join((
        _head(leg), (_places if memo else _join_places)(leg.intermediate),
        '],"from":', place(leg.from_place), ',"to":', place(leg.to_place),
        ',"departure":"', dep, '","arrival":"', arr,
        '","scheduled_departure":"', sdep, '","scheduled_arrival":"', sarr,
        '","delay_s":', "null" if delay is None else str(int(delay)),
        ',"realtime":', "true" if leg.realtime else "false",
        ',"duration_s":', str(int(leg.duration_s)), ',"stops":', str(int(leg.stops)),
        ',"distance_m":', _text(float(leg.distance_m)) if walk else "null",
        ',"service_date":', "null" if leg.key is None else f'"{leg.key.service_date.isoformat()}"',
        ',"price":'))


def leg_json(leg: Leg, memo: bool = True) -> str:
    """The leg's JSON object without its price: ends with `"price":`. `memo`: keep it by the
    Leg's identity (the planner memoises its rides: the same Leg comes back; a walk is made
    anew for every plan, so it is never kept: it would only push rides out)."""
    if not memo or leg.key is None:
        return _write_leg(leg, False)
    return _kept(_LEG_JSON, leg, _write_leg, _LEG_JSON_MAX)


_CURRENCY: dict[str, str] = {}


def money_json(amount_minor: int, currency: str) -> str:
    """`{"amount":"12.50","currency":"CNY"}`"""
    text = _CURRENCY.get(currency)
    if text is None:
        text = _CURRENCY[currency] = _text(currency)   # a few currencies a process
    return f'{{"amount":"{format_minor(amount_minor)}","currency":{text}}}'


def itinerary_json(it: Itinerary, legs: list[str], quote: Quote | None, priced: bool,
                   currency: str, alerts: str) -> str:
    """One itinerary object: `legs` from `leg_json`; `quote` prices its transit legs in order
    (None: free, or no price when not `priced`); `alerts` its alerts' JSON array."""
    prices = iter(quote.legs) if quote is not None else iter(())
    parts = [f'{{"id":{_text(it.id)},"departure":"{it.departure.isoformat()}",'
             f'"arrival":"{it.arrival.isoformat()}","duration_s":{int(it.duration_s)},'
             f'"transfers":{int(it.transfers)},"legs":[']
    for n, (leg, text) in enumerate(zip(it.legs, legs, strict=True)):
        if n:
            parts.append(",")
        parts.append(text)
        if leg.key is not None and quote is not None:
            parts.append(money_json(next(prices).amount_minor, currency))
        else:
            parts.append("null")
        parts.append("}")
    total = money_json(quote.total_minor if quote is not None else 0, currency) if priced else "null"
    parts.append(f'],"total":{total},"alerts":{alerts}}}')
    return "".join(parts)
