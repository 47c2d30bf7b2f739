"""Our own reference check: every id a table names exists in its parent table."""

from __future__ import annotations

from pathlib import Path

from feeds.checks import check_references, CheckLimits
from feeds.reader import read_archive
from feeds.validate import validate

DATA = Path(__file__).resolve().parents[1] / "data"


def _fk(path: Path, severity: str = "error") -> set[tuple[str, str, str]]:
    files = read_archive(path)
    return {
        (n.file, n.field, n.message.split("'")[1])
        for n in validate(path, files)
        if n.code == "foreign_key_violation" and n.severity == severity
    }


def test_verybad_dangling_references_are_all_reported() -> None:
    path = DATA / "broken" / "verybad.zip"
    assert {
        ("routes.txt", "agency_id", "FOO"),
        ("trips.txt", "route_id", "BOGUS"),
        ("trips.txt", "service_id", "BOGUS"),
        ("stop_times.txt", "trip_id", "CITYX"),
    } <= _fk(path)
    # a missing parent station is repaired (the reference dropped), so it is a warning
    assert ("stops.txt", "parent_station", "BOGUS") in _fk(path, "warning") - _fk(path)


def test_a_reference_the_canonical_validator_reports_is_not_doubled() -> None:
    path = DATA / "broken" / "undefined-stop.zip"
    fks = [n for n in validate(path, read_archive(path)) if n.code == "foreign_key_violation"]
    assert len(fks) == 1 and "NADAR" in fks[0].message


def test_service_ids_may_come_from_calendar_dates_alone() -> None:
    files = {
        "trips.txt": b"route_id,service_id,trip_id\nR,WKND,T1\nR,NOPE,T2\n",
        "calendar_dates.txt": b"service_id,date,exception_type\nWKND,20260101,1\n",
    }
    notices = list(check_references(files, CheckLimits()))
    assert [(n.row, n.field) for n in notices] == [(3, "service_id")]


def test_real_feeds_have_no_dangling_references() -> None:
    for path in sorted((DATA / "real").glob("*.zip")):
        assert not list(check_references(read_archive(path), CheckLimits())), path.name


def test_upload_stats_report_the_modes_the_planner_uses() -> None:
    from feeds.ingest import IngestLimits, analyse

    path = DATA / "real" / "highdesert-point-2017.zip"
    result = analyse(path, feed="point", version="v1", limits=IngestLimits(), today=None)
    assert result.compiled is not None
    assert result.stats["modes"] == {"coach": 1}  # route_type 3, but an intercity coach line
