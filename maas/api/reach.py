"""GET /v1/reach: every stop reachable from a place within a time budget (one-to-all, the
planner's engine), as JSON or as GeoJSON (points, and a hull per travel-time band)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from maas.api.plan import _TIME, _place, profile_options
from maas.api.plan_options import PlanOptions
from maas.api.trips import _date
from maas.appkeys import LIVE
from maas.http import Router
from maas.lang import request_lang
from routing.errors import InvalidQuery, NoTimetable
from routing.names import display_name
from routing.planner import Query
from routing.reach import Reached, reach

router = Router(tag="plan")

MAX_MINUTES = 24 * 60


class ReachQuery(PlanOptions):
    """GET /v1/reach's query: the origin, the budget, and the options of /v1/plan (PlanOptions)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description='Origin: "FEED:STOP_ID" or "lat,lon"')
    date: str = Field(description="YYYY-MM-DD, local date at the origin")
    time: str = Field(description="HH:MM or HH:MM:SS, local time at the origin")
    max_minutes: int = Field(60, ge=1, le=MAX_MINUTES, description=f"Travel-time budget in minutes (at most {MAX_MINUTES})")
    format: Literal["json", "geojson"] = Field("json", description="json (stops) or geojson (a FeatureCollection: a Point per stop, and a hull per band)")
    lang: str | None = Field(None, description="Names in zh or en (BCP 47 tag; default: Accept-Language, else as published)")
    band_minutes: int | None = Field(None, ge=1, le=MAX_MINUTES, description="GeoJSON: width of a travel-time band; default max_minutes / 4 rounded up")


class ReachedStop(BaseModel):
    id: str
    name: str
    lat: float
    lon: float
    arrival: str = Field(description="ISO 8601 in the stop's offset: vehicle arrival + alighting time (+ a walk into the stop), as /v1/plan minimises it")
    minutes: float = Field(description="Travel time from the departure time, minutes")
    rides: int = Field(description="Vehicles ridden on the fastest way with the fewest changes (0: on foot from the origin)")
    transfers: int = Field(description="Changes on that way: max(0, rides - 1)")


class ReachResponse(BaseModel):
    departure: str = Field(description="ISO 8601, origin's offset")
    max_minutes: int
    stops: list[ReachedStop] = Field(description="Ordered by arrival")


def _query(q: ReachQuery) -> tuple[Query, int]:
    d = _date(q.date)
    m = _TIME.match(q.time.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59 or int(m.group(3) or 0) > 59:
        raise InvalidQuery(f"time must be HH:MM or HH:MM:SS, not {q.time!r}", parameter="time")
    secs = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3) or 0)
    origin = _place(q.from_, "from")
    modes = frozenset(x.strip() for x in q.modes.split(",") if x.strip()) if q.modes else None
    return Query(origin=origin, destination=origin, date=d, time_s=secs, modes=modes,
                 wheelchair=q.wheelchair, max_walk_m=q.max_walk_m,
                 min_transfer_s=q.min_transfer_s, **profile_options(q)), q.max_minutes * 60


def _stops(net: Any, got: Reached, lang: str | None = None) -> list[dict[str, Any]]:
    out = []
    for s, a, k in zip(got.stops.tolist(), got.arrival.tolist(), got.transfers.tolist()):
        tz = ZoneInfo(net.timezones[int(net.stop_tz[s])])
        rides = 0 if k < 0 else k + 1
        out.append({"id": str(net.stop_id[s]), "name": display_name(net, s, lang),
                    "lat": float(net.stop_lat[s]), "lon": float(net.stop_lon[s]),
                    "arrival": datetime.fromtimestamp(a, timezone.utc).astimezone(tz).isoformat(),
                    "minutes": round((a - got.t0) / 60, 1), "rides": rides,
                    "transfers": max(0, rides - 1)})
    return out


def hull(points: list[tuple[float, float]]) -> dict[str, Any]:
    """GeoJSON geometry of the convex hull of (lon, lat) points (monotone chain): a Polygon,
    or a LineString / Point when the points are collinear / one."""
    pts = sorted(set(points))
    if len(pts) == 1:
        return {"type": "Point", "coordinates": list(pts[0])}

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    ring = lower[:-1] + upper[:-1]
    if len(ring) < 3:
        return {"type": "LineString", "coordinates": [list(pts[0]), list(pts[-1])]}
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring + ring[:1]]]}


def geojson(stops: list[dict[str, Any]], max_minutes: int, band: int | None) -> dict[str, Any]:
    width = band or -(-max_minutes // 4)
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
                 "properties": {k: s[k] for k in ("id", "name", "arrival", "minutes", "rides", "transfers")}}
                for s in stops]
    edge = width
    while stops and edge - width < max_minutes:
        inside = [(s["lon"], s["lat"]) for s in stops if s["minutes"] <= min(edge, max_minutes)]
        if inside:
            features.append({"type": "Feature", "geometry": hull(inside),
                             "properties": {"band_minutes": min(edge, max_minutes),
                                            "stops": len(inside)}})
        edge += width
    return {"type": "FeatureCollection", "features": features}


@router.get(
    "/v1/reach",
    summary="Every stop reachable within a travel-time budget (one-to-all)",
    description="The stops reachable from `from` leaving at date/time within max_minutes, each "
                "with its earliest arrival and the fewest changes reaching it that early; "
                "format=geojson: a Point per stop and a convex hull per travel-time band "
                "(stops within 0..band, 0..2 band, ...).",
    query=ReachQuery,
    errors={400: "malformed from/date/time, unknown mode, budget or format out of range",
            404: "unknown origin stop", 422: "date outside every feed's service",
            503: "no timetable loaded yet"},
)
async def get_reach(request: web.Request, query: ReachQuery) -> web.Response:
    q, budget = _query(query)
    planner = request.app[LIVE].current.planner
    if planner is None:
        raise NoTimetable("no timetable is loaded yet")
    got = await asyncio.to_thread(reach, planner, q, budget)
    stops = _stops(planner.network, got, request_lang(request, query.lang))
    if query.format == "geojson":
        return web.json_response(geojson(stops, query.max_minutes, query.band_minutes),
                                 content_type="application/geo+json")
    dep = datetime.fromtimestamp(got.t0, timezone.utc).astimezone(ZoneInfo(got.tz)).isoformat()
    return web.json_response(ReachResponse(departure=dep, max_minutes=query.max_minutes,
                                           stops=[ReachedStop(**s) for s in stops]).model_dump())
