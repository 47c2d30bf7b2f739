"""GET /v1/trips/{trip_id} (a trip's calls, times and line) and GET
/v1/stops/{stop_id}/departures (the next boardings), over the live planner (realtime
times where it has them). Parse -> routing.trips -> render."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from maas.api.plan import _TIME
from maas.appkeys import LIVE
from maas.http import Router
from maas.lang import request_lang
from routing.errors import InvalidQuery, NoTimetable
from routing.trips import Call, Departure, TripView, departures, trip

router = Router(tag="trips")

_MAX_DEPARTURES = 100


class TripQuery(BaseModel):
    date: str = Field(description="YYYY-MM-DD: the GTFS service date of the run")
    lang: str | None = Field(None, description="Names in zh or en (BCP 47 tag; default: Accept-Language, else as published)")


class DeparturesQuery(BaseModel):
    date: str = Field(description="YYYY-MM-DD, local date at the stop")
    time: str = Field(description="HH:MM or HH:MM:SS, local time at the stop: departures at or after it")
    limit: int = Field(10, ge=1, le=_MAX_DEPARTURES, description=f"Departures to return (at most {_MAX_DEPARTURES})")
    lang: str | None = Field(None, description="Names in zh or en (BCP 47 tag; default: Accept-Language, else as published)")


class CallOut(BaseModel):
    stop_id: str = Field(description='"FEED:STOP_ID"')
    name: str
    lat: float
    lon: float
    sequence: int = Field(description="GTFS stop_sequence (-1 when unknown)")
    arrival: str = Field(description="ISO 8601, the stop's offset; realtime when known")
    departure: str = Field(description="ISO 8601; realtime when known")
    scheduled_arrival: str
    scheduled_departure: str
    delay_s: int | None = Field(None, description="Realtime departure delay (+ late); null without realtime")
    skipped: bool = Field(description="Realtime: the vehicle does not serve this stop")
    pickup: bool = Field(description="Boarding allowed")
    dropoff: bool = Field(description="Alighting allowed")


class RouteRef(BaseModel):
    id: str
    short_name: str
    long_name: str


class TripOut(BaseModel):
    trip_id: str = Field(description='"FEED:TRIP_ID"')
    feed: str
    service_date: str
    trip_short_name: str = Field(description="Train or flight number: trip_short_name, else the route's short name")
    mode: str
    route: RouteRef
    operator: str
    headsign: str
    realtime: bool = Field(description="The run has a realtime update")
    cancelled: bool
    stops: list[CallOut]
    shape: dict[str, Any] = Field(description='GeoJSON Feature with a LineString geometry: the trip\'s shapes.txt shape (properties.source "shape"), else its stops joined in order ("stops")')


class DepartureOut(BaseModel):
    trip_id: str
    service_date: str
    trip_short_name: str
    mode: str
    route: RouteRef
    operator: str
    headsign: str
    stop_id: str = Field(description="Platform (stop) the departure leaves from")
    platform: str = Field(description="Name of that stop as the feed gives it")
    departure: str = Field(description="ISO 8601, realtime when known")
    scheduled_departure: str
    delay_s: int | None
    realtime: bool
    destination: str = Field(description="Name of the trip's last stop")


class DeparturesResponse(BaseModel):
    stop_id: str
    departures: list[DepartureOut]


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidQuery(f"date must be YYYY-MM-DD, not {text!r}", parameter="date") from None


def _time(text: str) -> int:
    m = _TIME.match(text.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59 or int(m.group(3) or 0) > 59:
        raise InvalidQuery(f"time must be HH:MM or HH:MM:SS, not {text!r}", parameter="time")
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3) or 0)


def _planner(request: web.Request) -> Any:
    planner = request.app[LIVE].current.planner
    if planner is None:
        raise NoTimetable("no timetable is loaded yet")
    return planner


def _call(c: Call) -> CallOut:
    return CallOut(stop_id=c.stop_id, name=c.name, lat=c.lat, lon=c.lon, sequence=c.sequence,
                   arrival=c.arrival.isoformat(), departure=c.departure.isoformat(),
                   scheduled_arrival=c.scheduled_arrival.isoformat(),
                   scheduled_departure=c.scheduled_departure.isoformat(), delay_s=c.delay_s,
                   skipped=c.skipped, pickup=c.pickup, dropoff=c.dropoff)


def _route(v: TripView) -> RouteRef:
    return RouteRef(id=v.route_id, short_name=v.route_short_name, long_name=v.route_long_name)


def _trip(v: TripView) -> TripOut:
    shape = {"type": "Feature", "properties": {"trip_id": v.trip_id, "source": v.line_source},
             "geometry": {"type": "LineString", "coordinates": [list(p) for p in v.line]}}
    return TripOut(trip_id=v.trip_id, feed=v.feed, service_date=str(v.service_date),
                   trip_short_name=v.number, mode=v.mode, route=_route(v), operator=v.operator,
                   headsign=v.headsign, realtime=v.realtime, cancelled=v.cancelled,
                   stops=[_call(c) for c in v.calls], shape=shape)


def _departure(d: Departure) -> DepartureOut:
    v, c = d.trip, d.call
    return DepartureOut(trip_id=v.trip_id, service_date=str(v.service_date),
                        trip_short_name=v.number, mode=v.mode, route=_route(v),
                        operator=v.operator, headsign=v.headsign, stop_id=c.stop_id,
                        platform=c.name, departure=c.departure.isoformat(),
                        scheduled_departure=c.scheduled_departure.isoformat(),
                        delay_s=c.delay_s, realtime=v.realtime, destination=v.calls[-1].name)


@router.get(
    "/v1/trips/{trip_id}",
    summary="A trip: its stops with times (realtime when known), route, number and line",
    query=TripQuery,
    response=TripOut,
    errors={400: "malformed date", 404: "unknown trip, or it does not run that date",
            503: "no timetable loaded yet"},
)
async def get_trip(request: web.Request, query: TripQuery) -> TripOut:
    d = _date(query.date)
    lang = request_lang(request, query.lang)
    return _trip(trip(_planner(request), request.match_info["trip_id"], d, lang))


@router.get(
    "/v1/stops/{stop_id}/departures",
    summary="The next departures of a stop, or of every platform of a station",
    query=DeparturesQuery,
    response=DeparturesResponse,
    errors={400: "malformed date or time, limit out of range", 404: "unknown stop",
            422: "date outside every feed's service", 503: "no timetable loaded yet"},
)
async def stop_departures(request: web.Request, query: DeparturesQuery) -> DeparturesResponse:
    d, t = _date(query.date), _time(query.time)
    planner = _planner(request)
    stop_id = request.match_info["stop_id"]
    lang = request_lang(request, query.lang)
    found = await asyncio.to_thread(departures, planner, stop_id, d, t, query.limit, lang)
    return DeparturesResponse(stop_id=stop_id, departures=[_departure(x) for x in found])
