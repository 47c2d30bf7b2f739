"""agency.txt: agencies, their names and time zones; the feed's table of time zones."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from feeds.errors import CompileError
from feeds.gtfs.values import col


class TzTable:
    def __init__(self) -> None:
        self._idx: dict[str, int] = {}

    def get(self, name: str) -> int:
        if name not in self._idx:
            ZoneInfo(name)  # raises for an unknown zone
            self._idx[name] = len(self._idx)
        return self._idx[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._idx)


@dataclass
class Agencies:
    ids: np.ndarray
    name: np.ndarray
    tz: np.ndarray
    default_tz: int

    def lookup(self, agency_col: np.ndarray) -> np.ndarray:
        """agency_id column (of routes, fares) -> a; blank or unknown -> the first agency."""
        idx = {a: i for i, a in enumerate(self.ids)}
        return np.array([idx.get(a, 0) for a in agency_col], dtype=np.int32)


def agencies(df: pd.DataFrame | None, feed: str, tzs: TzTable) -> Agencies:
    if df is None or len(df) == 0:
        tz = tzs.get("UTC")
        return Agencies(np.array([feed], dtype=object), np.array([feed], dtype=object),
                        np.array([tz], dtype=np.int16), tz)
    ids, names = col(df, "agency_id"), col(df, "agency_name")
    ids = np.array([i or n or f"agency{k}" for k, (i, n) in enumerate(zip(ids, names))],
                   dtype=object)
    tz_list = []
    for z in col(df, "agency_timezone"):
        try:
            tz_list.append(tzs.get(z))
        except Exception as e:
            raise CompileError(f"agency_timezone {z!r} is not an IANA time zone",
                               file="agency.txt", field="agency_timezone") from e
    tz = np.array(tz_list, dtype=np.int16)
    return Agencies(ids, names, tz, int(tz[0]))
