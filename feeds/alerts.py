"""Service alerts (GTFS-Realtime `Alert`) as plain data, and the questions asked of them.

An alert informs entities: each `InformedEntity` is one GTFS-RT EntitySelector, whose fields
are a conjunction ("route 7 at stop S" = only that route at that stop). An alert touches a
leg when one of its selectors matches the leg: every field it gives names the leg's agency,
route, route_type, trip or one of the stops the leg calls at.

Texts are per language (`{"en": ..., "zh": ...}`; "" is a translation with no language
tag, the feed's own language). `text(texts, lang)` picks the asked language with a fallback.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from routing.network import Network

__all__ = ["Alert", "InformedEntity", "text", "is_active", "overlaps", "select", "touching",
           "of_legs"]


@dataclass(frozen=True)
class InformedEntity:
    agency: str | None = None       # "feed:agency_id"
    route: str | None = None        # "feed:route_id"
    route_type: int | None = None   # GTFS route_type
    trip: str | None = None         # "feed:trip_id"
    stop: str | None = None         # "feed:stop_id"


@dataclass(frozen=True)
class Alert:
    id: str                                         # "feed:entity_id"
    feed: str
    active_periods: tuple[tuple[int | None, int | None], ...]   # (start, end) POSIX; () = always
    informed: tuple[InformedEntity, ...]
    header: Mapping[str, str]                       # language -> text
    description: Mapping[str, str]
    url: Mapping[str, str]
    cause: str = "unknown_cause"                    # GTFS-RT Cause, lower case
    effect: str = "unknown_effect"                  # GTFS-RT Effect, lower case
    timestamp: int | None = None                    # header timestamp of the message it came in


def is_active(alert: Alert, now: int) -> bool:
    """An alert with no active period is active always; else when one period holds `now`
    (a missing start is minus infinity, a missing end plus infinity; the end is exclusive)."""
    if not alert.active_periods:
        return True
    return any((start is None or start <= now) and (end is None or now < end)
               for start, end in alert.active_periods)


def overlaps(alert: Alert, start: int, end: int) -> bool:
    """Active at some instant of [start, end] (a leg's travel)."""
    if not alert.active_periods:
        return True
    return any((s is None or s <= end) and (e is None or start < e) for s, e in alert.active_periods)


def text(texts: Mapping[str, str], lang: str | None) -> tuple[str | None, str | None]:
    """(language, text) in `lang` with a fallback: exact tag, then the same primary language
    ("zh" for "zh-CN", or "zh-Hans" for "zh"), then the untagged text, then English, then the
    first one. (None, None) when there is none."""
    if not texts:
        return None, None
    if lang:
        want = lang.lower()
        lowered = {k.lower(): k for k in texts}
        if want in lowered:
            return lowered[want], texts[lowered[want]]
        primary = want.split("-")[0]
        for key in texts:
            if key.lower().split("-")[0] == primary:
                return key, texts[key]
    for key in ("", "en"):
        if key in texts:
            return key or None, texts[key]
    key = next(iter(texts))
    return key or None, texts[key]


def select(alerts: Iterable[Alert], *, now: int, feed: str | None = None,
           stop: str | None = None, route: str | None = None) -> list[Alert]:
    """The active alerts, optionally of one feed and naming a stop / a route."""
    out = []
    for alert in alerts:
        if feed is not None and alert.feed != feed:
            continue
        if stop is not None and not any(e.stop == stop for e in alert.informed):
            continue
        if route is not None and not any(e.route == route for e in alert.informed):
            continue
        if is_active(alert, now):
            out.append(alert)
    return out


def _matches(e: InformedEntity, agency: str | None, route: str | None, route_type: int | None,
             trip: str | None, stops: frozenset[str]) -> bool:
    if e.agency is None and e.route is None and e.route_type is None and e.trip is None and e.stop is None:
        return False
    return ((e.agency is None or e.agency == agency) and (e.route is None or e.route == route)
            and (e.route_type is None or e.route_type == route_type)
            and (e.trip is None or e.trip == trip) and (e.stop is None or e.stop in stops))


def touching(alerts: Iterable[Alert], *, start: int, end: int, agency: str | None,
             route: str | None, route_type: int | None, trip: str | None,
             stops: Iterable[str]) -> list[Alert]:
    """The alerts active while a leg travels ([start, end], POSIX s) that touch it: its agency,
    route, route_type, trip, or one of the stops it calls at."""
    at = frozenset(stops)
    return [a for a in alerts if overlaps(a, start, end)
            and any(_matches(e, agency, route, route_type, trip, at) for e in a.informed)]


class _Lookups:
    """route id -> r, trip id -> t of one network (built once per network)."""

    def __init__(self, network: Network) -> None:
        self.route = {rid: r for r, rid in enumerate(network.route_id)}
        self.trip = {tid: t for t, tid in enumerate(network.trip_id)}


_LOOKUPS: weakref.WeakKeyDictionary[Network, _Lookups] = weakref.WeakKeyDictionary()


def _lookups(network: Network) -> _Lookups:
    got = _LOOKUPS.get(network)
    if got is None:
        got = _LOOKUPS.setdefault(network, _Lookups(network))
    return got


def of_legs(network: Network, alerts: list[Alert], legs: Iterable[Any]) -> list[Alert]:
    """The alerts touching any of an itinerary's legs (routing.itinerary.Leg) while it travels,
    each once, in leg order. A transit leg is touched through its agency, route, route_type,
    trip (a frequency run "T@08:00:00" is trip T) and every stop it calls at, boarding and
    alighting included; a walk through its two ends."""
    if not alerts:
        return []
    look = _lookups(network)
    out: dict[str, Alert] = {}
    for leg in legs:
        start, end = int(leg.departure.timestamp()), int(leg.arrival.timestamp())
        agency = route = trip = route_type = None
        stops = [p.id for p in (leg.from_place, leg.to_place) if p.id]
        key = getattr(leg, "key", None)
        if key is not None:
            t = look.trip.get(key.trip_id)
            trip = key.trip_id.split("@")[0]
            if t is not None:
                a = int(network.trip_st_start[t])
                rows = network.st_stop[a + key.board_pos:a + key.alight_pos + 1]
                stops = [str(network.stop_id[s]) for s in rows] or stops
        r = look.route.get(leg.route_id) if leg.route_id else None
        if r is not None:
            route = leg.route_id
            route_type = int(network.route_type[r])
            agency = str(network.agency_id[network.route_agency[r]])
        for alert in touching(alerts, start=start, end=end, agency=agency, route=route,
                              route_type=route_type, trip=trip, stops=stops):
            out.setdefault(alert.id, alert)
    return list(out.values())
