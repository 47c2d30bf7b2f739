"""The static lookups of one network, resolved once per planner: what the search setup and
the itinerary assembly (`routing.journeys`) read, instead of reaching into a Planner."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np

from routing.config import RoutingConfig
from routing.errors import UnknownStop
from routing.footpaths import Footpaths
from routing.network import Network
from routing.prebuilt import TripIndex
from routing.timetable import Patterns

__all__ = ["Context", "trip_zones"]


def trip_zones(network: Network) -> np.ndarray:
    """t -> z of its agency's time zone (int16)."""
    return network.agency_tz[network.route_agency[network.trip_route]]


@dataclass(frozen=True, eq=False)
class Context:
    network: Network
    config: RoutingConfig
    fwd: Patterns                       # forward patterns (t -> p, pattern-stop rows)
    fps: Footpaths                      # forward footpaths
    trip_tz: np.ndarray                 # t -> z of its agency's time zone (int16)
    stop_index: Mapping[str, int]       # "feed:stop_id" -> s (a dict, or a shared TripIndex)
    trip_index: Mapping[str, int]       # "feed:trip_id" -> t (a dict, or a shared TripIndex)
    versions: tuple[tuple[str, str], ...]   # (feed, version) of every merged feed

    @classmethod
    def of(cls, network: Network, config: RoutingConfig, fwd: Patterns,
           fps: Footpaths, trips: Mapping[str, np.ndarray] | None = None,
           stops: Mapping[str, np.ndarray] | None = None) -> Context:
        """`trips`: `trip_arrays` of the network (shared, routing.prebuilt), else a dict;
        `stops`: `trip_arrays` of its stop ids (the same sorted lookup), else a dict."""
        return cls(network=network, config=config, fwd=fwd, fps=fps,
                   trip_tz=trips["trip_tz"] if trips is not None else trip_zones(network),
                   stop_index=(TripIndex(stops) if stops is not None
                               else {str(sid): i for i, sid in enumerate(network.stop_id)}),
                   trip_index=(TripIndex(trips) if trips is not None
                               else {tid: i for i, tid in enumerate(network.trip_id)}),
                   versions=tuple(zip(network.feeds, network.feed_versions)))

    def stop(self, stop_id: str) -> int:
        s = self.stop_index.get(stop_id)
        if s is None:
            raise UnknownStop(f"unknown stop {stop_id!r}", stop=stop_id)
        return s

    def stop_tz(self, s: int) -> str:
        return self.network.timezones[self.network.stop_tz.item(s)]

    def runs_on(self, t: int, service_date: date) -> bool:
        """Trip t runs on `service_date` (its calendar)."""
        net = self.network
        col = service_date.toordinal() - net.service_base_date
        return bool(0 <= col < net.service_days.shape[1]
                    and net.service_days[net.trip_service[t], col])

    def walk_m(self, s: int, s2: int) -> float:
        """Walking metres s -> s2: the footpath's, else the straight line x detour."""
        f = self.fps
        for e in range(f.start.item(s), f.start.item(s + 1)):
            if f.to[e] == s2 and f.dist_m[e] > 0:
                return float(f.dist_m[e])
        net = self.network
        la1, lo1 = math.radians(net.stop_lat[s]), math.radians(net.stop_lon[s])
        la2, lo2 = math.radians(net.stop_lat[s2]), math.radians(net.stop_lon[s2])
        a = (math.sin((la2 - la1) / 2) ** 2
             + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2)
        return 2 * 6_371_000.0 * math.asin(min(1.0, math.sqrt(a))) * self.config.walk_detour
