"""One time convention on the wire: a time that belongs to a place is written local to that
place, with its UTC offset, in the time zone its feed gives the stop (`stop_tz`), as
/v1/plan writes legs. This module is the one place that turns a stop id into that zone.

`stop_zones(snap)` (a live snapshot) or `planner_zones(planner)` gives a `Zone`: stop
"feed:stop_id" -> tzinfo, UTC for a stop the network does not know. `local(dt, zone, stop)`
and `local_iso` apply it; UTC comes out as `+00:00`, never `Z` (the same bytes either way).
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from typing import Annotated, Any, Callable
from zoneinfo import ZoneInfo

from pydantic import PlainSerializer

__all__ = ["LocalTime", "Zone", "stop_zones", "planner_zones", "network_zones", "utc_zone", "local",
           "local_iso", "zone_name"]

Zone = Callable[[str], tzinfo]

# a response field holding such a time: written as it is, with its offset (+00:00, never Z)
LocalTime = Annotated[datetime, PlainSerializer(datetime.isoformat, return_type=str,
                                                when_used="json")]
_INDEX: dict[int, tuple[Any, dict[str, int]]] = {}   # id(network) -> (network, stop id -> s)


def network_zones(net: Any, index: dict[str, int] | None = None) -> Zone:
    """Zones of the stops of `net` (a routing Network); `index` maps stop id -> s when the
    caller has one (a planner does), else it is built once per network and kept."""
    if index is None:
        got = _INDEX.get(id(net))
        if got is None or got[0] is not net:
            _INDEX.clear()
            got = _INDEX[id(net)] = (net, {sid: i for i, sid in enumerate(net.stop_id)})
        index = got[1]
    found = index

    def zone(stop_id: str) -> tzinfo:
        s = found.get(stop_id)
        if s is None or s >= len(net.stop_tz):   # unknown here (or a network without zones)
            return timezone.utc
        return ZoneInfo(net.timezones[int(net.stop_tz[s])])
    return zone


def planner_zones(planner: Any) -> Zone:
    """Zones of the stops of a routing Planner's network."""
    return network_zones(planner.ctx.network, planner.ctx.stop_index)


def stop_zones(snap: Any) -> Zone:
    """Zones of the stops of a live snapshot (maas/network.py): its planner's network when
    one is built, else its network."""
    if snap.planner is not None:
        return planner_zones(snap.planner)
    return network_zones(snap.network)


def utc_zone(stop_id: str) -> tzinfo:
    return timezone.utc


def local(dt: datetime, zone: Zone, stop: str) -> datetime:
    """`dt` (aware) as the wall clock of `stop`."""
    return dt.astimezone(zone(stop))


def local_iso(dt: datetime | None, zone: Zone, stop: str) -> str | None:
    return None if dt is None else dt.astimezone(zone(stop)).isoformat()


def zone_name(tz: tzinfo) -> str:
    """The IANA name of a zone `Zone` gave ("UTC" for the fallback)."""
    return getattr(tz, "key", None) or "UTC"
