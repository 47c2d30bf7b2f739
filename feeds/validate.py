"""Validating a GTFS feed: the canonical rule set (gtfs-guru) plus our own checks.

    notices = validate(path, files)

`path` is the zip already accepted by feeds.reader.read_archive, `files` its contents.
gtfs-guru (Rust, MobilityData's 191 notice codes) reads the zip itself and releases the
GIL while it works; feeds/checks.py adds what we need on top. The result is one sorted
list: errors first, each code capped at `max_notices_per_code` (a `notices_truncated`
info notice says how many more there were).

Downgrades: a few canonical errors cannot reach a passenger of ours, so they are reported
as warnings, with the reason appended to the message (see DOWNGRADES and
PLANNER_FILES). Real feeds in tests/data/real hit exactly these.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Iterable, Mapping

import gtfs_guru

from feeds.checks import CheckLimits, run_checks
from feeds.notices import SEVERITIES, Notice

__all__ = ["ValidationLimits", "validate", "PLANNER_FILES", "DOWNGRADES", "REPAIRS"]


@dataclass(frozen=True)
class ValidationLimits:
    max_rows: int = 20_000_000
    max_notices_per_code: int = 100


# The files feeds.compile reads. An error in any other file (pathways, levels, shapes,
# fares v2, attributions, vendor extensions) cannot change a journey we plan or sell, so it
# is a warning for us: the operator still sees it, the timetable still goes live.
PLANNER_FILES = frozenset({
    "agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt", "calendar.txt",
    "calendar_dates.txt", "frequencies.txt", "transfers.txt", "fare_attributes.txt",
    "fare_rules.txt", "translations.txt", "feed_info.txt",
    # GTFS-Fares v2, the leg part (ticketing prices legs from them)
    "fare_products.txt", "fare_leg_rules.txt", "stop_areas.txt", "route_networks.txt",
})

# Canonical errors we accept in files the planner does read, and why.
DOWNGRADES = {
    "overlapping_frequency": (
        "the compiler expands every frequencies.txt row into its own runs, so an overlap "
        "only adds extra departures in the overlap (MARTA's real feed has 13)"
    ),
}

# Errors the compiler repairs without changing what is ridden, and how: (code, file, field)
# -> the repair. Each stays in the report, one warning per row. A parent_station naming a
# station missing from the file is common in subsets of national feeds; the stop is boarded
# exactly as before, only not grouped under a station (feeds.gtfs.stops reads an unknown
# parent as none). Errors that change the timetable (an unknown stop in stop_times, times
# going backwards) have no repair: they still reject the feed.
REPAIRS = {
    ("foreign_key_violation", "stops.txt", "parent_station"): (
        "repaired: the reference is dropped and the stop loads without a parent station"
    ),
}

# Where a canonical notice lacks a file name, the file its code is about.
_CODE_FILE = {
    "overlapping_frequency": "frequencies.txt", "bidirectional_exit_gate": "pathways.txt",
    "block_trips_with_overlapping_stop_times": "trips.txt", "missing_bike_allowance": "trips.txt",
    "decreasing_shape_distance": "shapes.txt", "unused_shape": "shapes.txt",
    "expired_calendar": "calendar.txt", "service_has_no_active_day_of_the_week": "calendar.txt",
    "attribution_without_role": "attributions.txt",
    "missing_feed_contact_email_and_url": "feed_info.txt",
}
_CODE_FILE_PREFIX = {
    "stop_time": "stop_times.txt", "missing_trip_edge": "stop_times.txt",
    "missing_timepoint": "stop_times.txt", "pathway": "pathways.txt",
    "translation": "translations.txt", "transfer": "transfers.txt", "route_": "routes.txt",
    "location_": "stops.txt", "stop_": "stops.txt", "unused_station": "stops.txt",
    "wrong_parent_location_type": "stops.txt", "same_name_and_description_for_stop": "stops.txt",
}
_ROW_KEYS = ("csvRowNumber", "newCsvRowNumber", "currCsvRowNumber", "csvRowNumber2",
             "stopTimeCsvRowNumber", "tripCsvRowNumber", "csvRowNumberA")
_FIELD_KEYS = ("fieldName", "childFieldName", "specifiedField", "fieldName1")
_FILE_KEYS = ("filename", "childFilename")


def validate(
    path: str | os.PathLike[str],
    files: Mapping[str, bytes],
    limits: ValidationLimits = ValidationLimits(),
    *,
    today: date | None = None,
) -> list[Notice]:
    """Every problem of the feed; `today` is the date expiry warnings are judged against."""
    # gtfs-guru releases the GIL: our checks run beside it instead of after it.
    with ThreadPoolExecutor(max_workers=1) as pool:
        canonical = pool.submit(_canonical, path, today)
        ours = run_checks(files, CheckLimits(max_rows=limits.max_rows))
        notices = canonical.result() + ours
    notices = [_downgrade(n) for n in _unique(notices)]
    notices.sort(key=lambda n: (SEVERITIES.index(n.severity), n.code, n.file or "", n.row or 0))
    return _cap(notices, limits.max_notices_per_code)


def _canonical(path: str | os.PathLike[str], today: date | None) -> list[Notice]:
    try:
        result = gtfs_guru.validate(os.fspath(path), date=today.isoformat() if today else None)
    except MemoryError:   # the feed is too large for the analysis process, not invalid
        raise
    except Exception as exc:  # noqa: BLE001 — a validator crash must reject, not pass
        return [Notice("runtime_exception_in_validator_error", "error", None, None, None,
                       f"the validator failed on this feed: {exc}")]
    return [_from_guru(n) for n in result.notices]


def _from_guru(n: Any) -> Notice:
    ctx: dict[str, Any] = n.context() or {}
    file = n.file or _first(ctx, _FILE_KEYS) or _file_of(n.code)
    row = n.row or _first(ctx, _ROW_KEYS)
    field = n.field or _first(ctx, _FIELD_KEYS)
    used = set(_FILE_KEYS) | set(_ROW_KEYS) | set(_FIELD_KEYS)
    details = ", ".join(f"{k}={ctx[k]!r}" for k in sorted(ctx) if k not in used and ctx[k] is not None)
    message = n.message + (f" ({details})" if details else "")
    severity = str(n.severity).lower()
    return Notice(n.code, severity if severity in SEVERITIES else "error",  # type: ignore[arg-type]
                  file, int(row) if row is not None else None, field, message)


def _first(ctx: dict[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if ctx.get(key) not in (None, ""):
            return ctx[key]
    return None


def _file_of(code: str) -> str | None:
    if code in _CODE_FILE:
        return _CODE_FILE[code]
    for prefix, file in _CODE_FILE_PREFIX.items():
        if code.startswith(prefix):
            return file
    return None


def _unique(notices: list[Notice]) -> list[Notice]:
    """One notice per (code, file, row, field): our checks and the canonical ones overlap."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for n in notices:
        key = (n.code, n.file, n.row, n.field)
        if key not in seen:
            seen.add(key)
            out.append(n)
    return out


def _downgrade(n: Notice) -> Notice:
    if n.severity != "error":
        return n
    if (n.code, n.file, n.field) in REPAIRS:
        reason = REPAIRS[(n.code, n.file, n.field)]
    elif n.code in DOWNGRADES:
        reason = DOWNGRADES[n.code]
    elif n.file is not None and n.file not in PLANNER_FILES and n.file.endswith(".txt"):
        reason = f"maas does not read {n.file}, so this cannot affect planned journeys"
    else:
        return n
    return replace(n, severity="warning", message=f"{n.message} [warning for maas: {reason}]")


def _cap(notices: list[Notice], per_code: int) -> list[Notice]:
    counts: Counter[str] = Counter()
    out = []
    for n in notices:
        counts[n.code] += 1
        if counts[n.code] <= per_code:
            out.append(n)
    for code, count in sorted(counts.items()):
        if count > per_code:
            out.append(Notice("notices_truncated", "info", None, None, None,
                              f"{count - per_code} more {code} notices not listed ({count} in all)"))
    return out
