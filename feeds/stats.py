"""What a feed holds, in numbers an operator can check against their own export."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any, Mapping

from feeds.modes import mode_of
from feeds.tables import count_rows, read_rows

__all__ = ["feed_stats"]


def feed_stats(files: Mapping[str, bytes]) -> dict[str, Any]:
    """Row counts as they stand in the files, the service date range and the modes.

    Keys: agencies, stops, routes, trips, stop_times (records, header excluded), start_date
    and end_date (ISO dates of the first and last day any service runs, from calendar.txt
    and the added dates of calendar_dates.txt; None without either), modes (mode -> number
    of routes, by feeds.modes), agency_names, files (names in the zip), bytes (unzipped).
    """
    start, end = _service_range(files)
    return {
        "agencies": count_rows(files, "agency.txt"),
        "stops": count_rows(files, "stops.txt"),
        "routes": count_rows(files, "routes.txt"),
        "trips": count_rows(files, "trips.txt"),
        "stop_times": count_rows(files, "stop_times.txt"),
        "start_date": start.isoformat() if start else None,
        "end_date": end.isoformat() if end else None,
        "modes": _modes(files),
        "agency_names": [r.get("agency_name", "") for r in _records(files, "agency.txt")],
        "files": sorted(files),
        "bytes": sum(len(b) for b in files.values()),
    }


def _records(files: Mapping[str, bytes], name: str) -> list[dict[str, str]]:
    """Records of a small file as dicts (not for stop_times)."""
    table = read_rows(files, name)
    if table is None:
        return []
    header, rows = table
    return [dict(zip(header, (c.strip() for c in row))) for row in rows if any(row)]


def _date(text: str | None) -> date | None:
    if not text or len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _service_range(files: Mapping[str, bytes]) -> tuple[date | None, date | None]:
    firsts: list[date] = []
    lasts: list[date] = []
    for r in _records(files, "calendar.txt"):
        s, e = _date(r.get("start_date")), _date(r.get("end_date"))
        if s and e and s <= e and any(r.get(d) == "1" for d in _WEEKDAYS):
            firsts.append(s)
            lasts.append(e)
    for r in _records(files, "calendar_dates.txt"):
        d = _date(r.get("date"))
        if d and r.get("exception_type") == "1":
            firsts.append(d)
            lasts.append(d)
    return (min(firsts), max(lasts)) if firsts else (None, None)


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _modes(files: Mapping[str, bytes]) -> dict[str, int]:
    agency_names = {r.get("agency_id", ""): r.get("agency_name", "") for r in _records(files, "agency.txt")}
    counts: Counter[str] = Counter()
    for r in _records(files, "routes.txt"):
        try:
            route_type = int(r.get("route_type", ""))
        except ValueError:
            continue
        names = (r.get("route_short_name", ""), r.get("route_long_name", ""),
                 agency_names.get(r.get("agency_id", ""), ""))
        counts[mode_of(route_type, names=names)] += 1
    return dict(sorted(counts.items()))
