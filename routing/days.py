"""The expanded days of one planner: built on first use per (date, direction), LRU-cached
(the static expansion, or a realtime overlay on it).

Building a Day takes tens of milliseconds to seconds on a province, so concurrent queries
for the same new date wait for one builder instead of each building it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date

from routing.timetable import Day

__all__ = ["DayCache"]


class DayCache:
    def __init__(self, build: Callable[[date, bool, bool], Day], size: int):
        self._build, self._size = build, size
        self._days: OrderedDict[tuple[date, bool, bool], Day] = OrderedDict()
        self._building: dict[tuple[date, bool, bool], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, d: date, reverse: bool = False, long: bool = False) -> Day:
        """The day of `d` in one direction; `long`: expanded to the planner's horizon."""
        key = (d, reverse, long)
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
                day = self._build(d, reverse, long)
                with self._lock:
                    self._days[key] = day
                    while len(self._days) > self._size:
                        self._days.popitem(last=False)
        return day
