"""Trip details and stop departures, read from a planner (its network and realtime state).

`trip(planner, trip_id, service_date)`: the trip's calls with scheduled and realtime times
and its line; `departures(planner, stop_id, d, time_s, limit)`: the next boardings at a
stop or at any platform of a station. Pure: no I/O; times are aware datetimes in the zone
of the stop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np

from routing.errors import InvalidQuery, TripNotRunning, UnknownTrip
from routing.names import display_name, headsign, route_name
from routing.network import PICKUP_NONE
from routing.timetable import service_ref_epoch

__all__ = ["Call", "TripView", "Departure", "trip", "departures", "trip_number"]

# a departure after midnight may belong to the previous service day (times past 24:00)
_LOOKBACK_DAYS = 2


@dataclass(frozen=True)
class Call:
    stop: int                       # s
    stop_id: str
    name: str
    lat: float
    lon: float
    sequence: int                   # GTFS stop_sequence (-1 unknown)
    scheduled_arrival: datetime     # aware, zone of the stop
    scheduled_departure: datetime
    arrival: datetime               # realtime when known, else scheduled
    departure: datetime
    delay_s: int | None             # departure delay when the run has realtime, else None
    skipped: bool                   # realtime: the stop is not served
    pickup: bool                    # boarding allowed
    dropoff: bool                   # alighting allowed


@dataclass(frozen=True)
class TripView:
    trip_id: str
    feed: str
    service_date: date
    number: str                     # trip_short_name, else route short name
    route_id: str
    route_short_name: str
    route_long_name: str
    mode: str
    operator: str
    headsign: str
    realtime: bool                  # the run has a realtime update
    cancelled: bool
    calls: tuple[Call, ...]
    line: tuple[tuple[float, float], ...]   # (lon, lat): shapes.txt, else stop to stop
    line_source: str = "stops"      # "shape" (shapes.txt) or "stops"


@dataclass(frozen=True)
class Departure:
    trip: TripView                  # with only the calls from the boarding stop on
    call: Call                      # the boarding call
    position: int                   # 0-based position of the call in the trip


def trip_number(net, t: int) -> str:
    """Train or flight number: trip_short_name, else the route's short name."""
    own = str(net.trip_short_name[t]) if len(net.trip_short_name) > t else ""
    return own or str(net.route_short_name[int(net.trip_route[t])])


def _runs(net, t: int, d: date) -> bool:
    col = d.toordinal() - net.service_base_date
    return (0 <= col < net.service_days.shape[1]
            and bool(net.service_days[int(net.trip_service[t]), col]))


def _dt(epoch: int, tz: str) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc).astimezone(ZoneInfo(tz))


def _view(planner, t: int, d: date, first: int = 0, lang: str | None = None) -> TripView:
    net = planner.network
    a, b = int(net.trip_st_start[t]), int(net.trip_st_start[t + 1])
    ref = service_ref_epoch(d, net.timezones[int(planner.trip_tz[t])])
    rt = planner.realtime
    run = rt.run(t, d.toordinal()) if rt is not None else None
    calls = []
    for i in range(first, b - a):
        row = a + i
        s = int(net.st_stop[row])
        tz = net.timezones[int(net.stop_tz[s])]
        sarr, sdep = ref + int(net.st_arr[row]), ref + int(net.st_dep[row])
        if run is not None:
            arr, dep = run.ref + int(run.arr[i]), run.ref + int(run.dep[i])
            delay, skipped = dep - sdep, bool(run.skipped[i])
        else:
            arr, dep, delay, skipped = sarr, sdep, None, False
        seq = int(net.st_seq[row]) if len(net.st_seq) == len(net.st_stop) else -1
        calls.append(Call(
            stop=s, stop_id=str(net.stop_id[s]), name=display_name(net, s, lang),
            lat=float(net.stop_lat[s]), lon=float(net.stop_lon[s]), sequence=seq,
            scheduled_arrival=_dt(sarr, tz), scheduled_departure=_dt(sdep, tz),
            arrival=_dt(arr, tz), departure=_dt(dep, tz), delay_s=delay, skipped=skipped,
            pickup=int(net.st_pickup[row]) != PICKUP_NONE,
            dropoff=int(net.st_dropoff[row]) != PICKUP_NONE))
    r = int(net.trip_route[t])
    trip_id = str(net.trip_id[t])
    return TripView(
        trip_id=trip_id, feed=trip_id.split(":", 1)[0], service_date=d,
        number=trip_number(net, t), route_id=str(net.route_id[r]),
        route_short_name=route_name(net, r, "route_short_name", lang),
        route_long_name=route_name(net, r, "route_long_name", lang),
        mode=str(net.route_mode[r]), operator=str(net.agency_name[int(net.route_agency[r])]),
        headsign=headsign(net, t, lang), realtime=run is not None,
        cancelled=bool(run is not None and run.canceled), calls=tuple(calls),
        line=tuple((c.lon, c.lat) for c in calls))


def trip(planner, trip_id: str, service_date: date, lang: str | None = None) -> TripView:
    """Trip `trip_id` ("FEED:TRIP_ID") on `service_date`: UnknownTrip if the network has no
    such trip, TripNotRunning if it does not run that day."""
    t = planner.trip_index.get(trip_id)
    if t is None:
        raise UnknownTrip(f"unknown trip {trip_id!r}", trip=trip_id)
    if not _runs(planner.network, t, service_date):
        raise TripNotRunning(f"trip {trip_id} does not run on {service_date}", trip=trip_id)
    view = _view(planner, t, service_date, lang=lang)
    net = planner.network
    h = int(net.trip_shape[t]) if len(net.trip_shape) == net.n_trips else -1
    if h >= 0:
        a, b = int(net.shape_start[h]), int(net.shape_start[h + 1])
        if b - a >= 2:
            pts = tuple(zip(net.shape_lon[a:b].tolist(), net.shape_lat[a:b].tolist()))
            view = replace(view, line=pts, line_source="shape")
    return view


def departures(planner, stop_id: str, d: date, time_s: int, limit: int,
               lang: str | None = None) -> list[Departure]:
    """The next `limit` boardings at stop `stop_id` (a station: at any of its platforms) at
    or after local time `time_s` of date `d` (the stop's zone), soonest first. A boarding is
    a call with pickup allowed that is not the trip's last; realtime times when known
    (skipped calls and cancelled runs are left out). Stop names in `lang` (routing.names)."""
    if limit < 1:
        raise InvalidQuery("limit must be at least 1", parameter="limit")
    net = planner.network
    s0 = planner.stop(stop_id)
    planner.check_date(d)       # DateOutOfService outside every feed's service
    members = [s0, *planner.children.get(s0, [])]
    tz = net.timezones[int(net.stop_tz[s0])]
    start = int(datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(tz)).timestamp()) + time_s
    rows = np.flatnonzero(np.isin(net.st_stop, np.asarray(members, dtype=np.int32)))
    if len(rows) == 0:
        return []
    trips = np.searchsorted(net.trip_st_start, rows, side="right") - 1
    last = net.trip_st_start[trips + 1] - 1
    keep = (rows < last) & (net.st_pickup[rows] != PICKUP_NONE)
    rows, trips = rows[keep], trips[keep]
    rt = planner.realtime
    found: list[tuple[int, int, int, date]] = []      # (departure epoch, t, position, date)
    for back in range(_LOOKBACK_DAYS + 1):
        sd = d - timedelta(days=back)
        col = sd.toordinal() - net.service_base_date
        if not 0 <= col < net.service_days.shape[1]:
            continue
        running = net.service_days[net.trip_service[trips], col]
        for row, t in zip(rows[running].tolist(), trips[running].tolist()):
            pos = row - int(net.trip_st_start[t])
            ref = service_ref_epoch(sd, net.timezones[int(planner.trip_tz[t])])
            run = rt.run(t, sd.toordinal()) if rt is not None else None
            if run is not None:
                if run.canceled or run.skipped[pos]:
                    continue
                dep = run.ref + int(run.dep[pos])
            else:
                dep = ref + int(net.st_dep[row])
            if dep >= start:
                found.append((dep, t, pos, sd))
    found.sort()
    out = []
    for _, t, pos, sd in found[:limit]:
        view = _view(planner, t, sd, first=pos, lang=lang)
        out.append(Departure(trip=view, call=view.calls[0], position=pos))
    return out
