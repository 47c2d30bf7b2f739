"""Realtime updates as the planner takes them: plain data, no protobuf, no I/O.

This is the contract between the realtime ingest (GTFS-Realtime `FeedMessage` -> these
objects, in the service) and `routing/` (which overlays them on the static network without
rebuilding it). Ids are as the network spells them: trips `"feed:trip_id"`, stops
`"feed:stop_id"`. A stop is named by its GTFS `stop_sequence`, its stop id, or both (the
GTFS-Realtime rule: stop_sequence locates it where it is given, which matters on loops; a
stop id given with it must name the same stop or a stop of the same station).

Times follow GTFS-Realtime: a `StopTimeEvent` carries a delay (seconds, + late / - early), an
absolute time (POSIX seconds), or both; the absolute time wins. A stop with no event takes
the delay of the closest earlier stop that has one (propagation down the trip); stops before
the first update run as scheduled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = ["StopTimeEvent", "StopTimeUpdate", "TripUpdate"]


@dataclass(frozen=True)
class StopTimeEvent:
    delay: int | None = None        # seconds, + late / - early
    time: int | None = None         # POSIX seconds (UTC); wins over delay


@dataclass(frozen=True)
class StopTimeUpdate:
    stop_sequence: int | None = None    # GTFS stop_sequence of the stop in its trip
    stop_id: str | None = None          # "feed:stop_id"
    arrival: StopTimeEvent | None = None
    departure: StopTimeEvent | None = None
    skipped: bool = False               # schedule_relationship SKIPPED: not served


@dataclass(frozen=True)
class TripUpdate:
    trip_id: str                        # "feed:trip_id"
    service_date: date                  # the run it names (GTFS-RT start_date)
    canceled: bool = False              # schedule_relationship CANCELED: the whole run
    stop_updates: tuple[StopTimeUpdate, ...] = ()   # in stop order
    timestamp: int | None = None        # POSIX seconds the producer measured it
    start_time: str | None = None       # GTFS-RT start_time "HH:MM:SS": names the run of a
                                        # frequency trip (the network's "feed:trip@HH:MM:SS")
