"""The expanded days of one planner: built on first use per (date, direction), LRU-cached.

Building a Day takes tens of milliseconds to seconds on a province, so concurrent queries
for the same new date wait for one builder instead of each building it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date

from routing.config import RoutingConfig
from routing.network import Network
from routing.timetable import Day, Patterns, build_day

__all__ = ["DayCache"]


class DayCache:
    def __init__(self, network: Network, fwd: Patterns, rev: Patterns, config: RoutingConfig):
        self._network, self._fwd, self._rev, self._config = network, fwd, rev, config
        self._days: OrderedDict[tuple[date, bool], Day] = OrderedDict()
        self._building: dict[tuple[date, bool], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, d: date, reverse: bool = False) -> Day:
        key = (d, reverse)
        with self._lock:
            day = self._days.get(key)
            if day is not None:
                self._days.move_to_end(key)
                return day
            lock = self._building.setdefault(key, threading.Lock())
        with lock:                      # one builder per day; others wait for it
            with self._lock:
                day = self._days.get(key)
            if day is None:
                day = build_day(self._network, self._rev if reverse else self._fwd, d,
                                self._config)
                with self._lock:
                    self._days[key] = day
                    while len(self._days) > self._config.date_cache_size:
                        self._days.popitem(last=False)
        return day
