"""Scalars and columns as GTFS writes them: integers, times past 24:00, dates, enums,
namespaced ids, text columns of a parsed table, great-circle distances."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

EARTH_RADIUS_M = 6_371_008.8


def to_int(s: str, default: int) -> int:
    try:
        return int(s)
    except ValueError:
        try:
            return int(float(s))
        except ValueError:
            return default


def secs(s: str) -> int:
    """'H:MM:SS' / 'HH:MM:SS' (hours may pass 24) -> seconds; -1 when blank or malformed."""
    parts = s.strip().split(":")
    if len(parts) != 3:
        return -1
    try:
        h, m, x = (int(p) for p in parts)
    except ValueError:
        return -1
    return h * 3600 + m * 60 + x if h >= 0 and 0 <= m < 60 and 0 <= x < 61 else -1


def secs_array(values: np.ndarray) -> np.ndarray:
    """Vectorized `secs` over an array of strings (the distinct values of a time column)."""
    u = np.strings.strip(np.asarray(values, dtype=str))
    n = len(u)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    width = max(u.dtype.itemsize // 4, 1)
    d = u.view(np.uint32).reshape(n, width).astype(np.int64) - 48     # digit values; ':' = 10
    length = np.strings.str_len(u).astype(np.int64)
    rows = np.arange(n)

    def at(k: np.ndarray) -> np.ndarray:
        return d[rows, np.clip(k, 0, width - 1)]

    ok = (length >= 7) & (at(length - 3) == 10) & (at(length - 6) == 10)
    sec = at(length - 2) * 10 + at(length - 1)
    mins = at(length - 5) * 10 + at(length - 4)
    ok &= (at(length - 2) >= 0) & (at(length - 2) <= 6) & (at(length - 1) >= 0) & \
        (at(length - 1) <= 9) & (at(length - 5) >= 0) & (at(length - 5) <= 5) & \
        (at(length - 4) >= 0) & (at(length - 4) <= 9)
    hours = np.zeros(n, dtype=np.int64)
    for k in range(width):
        digit = d[:, k]
        inside = k < length - 6
        ok &= ~inside | ((digit >= 0) & (digit <= 9))
        hours = np.where(inside, hours * 10 + digit, hours)
    return np.where(ok & (sec < 61), hours * 3600 + mins * 60 + sec, -1)


def hhmmss(t: int) -> str:
    return f"{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}"


def ordinal(yyyymmdd: str) -> int:
    s = yyyymmdd.strip()
    try:
        return date(int(s[:4]), int(s[4:6]), int(s[6:8])).toordinal()
    except ValueError:
        return -1


def enum(col: np.ndarray, max_value: int) -> np.ndarray:
    """Text enum column -> int8 in [0, max_value]; blank or out of range (-999) -> 0."""
    if len(col) == 0:
        return np.zeros(0, dtype=np.int8)
    uniq, inv = np.unique(col.astype(str), return_inverse=True)
    lut = np.array([v if 0 <= (v := to_int(u, 0)) <= max_value else 0 for u in uniq],
                   dtype=np.int8)
    return lut[inv]


def ns_nonempty(feed: str, col: np.ndarray) -> np.ndarray:
    out = np.empty(len(col), dtype=object)
    out[:] = [f"{feed}:{z}" if z else "" for z in col]
    return out


def col(df: pd.DataFrame | None, name: str) -> np.ndarray:
    if df is None:
        return np.array([], dtype=object)
    if name not in df.columns:
        return np.full(len(df), "", dtype=object)
    return df[name].str.strip().to_numpy(dtype=object)


def haversine_m(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
