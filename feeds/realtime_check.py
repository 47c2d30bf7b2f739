"""Does a realtime update fit the live static network? Pure: a `Network` in, reason codes out.

    check = UpdateCheck.of(network)          # cached per network object
    check.reason(update)                     # None, or unknown_trip / unknown_stop / not_running_that_day
    check.foreign(update.trip_id, "town")    # the other feed a namespaced id belongs to, if any

A planner that knows realtime (`Planner.check_update`, routing's side of the contract) is
asked first when there is one; this module answers otherwise, and always for the service's
own questions (another feed's trip, an undated trip's service date).

A stop named by stop_sequence must be a row of that trip with that stop_sequence (and, if a
stop_id is given too, that row's stop); one named by stop_id alone must be a stop of the trip.
A network compiled before stop_sequence was kept (`st_seq` empty) takes sequences on trust.
"""

from __future__ import annotations

import weakref
from dataclasses import replace
from datetime import date, timedelta

from routing.network import Network
from routing.updates import TripUpdate

__all__ = ["UpdateCheck"]

_CACHE: weakref.WeakKeyDictionary[Network, "UpdateCheck"] = weakref.WeakKeyDictionary()


class UpdateCheck:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.trips: dict[str, int] = {tid: t for t, tid in enumerate(network.trip_id)}
        self.feeds = frozenset(network.feeds)

    @classmethod
    def of(cls, network: Network) -> "UpdateCheck":
        got = _CACHE.get(network)
        if got is None:
            got = _CACHE.setdefault(network, cls(network))
        return got

    def knows_feed(self, feed: str) -> bool:
        return feed in self.feeds

    def foreign(self, trip_id: str, feed: str) -> str | None:
        """`"town:other:T1"` (town's producer named other's trip "other:T1"): "other"."""
        if trip_id in self.trips:
            return None
        rest = trip_id[len(feed) + 1:] if trip_id.startswith(f"{feed}:") else trip_id
        head = rest.partition(":")[0]
        if head != feed and head in self.feeds and rest in self.trips:
            return head
        return None

    def runs(self, t: int, day: date) -> bool:
        n = self.network
        col = day.toordinal() - n.service_base_date
        return 0 <= col < n.service_days.shape[1] and bool(n.service_days[n.trip_service[t], col])

    def dated(self, update: TripUpdate) -> TripUpdate:
        """A trip sent without start_date was dated `today`; a run started yesterday (a trip
        past midnight) is the one meant when only yesterday's runs."""
        t = self.trips.get(update.trip_id)
        if t is None or self.runs(t, update.service_date):
            return update
        yesterday = update.service_date - timedelta(days=1)
        return replace(update, service_date=yesterday) if self.runs(t, yesterday) else update

    def reason(self, update: TripUpdate, planner: object | None = None) -> str | None:
        ask = getattr(planner, "check_update", None)
        if ask is not None:
            return ask(update)
        t = self.trips.get(update.trip_id)
        if t is None:
            return "unknown_trip"
        if not self.runs(t, update.service_date):
            return "not_running_that_day"
        n = self.network
        a, b = int(n.trip_st_start[t]), int(n.trip_st_start[t + 1])
        stops = [str(n.stop_id[s]) for s in n.st_stop[a:b]]
        by_seq = ({int(q): stops[i] for i, q in enumerate(n.st_seq[a:b]) if q >= 0}
                  if len(n.st_seq) == len(n.st_stop) else None)
        for u in update.stop_updates:
            if u.stop_sequence is not None and by_seq is not None:
                at = by_seq.get(u.stop_sequence)
                if at is None or (u.stop_id is not None and u.stop_id != at):
                    return "unknown_stop"
            elif u.stop_id is not None and u.stop_id not in stops:
                return "unknown_stop"
        return None
