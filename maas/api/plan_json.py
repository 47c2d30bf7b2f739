"""The /v1/plan body written from JSON fragments, without building the response models.

Validating ~20 pydantic models per plan and dumping them was a fifth of a plan request's
CPU, and writing the legs from dicts a quarter of it. `itinerary_json` writes the same bytes
as `PlanResponse(...).model_dump_json(by_alias=True)` would (same keys in the same order,
values as pydantic-core's encoder writes them; a test checks it against the models): each
stop's object and each trip's leading fields are written once by pydantic-core and kept, a
transit leg's text (up to its price) once per Leg object.

Texts are kept and joined as UTF-8 `bytes`, as pydantic-core writes them: a network's names
are often not ASCII (the demo's are Chinese), and `str` pieces of such names made every join
widen the ASCII around them and the response's one `encode` transcode ~13 KB (~10 us hot, a
demo plan). Numbers and times are ASCII: written as `str` and encoded (a copy).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
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
_PLACES: dict[int, tuple[Place, bytes]] = {}
_TRIPS: dict[tuple[Any, ...], bytes] = {}
_LEG_JSON: dict[int, tuple[Leg, bytes]] = {}
_SPANS: dict[int, tuple[tuple[Place, ...], bytes]] = {}   # a ride's passed stops, by the tuple
_LEG_JSON_MAX = 8192


def clear() -> None:
    _DAYS.clear()
    _OFFSETS.clear()
    _MONEY.clear()
    _PLACES.clear()
    _TRIPS.clear()
    _LEG_JSON.clear()
    _SPANS.clear()


def _kept(memo: dict[int, tuple[Any, bytes]], obj: Any, write: Any, most: int = _MAX) -> bytes:
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


def _write_place(p: Place) -> bytes:
    return to_json({"id": p.id, "name": p.name, "lat": float(p.lat), "lon": float(p.lon)})


def _place(p: Place) -> bytes:
    got = _PLACES.get(id(p))        # `_kept`'s lookup inlined: ~two stops a leg
    if got is not None and got[0] is p:
        return got[1]
    return _kept(_PLACES, p, _write_place)


def _places(ps: tuple[Place, ...]) -> bytes:
    """`_place` of each, comma-separated; kept by the tuple's identity (the planner's
    catalog hands every trip of a pattern the same tuple for the same span)."""
    return _kept(_SPANS, ps, _join_places)


def _join_places(ps: tuple[Place, ...]) -> bytes:
    """`_place` of each, comma-separated (inlined: ~60 stops a response)."""
    out = []
    memo = _PLACES
    for p in ps:
        got = memo.get(id(p))
        out.append(got[1] if got is not None and got[0] is p else _place(p))
    return b",".join(out)


def _head(leg: Leg) -> bytes:
    """`{"mode":...,"trip_short_name":...,"intermediate_stops":[` of a leg."""
    key = (leg.mode, leg.feed, leg.trip_id, leg.route_id, leg.route_short_name,
           leg.route_long_name, leg.operator, leg.headsign, leg.trip_short_name)
    got = _TRIPS.get(key)
    if got is None:
        route = None if leg.mode == "walk" else {
            "id": leg.route_id, "short_name": leg.route_short_name or "",
            "long_name": leg.route_long_name or ""}
        got = to_json({"mode": leg.mode, "feed": leg.feed, "trip_id": leg.trip_id, "route": route,
                       "operator": leg.operator, "headsign": leg.headsign,
                       "trip_short_name": leg.trip_short_name})[:-1] + b',"intermediate_stops":['
        if len(_TRIPS) >= _MAX:
            _TRIPS.clear()
        _TRIPS[key] = got
    return got


def _write_leg(leg: Leg, memo: bool = True) -> bytes:
    walk = leg.mode == "walk"
    dep, arr = _iso(leg.departure), _iso(leg.arrival)
    sched_dep = leg.scheduled_departure
    sched_arr = leg.scheduled_arrival
    sdep = dep if sched_dep is None or sched_dep is leg.departure else _iso(sched_dep)
    sarr = arr if sched_arr is None or sched_arr is leg.arrival else _iso(sched_arr)
    delay = leg.delay_s
    if delay is None and not walk:
        delay = int((leg.departure - (sched_dep or leg.departure)).total_seconds())
    passed = leg.intermediate
    key = leg.key
    times = (f',"departure":"{dep}","arrival":"{arr}"'
             f',"scheduled_departure":"{sdep}","scheduled_arrival":"{sarr}"'
             f',"delay_s":{"null" if delay is None else int(delay)}'
             f',"realtime":{"true" if leg.realtime else "false"}'
             f',"duration_s":{int(leg.duration_s)},"stops":{int(leg.stops)}'
             f',"distance_m":{_float(leg.distance_m) if walk else "null"}'
             f',"service_date":{"null" if key is None else _date(key.service_date)},"price":')
    return b"".join((_head(leg), (_places if memo else _join_places)(passed) if passed else b"",
                     b'],"from":', _place(leg.from_place), b',"to":', _place(leg.to_place),
                     times.encode()))


def _float(x: Any) -> str:
    """`_text(float(x))`: repr is pydantic-core's text for 0 and from 1e-4 to 1e16 (a test
    checks; outside it writes exponents differently), at a third of the cost."""
    x = float(x)
    return repr(x) if x == 0 or 1e-4 <= x < 1e16 else _text(x)


def _date(d: date) -> str:
    """`d` as a JSON string ("YYYY-MM-DD": `_iso`'s day when known)."""
    return f'"{_DAYS.get(d.toordinal()) or d.isoformat()}"'


# `datetime.isoformat` from tables: a leg's departure and arrival, an itinerary's, at ~half
# the cost. Days and offsets are taken from isoformat's own text the first time they are seen.
_HOURS_MINUTES = [f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SECONDS = [f"{s:02d}" for s in range(60)]
_DAYS: dict[int, str] = {}                  # date ordinal -> "YYYY-MM-DD"
_OFFSETS: dict[timedelta, str] = {}         # utcoffset -> "+HH:MM"


def _iso(dt: datetime) -> str:
    """`dt.isoformat()`."""
    offset = dt.utcoffset()
    day = _DAYS.get(dt.toordinal())
    tail = _OFFSETS.get(offset)     # type: ignore[arg-type]
    if day is None or tail is None or dt.microsecond:
        return _iso_seen(dt, offset)
    return f"{day}{_HOURS_MINUTES[dt.hour * 60 + dt.minute]}{_SECONDS[dt.second]}{tail}"


def _iso_seen(dt: datetime, offset: timedelta | None) -> str:
    """`dt.isoformat()`, its day and offset kept for `_iso` (whole seconds and an offset:
    then the text is "YYYY-MM-DDTHH:MM:SS" and the offset's; bounded memos)."""
    text = dt.isoformat()
    if offset is not None and not dt.microsecond and len(text) > 19 and text[19] in "+-":
        if len(_DAYS) >= _MAX:
            _DAYS.clear()
        _DAYS[dt.toordinal()] = text[:10]
        if len(_OFFSETS) >= 256:
            _OFFSETS.clear()
        _OFFSETS[offset] = text[19:]
    return text


def leg_json(leg: Leg, memo: bool = True) -> bytes:
    """The leg's JSON object without its price: ends with `"price":`. `memo`: keep it by the
    Leg's identity (the planner memoises its rides: the same Leg comes back; a walk is made
    anew for every plan, so it is never kept: it would only push rides out)."""
    if not memo or leg.key is None:
        return _write_leg(leg, False)
    return _kept(_LEG_JSON, leg, _write_leg, _LEG_JSON_MAX)


_MONEY: dict[tuple[int, str], bytes] = {}


def money_json(amount_minor: int, currency: str) -> bytes:
    """`{"amount":"12.50","currency":"CNY"}` (kept: a network has few distinct prices)."""
    key = (amount_minor, currency)
    got = _MONEY.get(key)
    if got is None:
        got = f'{{"amount":"{format_minor(amount_minor)}","currency":{_text(currency)}}}'.encode()
        if len(_MONEY) >= _MAX:
            _MONEY.clear()
        _MONEY[key] = got
    return got


def itinerary_json(out: list[bytes], it: Itinerary, quote: Quote | None, priced: bool,
                   currency: str, alerts: bytes, memo: bool) -> None:
    """One itinerary object's pieces appended to `out` (the response's, joined once): its
    legs from `leg_json` (`memo` as there); `quote` prices its transit legs in order (None:
    free, or no price when not `priced`); `alerts` its alerts' JSON array."""
    prices = iter(quote.legs) if quote is not None else iter(())
    # the id is base64url: no character JSON escapes
    out.append(f'{{"id":"{it.id}","departure":"{_iso(it.departure)}",'
               f'"arrival":"{_iso(it.arrival)}","duration_s":{int(it.duration_s)},'
               f'"transfers":{int(it.transfers)},"legs":['.encode())
    for n, leg in enumerate(it.legs):
        if n:
            out.append(b",")
        out.append(leg_json(leg, memo))
        if leg.key is not None and quote is not None:
            out.append(money_json(next(prices).amount_minor, currency))
        else:
            out.append(b"null")
        out.append(b"}")
    total = (money_json(quote.total_minor if quote is not None else 0, currency) if priced
             else b"null")
    out += (b'],"total":', total, b',"alerts":', alerts, b"}")
