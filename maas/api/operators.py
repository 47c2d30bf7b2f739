"""Operator views of check-in: entries per station over a local day."""

from __future__ import annotations

from datetime import date as Date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from aiohttp import web
from pydantic import BaseModel, Field

from maas.appkeys import CLOCK, DB, LIVE
from maas.errors import Forbidden, InvalidParameter
from maas.http import Router, principal_of
from ticketing.checkin_stats_store import checkins_by_station

__all__ = ["router"]

router = Router(tag="operators")


class CheckinsQuery(BaseModel):
    date: Date | None = Field(None, description="the day (YYYY-MM-DD) in `tz`; default: today there")
    tz: str = Field("Asia/Shanghai", max_length=64,
                    description="IANA time zone the day is counted in, e.g. Asia/Shanghai or UTC")


class StationCount(BaseModel):
    station: str = Field(description='boarding stop "feed:stop_id" (a station or one of its platforms)')
    name: str | None = Field(description="its name in the live timetable (null if not live)")
    checkins: int = Field(description="entries there: a party on one booking leg (QR, face) or "
                          "one passenger (ID card)")
    passengers: int = Field(description="people those entries let through")
    qr: int
    face: int
    offline: int = Field(description="entries uploaded later by an offline gate")
    id_card: int = Field(description="passengers entered by ID card (一票（证）通行), one each")


class Checkins(BaseModel):
    operator: str
    date: Date
    tz: str
    start: datetime = Field(description="the day's first instant, with its offset")
    end: datetime = Field(description="the next day's first instant")
    total: int = Field(description="sum of checkins")
    stations: list[StationCount] = Field(description="busiest first")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):   # OSError: a folder of zones ("Asia")
        raise InvalidParameter(f"tz: unknown time zone {name!r}", parameter="tz") from None


def _names(request: web.Request, stations: list[str]) -> dict[str, str]:
    net = request.app[LIVE].current.network
    if not stations or not len(net.stop_id):
        return {}
    found = np.flatnonzero(np.isin(net.stop_id, stations))
    return {str(net.stop_id[i]): str(net.stop_name[i]) for i in found}


@router.get("/v1/operators/{id}/checkins", summary="Check-ins per station on a day",
            description="Legs of this operator's feeds entered at gates (online, or uploaded "
                        "from an offline gate) during one local day, per boarding stop.",
            auth=("operator",), query=CheckinsQuery, response=Checkins,
            errors={400: "invalid_parameter (date, unknown tz)", 403: "another operator's check-ins"})
async def checkins(request: web.Request, query: CheckinsQuery) -> Checkins:
    p = principal_of(request)
    operator = request.match_info["id"]
    if p.role != "admin" and p.operator_id != operator:
        raise Forbidden("an operator sees only its own check-ins", operator=operator)
    zone = _zone(query.tz)
    day = query.date or request.app[CLOCK].now().astimezone(zone).date()
    if not 1 < day.year < 9999:                    # the day after must exist, in every zone
        raise InvalidParameter(f"date out of range: {day}", parameter="date")
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    async with request.app[DB].acquire() as conn:
        rows = await checkins_by_station(conn, operator, start, end)
    names = _names(request, [r.station for r in rows])
    return Checkins(
        operator=operator, date=day, tz=query.tz, start=start, end=end,
        total=sum(r.checkins for r in rows),
        stations=[StationCount(station=r.station, name=names.get(r.station), checkins=r.checkins,
                               passengers=r.passengers, qr=r.qr, face=r.face, offline=r.offline,
                               id_card=r.id_card)
                  for r in rows])
