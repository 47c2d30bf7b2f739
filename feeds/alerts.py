"""Service alerts (GTFS-Realtime `Alert`) as plain data, and the questions asked of them.

An alert informs entities: each `InformedEntity` is one GTFS-RT EntitySelector, whose fields
are a conjunction ("route 7 at stop S" = only that route at that stop). An alert touches a
leg when one of its selectors matches the leg: every field it gives names the leg's agency,
route, route_type, trip or one of the stops the leg calls at.

Texts are per language (`{"en": ..., "zh": ...}`; "" is a translation with no language
tag, the feed's own language). `text(texts, lang)` picks the asked language with a fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

__all__ = ["Alert", "InformedEntity", "text", "is_active", "select", "touching"]


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


def touching(alerts: Iterable[Alert], *, now: int, agency: str | None, route: str | None,
             route_type: int | None, trip: str | None, stops: Iterable[str]) -> list[Alert]:
    """The active alerts that touch a leg (its agency, route, trip, and the stops it calls at)."""
    at = frozenset(stops)
    return [a for a in alerts if is_active(a, now)
            and any(_matches(e, agency, route, route_type, trip, at) for e in a.informed)]
