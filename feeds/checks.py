"""Checks maas runs on top of the canonical validator.

Each check takes the feed's files and returns notices. They cover what the canonical rule
set lets through or reports too softly for a timetable we are about to run: bytes that are
not UTF-8 (gtfs-guru decodes them leniently and only flags the resulting characters),
time zones that are not IANA names, every time string of stop_times/frequencies, stops at
(0, 0), the size of the tables, and references between tables (gtfs-guru stops checking
references in a table whose rows it cannot parse, e.g. verybad's short rows, so a dangling
route, service or trip there would otherwise go unreported).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from feeds.notices import Notice
from feeds.tables import lines_of, read_rows, text_of

__all__ = ["CheckLimits", "run_checks"]

_TIME = re.compile(r"\d{1,3}:[0-5]\d:[0-5]\d")


@dataclass(frozen=True)
class CheckLimits:
    max_rows: int = 20_000_000  # records in any one file (too_many_rows beyond)
    max_notices_per_check: int = 1000  # a check stops looking after this many


def run_checks(files: Mapping[str, bytes], limits: CheckLimits = CheckLimits()) -> list[Notice]:
    notices: list[Notice] = []
    for check in CHECKS:
        for i, notice in enumerate(check(files, limits)):
            if i >= limits.max_notices_per_check:
                break
            notices.append(notice)
    return notices


def check_encoding(files: Mapping[str, bytes], limits: CheckLimits) -> Iterator[Notice]:
    for name, data in sorted(files.items()):
        if not name.endswith(".txt"):
            continue
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            yield Notice("invalid_utf8", "error", name, 1, None,
                         f"{name} is UTF-16; GTFS files must be UTF-8")
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            bad = data[exc.start:exc.start + 1].hex()
            yield Notice("invalid_utf8", "error", name, line, None,
                         f"{name} is not valid UTF-8: byte 0x{bad} on line {line} "
                         "(saved as Latin-1/CP1252?); save the file as UTF-8")


def check_timezones(files: Mapping[str, bytes], limits: CheckLimits) -> Iterator[Notice]:
    for name, column in (("agency.txt", "agency_timezone"), ("stops.txt", "stop_timezone")):
        for row, value in _column(files, name, column):
            if value and not _is_zone(value):
                yield Notice("invalid_timezone", "error", name, row, column,
                             f"{value!r} is not an IANA time zone (e.g. Asia/Shanghai)")


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def check_times(files: Mapping[str, bytes], limits: CheckLimits) -> Iterator[Notice]:
    for name, columns in (
        ("stop_times.txt", ("arrival_time", "departure_time")),
        ("frequencies.txt", ("start_time", "end_time")),
    ):
        # A feed repeats few distinct times: test each distinct one, then (only if one is
        # bad) read again to find its rows.
        distinct = _distinct(files, name, columns)
        bad = {v for v in distinct if v.strip() and not _TIME.fullmatch(v.strip())}
        if not bad:
            continue
        for i, values in enumerate(_values(files, name, columns)):
            for column, value in zip(columns, values):
                if value in bad:
                    yield Notice("invalid_time", "error", name, i + 2, column,
                                 f"{value.strip()!r} is not a time H:MM:SS (hours may pass 24, "
                                 "minutes and seconds 00-59)")


def check_origin(files: Mapping[str, bytes], limits: CheckLimits) -> Iterator[Notice]:
    table = read_rows(files, "stops.txt")
    if table is None:
        return
    header, rows = table
    if "stop_lat" not in header or "stop_lon" not in header:
        return
    ilat, ilon = header.index("stop_lat"), header.index("stop_lon")
    for row, cells in enumerate(rows, start=2):
        try:
            lat, lon = float(cells[ilat]), float(cells[ilon])
        except (IndexError, ValueError):
            continue
        if abs(lat) <= 1.0 and abs(lon) <= 1.0:
            yield Notice("point_near_origin", "error", "stops.txt", row, "stop_lat",
                         f"stop at ({lat}, {lon}) is near (0, 0): coordinates missing or swapped?")


def check_sizes(files: Mapping[str, bytes], limits: CheckLimits) -> Iterator[Notice]:
    for name, data in sorted(files.items()):
        lines = data.count(b"\n")
        if lines > limits.max_rows:
            yield Notice("too_many_rows", "error", name, None, None,
                         f"{name} has about {lines} rows; at most {limits.max_rows} are accepted")


def _column(files: Mapping[str, bytes], name: str, column: str) -> Iterator[tuple[int, str]]:
    """(row number, stripped value) of one column; nothing when file or column is absent."""
    for i, (value,) in enumerate(_values(files, name, (column,))):
        yield i + 2, value.strip()


def _distinct(files: Mapping[str, bytes], name: str, columns: tuple[str, ...]) -> set[str]:
    """The distinct raw values of `columns` (header excluded)."""
    data = files.get(name)
    table = read_rows(files, name)
    if data is None or table is None:
        return set()
    header, _ = table
    if b'"' in data:
        return {v for values in _values(files, name, columns) for v in values}
    # No quoting: one regex per column pulls the i-th cell of every line in C.
    start = data.find(b"\n")  # each match starts at the "\n" before a data line
    out: set[str] = set()
    for column in columns:
        if column in header and start >= 0:
            cell = re.compile(rb"\n(?:[^,\n]*,){%d}([^,\r\n]*)" % header.index(column))
            out.update(v.decode("utf-8", errors="replace") for v in set(cell.findall(data, start)))
    return out


def _values(files: Mapping[str, bytes], name: str, columns: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    """The raw values of `columns`, one tuple per record in order ("" where a record is
    short or a column absent); nothing when the file or all columns are absent.
    Record k (0-based) is CSV row k + 2."""
    table = read_rows(files, name)
    if table is None:
        return
    header, rows = table
    index = [header.index(c) if c in header else -1 for c in columns]
    if max(index) < 0:
        return
    data = files[name]
    if b'"' not in data:  # no quoting: plain splitting is exact and much faster than csv
        lines = lines_of(text_of(data))
        next(lines, None)  # header
        rows = (line.rstrip("\r\n").split(",") for line in lines)
    width = max(index) + 1
    for cells in rows:
        if len(cells) >= width and min(index) >= 0:
            yield tuple(cells[i] for i in index)
        else:
            yield tuple(cells[i] if 0 <= i < len(cells) else "" for i in index)


# (child file, child column) -> the (parent file, parent column)s whose ids it may name
REFERENCES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("routes.txt", "agency_id", (("agency.txt", "agency_id"),)),
    ("trips.txt", "route_id", (("routes.txt", "route_id"),)),
    ("trips.txt", "service_id", (("calendar.txt", "service_id"), ("calendar_dates.txt", "service_id"))),
    ("stop_times.txt", "trip_id", (("trips.txt", "trip_id"),)),
    ("stop_times.txt", "stop_id", (("stops.txt", "stop_id"),)),
    ("stops.txt", "parent_station", (("stops.txt", "stop_id"),)),
    ("frequencies.txt", "trip_id", (("trips.txt", "trip_id"),)),
    ("transfers.txt", "from_stop_id", (("stops.txt", "stop_id"),)),
    ("transfers.txt", "to_stop_id", (("stops.txt", "stop_id"),)),
    ("fare_rules.txt", "fare_id", (("fare_attributes.txt", "fare_id"),)),
    ("fare_rules.txt", "route_id", (("routes.txt", "route_id"),)),
)


def check_references(files: Mapping[str, bytes], limits: CheckLimits) -> Iterator[Notice]:
    """foreign_key_violation for every id that names no row of its parent table."""
    for child, column, parents in REFERENCES:
        present = [(f, c) for f, c in parents if f in files]
        if child not in files or not present:
            continue  # a missing parent file is missing_required_file, reported elsewhere
        known = {v.strip() for f, c in present for v in _distinct(files, f, (c,))}
        used = {v.strip() for v in _distinct(files, child, (column,))}
        dangling = {v for v in used if v and v not in known}
        if not dangling:
            continue
        target = " or ".join(f"{f}.{c}" for f, c in present)
        for row, value in _column(files, child, column):
            if value in dangling:
                yield Notice("foreign_key_violation", "error", child, row, column,
                             f"{column} {value!r} is not in {target}")


Check = Callable[[Mapping[str, bytes], CheckLimits], Iterator[Notice]]
CHECKS: tuple[Check, ...] = (
    check_sizes, check_encoding, check_timezones, check_times, check_origin, check_references,
)
