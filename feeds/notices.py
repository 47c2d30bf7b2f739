"""The validation report: a list of notices, each one problem in one place of the feed.

Codes are MobilityData gtfs-validator's notice codes wherever one exists, so operators can
look them up in its rules documentation; the few of our own (OUR_CODES) are listed there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterable, Literal

__all__ = ["Notice", "Severity", "SEVERITIES", "OUR_CODES", "has_errors", "to_report", "from_report", "summary"]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")

# Codes maas adds on top of the canonical set, with what each means.
OUR_CODES = {
    "invalid_utf8": "a file is not valid UTF-8 (e.g. saved as Latin-1/CP1252 or UTF-16)",
    "notices_truncated": "more notices of one code than the report keeps; the count says how many",
    "compile_failed": "the feed passed validation but could not be compiled into a timetable",
}


@dataclass(frozen=True)
class Notice:
    code: str  # canonical snake_case code, e.g. "foreign_key_violation"
    severity: Severity
    file: str | None  # "stop_times.txt", or None when the notice is about the whole feed
    row: int | None  # CSV row number as the validator counts them (header = 1)
    field: str | None  # column name
    message: str  # plain words, with the offending value when there is one


def has_errors(notices: Iterable[Notice]) -> bool:
    return any(n.severity == "error" for n in notices)


def to_report(notices: Iterable[Notice]) -> list[dict[str, Any]]:
    return [asdict(n) for n in notices]


def from_report(report: Iterable[dict[str, Any]]) -> list[Notice]:
    return [Notice(**{k: r.get(k) for k in Notice.__dataclass_fields__}) for r in report]


def summary(notices: Iterable[Notice]) -> dict[str, int]:
    """Notices per severity, e.g. {"error": 0, "warning": 12, "info": 3}."""
    counts = dict.fromkeys(SEVERITIES, 0)
    for n in notices:
        counts[n.severity] += 1
    return counts
