"""calendar.txt and calendar_dates.txt: a (service, day) boolean matrix."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from feeds.gtfs.values import col, ordinal

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class Services:
    ids: np.ndarray
    base: int
    days: np.ndarray


def services(cal: pd.DataFrame | None, cd: pd.DataFrame | None,
             trip_services: np.ndarray, max_days: int) -> Services:
    cal_ids, cd_ids = col(cal, "service_id"), col(cd, "service_id")
    ids = np.array(list(dict.fromkeys([*cal_ids, *cd_ids, *trip_services])), dtype=object)
    index = {s: i for i, s in enumerate(ids)}
    cache: dict[str, int] = {}

    def ords(c: np.ndarray) -> np.ndarray:
        return np.array([cache[s] if s in cache else cache.setdefault(s, ordinal(s)) for s in c],
                        dtype=np.int64)

    start, end, cd_date = ords(col(cal, "start_date")), ords(col(cal, "end_date")), \
        ords(col(cd, "date"))
    known = np.concatenate([start, end, cd_date])
    known = known[known > 0]
    if len(known) == 0:
        return Services(ids, date(1970, 1, 1).toordinal(), np.zeros((len(ids), 1), dtype=bool))
    base = int(known.min())
    n_days = min(int(known.max()) - base + 1, max_days)
    days = np.zeros((len(ids), n_days), dtype=bool)
    day_ord = base + np.arange(n_days)
    if len(cal_ids):
        week = np.stack([col(cal, d) == "1" for d in _WEEKDAYS], axis=1)   # (c, 7)
        runs = week[:, (day_ord + 6) % 7] & (day_ord >= start[:, None]) & (day_ord <= end[:, None])
        rows = np.array([index[s] for s in cal_ids], dtype=np.int64)
        np.logical_or.at(days, rows, runs)
    if len(cd_ids):
        rows = np.array([index[s] for s in cd_ids], dtype=np.int64)
        exc = col(cd, "exception_type")
        d = cd_date - base
        inside = (d >= 0) & (d < n_days)
        add, rem = inside & (exc == "1"), inside & (exc == "2")
        days[rows[add], d[add]] = True
        days[rows[rem], d[rem]] = False
    return Services(ids, base, days)
