"""Journeys through via stops: `via=STOP[,STOP]` with an optional minimum stay.

An itinerary through vias v1..vn alights at each via stop (or walks into it) and boards
again from there, in order. The stay at a via: from being free there (vehicle arrival +
alight time, or the end of the walk into it) to being ready to board again (the board time
before the next departure) takes at least max(the query's change time, `via_min_stay_s`),
so the next departure is at least `via_min_stay_s` after the arrival.

Search: one plan per segment (origin -> v1 -> ... -> destination), each starting at the
stop where the previous one ends, when it allows. Earliest arrival is exact that way (waiting
is allowed and trips are FIFO: reaching a via earlier never arrives later at the end); the
other Pareto journeys come from the first segment's Pareto set, each continued by every
non-dominated (free time, transfers) way to the next via. Forward point queries only.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from routing.errors import DateOutOfService, InvalidQuery
from routing.itinerary import Itinerary, ItineraryKey, encode_id

if TYPE_CHECKING:
    from routing.planner import Planner, Query

__all__ = ["MAX_VIAS", "plan_via"]

MAX_VIAS = 3


def _epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def free_at_end(planner: Planner, it: Itinerary, min_transfer_s: int | None = None) -> int:
    """When the passenger is free at the itinerary's last place: the vehicle's arrival plus
    the alight time in effect there (airport exit...), or the end of the final walk."""
    last = it.legs[-1]
    if last.mode == "walk" or last.key is None:
        return _epoch(last.arrival)
    return _epoch(last.arrival) + planner.alight_s(last, min_transfer_s)


def _transfers(legs) -> int:
    return max(0, sum(leg.key is not None for leg in legs) - 1)


def _start(planner: Planner, stop: str, at: int) -> tuple:
    """(date, seconds after that date's midnight) of epoch `at`, local at `stop`."""
    tz = ZoneInfo(planner.stop_tz(planner.stop(stop)))
    local = datetime.fromtimestamp(at, tz)
    midnight = datetime.combine(local.date(), time(0), tz)
    return local.date(), int(local.timestamp() - midnight.timestamp())


def _front(partials: list[tuple]) -> list[tuple]:
    """Keep partial journeys (free, transfers, legs, first departure) no other one beats on
    (earlier free, fewer transfers, later first departure)."""
    partials.sort(key=lambda p: (p[0], p[1], -p[3]))
    kept: list[tuple] = []
    for p in partials:
        if any(k[0] <= p[0] and k[1] <= p[1] and k[3] >= p[3] for k in kept):
            continue
        kept.append(p)
    return kept


def plan_via(planner: Planner, query: Query) -> list[Itinerary]:
    vias = tuple(query.via)
    if query.arrive_by or query.window_s > 0:
        raise InvalidQuery("via works with forward point queries (no arrive_by, no window_min)",
                           parameter="via")
    if len(vias) > MAX_VIAS:
        raise InvalidQuery(f"at most {MAX_VIAS} via stops", parameter="via")
    chain = [query.origin, *vias, query.destination]
    for a, b in zip(chain, chain[1:]):
        if a == b:
            raise InvalidQuery(f"via: {b} follows itself (origin, vias and destination must "
                               "differ from the place before them)", parameter="via")
    for v in vias:
        if not isinstance(v, str):
            raise InvalidQuery("via takes stop ids", parameter="via")
        planner.stop(v)                 # unknown: UnknownStop, before any search
    cfg = planner.config
    change = (0 if query.min_transfer_s is not None else cfg.transfer_s) + int(query.extra_transfer_s or 0)
    stay = max(change, int(query.via_min_stay_s or 0))
    limit = cfg.default_limit if query.limit is None else max(1, min(query.limit, cfg.max_limit))
    seg = replace(query, via=(), via_min_stay_s=0, limit=cfg.max_limit)
    # partial journeys: (free at the last place, transfers, legs, first departure)
    first = planner.plan(replace(seg, destination=chain[1]))
    mts = query.min_transfer_s
    partials = _front([(free_at_end(planner, it, mts), it.transfers, it.legs, _epoch(it.departure))
                       for it in first])
    for a, b in zip(chain[1:], chain[2:]):
        grown: list[tuple] = []
        for free, _, legs, dep in partials:
            d, secs = _start(planner, a, free + stay)
            try:
                its = planner.plan(replace(seg, origin=a, destination=b, date=d, time_s=secs))
            except DateOutOfService:
                continue
            for it in its:
                both = (*legs, *it.legs)
                grown.append((free_at_end(planner, it, mts), _transfers(both), both, dep))
        partials = _front(grown)
    out = []
    for _, transfers, legs, _ in partials:
        keys = tuple(leg.key for leg in legs if leg.key is not None)
        used = {k.trip_id.split(":", 1)[0] for k in keys}
        ikey = ItineraryKey(versions=tuple(fv for fv in planner.versions if fv[0] in used),
                            legs=keys)
        out.append(Itinerary(id=encode_id(ikey, cfg.id_secret), key=ikey,
                             departure=legs[0].departure, arrival=legs[-1].arrival,
                             duration_s=_epoch(legs[-1].arrival) - _epoch(legs[0].departure),
                             transfers=transfers, legs=tuple(legs)))
    pen = int(query.transfer_penalty_s or 0)
    out.sort(key=lambda it: (_epoch(it.arrival) + pen * it.transfers, it.transfers,
                             -_epoch(it.departure)))
    return out[:limit]
