"""Does a realtime update fit the live static network? Pure: a `Network` in, answers out.

    check = UpdateCheck.of(network)          # cached per network object
    check.foreign(update.trip_id, "town")    # the other feed a namespaced id belongs to, if any
    check.instance(update)                   # a frequency trip's run named by its start_time
    check.dated(update)                      # an undated trip's run: today's, or yesterday's
    check.reason(update, planner)            # None, or unknown_trip / unknown_stop / not_running_that_day

Whether an update applies is routing's answer (`Planner.check_update`, the rule its realtime
overlay follows); this module answers the service's own questions.
"""

from __future__ import annotations

import weakref
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from routing.network import Network
from routing.updates import TripUpdate

__all__ = ["UpdateCheck"]

_CACHE: weakref.WeakKeyDictionary[Network, "UpdateCheck"] = weakref.WeakKeyDictionary()


class UpdateCheck:
    def __init__(self, network: Network) -> None:
        self.network = network
        self.trips: dict[str, int] = {tid: t for t, tid in enumerate(network.trip_id)}
        # trips of frequencies.txt: the base id -> the runs are "base@HH:MM:SS"
        self.frequency_bases = frozenset(tid.partition("@")[0] for tid in self.trips if "@" in tid)
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

    def instance(self, update: TripUpdate) -> TripUpdate:
        """A frequency trip is named by its GTFS id and the run's start_time (GTFS-Realtime);
        the network names each run "feed:trip@HH:MM:SS". An exact id is left as it is."""
        if update.trip_id in self.trips or update.trip_id not in self.frequency_bases:
            return update
        if not update.start_time:
            return update
        try:
            h, m, s = (int(x) for x in update.start_time.split(":"))
        except ValueError:
            return update
        run = f"{update.trip_id}@{h:02d}:{m:02d}:{s:02d}"
        return replace(update, trip_id=run) if run in self.trips else update

    def dated(self, update: TripUpdate) -> TripUpdate:
        """A trip sent without start_date was dated `today`; a run started yesterday (a trip
        past midnight) is the one meant when only yesterday's runs."""
        t = self.trips.get(update.trip_id)
        if t is None or self.runs(t, update.service_date):
            return update
        yesterday = update.service_date - timedelta(days=1)
        return replace(update, service_date=yesterday) if self.runs(t, yesterday) else update

    def reason(self, update: TripUpdate, planner: Any) -> str | None:
        """None if the update applies, else unknown_trip / unknown_stop / not_running_that_day:
        routing's answer (`Planner.check_update`), the one the realtime overlay follows; a
        frequency trip named without (or with a wrong) start_time: `unknown_run`."""
        if update.trip_id not in self.trips and update.trip_id in self.frequency_bases:
            return "unknown_run"
        return planner.check_update(update)
