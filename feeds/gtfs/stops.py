"""stops.txt: stops, platforms and stations, with coordinates and time zones inherited
from the parent station."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from feeds.gtfs.agencies import TzTable
from feeds.gtfs.values import col, enum


@dataclass
class Stops:
    ids: np.ndarray
    name: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    parent: np.ndarray
    location_type: np.ndarray
    tz: np.ndarray
    wheelchair: np.ndarray
    zone: np.ndarray
    index: dict[str, int]


def stops(df: pd.DataFrame | None, feed: str, tzs: TzTable, default_tz: int) -> Stops:
    ids = col(df, "stop_id")
    index = {s: i for i, s in enumerate(ids)}
    n = len(ids)
    lat = pd.to_numeric(pd.Series(col(df, "stop_lat")), errors="coerce").to_numpy(np.float64,
                                                                                      copy=True)
    lon = pd.to_numeric(pd.Series(col(df, "stop_lon")), errors="coerce").to_numpy(np.float64,
                                                                                      copy=True)
    parent = np.array([index.get(p, -1) if p else -1 for p in col(df, "parent_station")],
                      dtype=np.int32)
    own_tz = np.full(n, -1, dtype=np.int16)
    for i, z in enumerate(col(df, "stop_timezone")):
        if z:
            try:
                own_tz[i] = tzs.get(z)
            except Exception:  # an invalid zone: the validator reports it; use the agency's
                pass
    has_parent = parent >= 0
    for _ in range(2):  # platform -> station (-> rare second level): coords, tz inherit
        take = has_parent & np.isnan(lat)
        lat[take], lon[take] = lat[parent[take]], lon[parent[take]]
        take = has_parent & (own_tz < 0)
        own_tz[take] = own_tz[parent[take]]
    tz = np.where(own_tz >= 0, own_tz, default_tz).astype(np.int16)
    return Stops(ids, col(df, "stop_name"), lat, lon, parent,
                 enum(col(df, "location_type"), 4), tz, enum(col(df, "wheelchair_boarding"), 2),
                 col(df, "zone_id"), index)
