"""Validation report: every broken feed is rejected with the right codes, every real feed passes."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from pathlib import Path

import pytest

from feeds.checks import run_checks
from feeds.notices import Notice, from_report, has_errors, to_report
from feeds.reader import read_archive
from feeds.validate import PLANNER_FILES, ValidationLimits, validate

DATA = Path(__file__).resolve().parents[1] / "data"
TODAY = date(2026, 11, 25)
REAL = sorted(p.name for p in (DATA / "real").glob("*.zip"))


def report(path: Path, **kw) -> list[Notice]:  # type: ignore[no-untyped-def]
    return validate(path, read_archive(path), today=TODAY, **kw)


def errors(notices: list[Notice]) -> list[Notice]:
    return [n for n in notices if n.severity == "error"]


def codes(notices: list[Notice]) -> set[str]:
    return {n.code for n in errors(notices)}


def test_missing_stop_times() -> None:
    notices = report(DATA / "broken" / "missing-stop-times.zip")
    assert [(n.code, n.file) for n in errors(notices)] == [("missing_required_file", "stop_times.txt")]


def test_undefined_stop_names_nadar() -> None:
    (fk,) = errors(report(DATA / "broken" / "undefined-stop.zip"))
    assert fk.code == "foreign_key_violation"
    assert fk.file == "stop_times.txt" and fk.field == "stop_id"
    assert "NADAR" in fk.message


def test_bad_utf8_is_an_encoding_error_per_file() -> None:
    notices = report(DATA / "broken" / "bad-utf8.zip")
    enc = [n for n in errors(notices) if n.code == "invalid_utf8"]
    assert {n.file for n in enc} == {"agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt"}
    stops = next(n for n in enc if n.file == "stops.txt")
    assert stops.row == 2 and "0x9c" in stops.message


def test_duplicate_ids_in_every_table() -> None:
    dups = [n for n in errors(report(DATA / "broken" / "duplicate-ids.zip")) if n.code == "duplicate_key"]
    assert {n.file for n in dups} >= {"agency.txt", "stops.txt", "routes.txt", "trips.txt", "calendar.txt"}
    assert any("BULLFROG" in n.message for n in dups)


def test_verybad_has_many_kinds_of_error() -> None:
    notices = report(DATA / "broken" / "verybad.zip")
    assert codes(notices) >= {
        "invalid_row_length", "duplicate_key", "number_out_of_range", "invalid_timezone",
        "invalid_color", "invalid_date", "stop_time_with_arrival_before_previous_departure_time",
        "start_and_end_range_out_of_order", "missing_required_column", "duplicated_column",
        "stop_without_location", "point_near_origin", "wrong_parent_location_type",
    }
    enums = [n for n in notices if n.code == "unexpected_enum_value"]
    assert {n.field for n in enums} >= {"direction_id", "location_type"}
    tz = next(n for n in notices if n.code == "invalid_timezone")
    assert tz.file == "agency.txt" and "Mars/Pluto" in tz.message
    coords = [n for n in errors(notices) if n.code == "number_out_of_range" and n.file == "stops.txt"]
    assert {n.field for n in coords} >= {"stop_lat", "stop_lon"}


def test_bart_errors_out_of_range_coordinates() -> None:
    notices = report(DATA / "broken" / "bart-errors.zip")
    bad = errors(notices)
    assert {(n.code, n.file, n.field) for n in bad} == {
        ("number_out_of_range", "stops.txt", "stop_lat"),
        ("number_out_of_range", "stops.txt", "stop_lon"),
    }
    assert all(n.row == 49 and "-200" in n.message for n in bad)
    assert any(n.code == "expired_calendar" and n.severity == "warning" for n in notices)


def test_malformed_times_each_cell_named() -> None:
    notices = errors(report(DATA / "broken" / "malformed-times.zip"))
    assert {(n.code, n.row, n.field) for n in notices} == {
        ("invalid_time", 3, "arrival_time"), ("invalid_time", 4, "arrival_time"),
        ("invalid_time", 4, "departure_time"), ("invalid_time", 5, "departure_time"),
    }


def test_our_time_check_alone_finds_them_too() -> None:
    files = read_archive(DATA / "broken" / "malformed-times.zip")
    found = {(n.row, n.field) for n in run_checks(files) if n.code == "invalid_time"}
    assert found == {(3, "arrival_time"), (4, "arrival_time"), (4, "departure_time"), (5, "departure_time")}


def test_every_broken_feed_is_rejected() -> None:
    for path in sorted((DATA / "broken").glob("*.zip")):
        assert has_errors(report(path)), path.name


@pytest.mark.parametrize("name", REAL)
def test_real_feed_has_no_error(name: str) -> None:
    notices = report(DATA / "real" / name)
    assert errors(notices) == []
    assert all(n.severity in ("warning", "info") for n in notices)


def test_downgrades_say_why() -> None:
    marta = report(DATA / "real" / "marta-rail-blue-green-2021.zip")
    overlap = [n for n in marta if n.code == "overlapping_frequency"]
    assert overlap and all(n.severity == "warning" and "warning for maas" in n.message for n in overlap)
    wmata = report(DATA / "real" / "wmata-2026.zip")
    assert any(n.file == "pathways.txt" and "does not read pathways.txt" in n.message for n in wmata)


def test_same_error_in_a_planner_file_stays_an_error(tmp_path: Path) -> None:
    """The pathways downgrade must not leak: stops.txt out of range is still an error."""
    src = DATA / "real" / "highdesert-point-2017.zip"
    out = tmp_path / "f.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "stops.txt":
                rows = list(csv.reader(io.StringIO(data.decode())))
                rows[1][rows[0].index("stop_lat")] = "123.0"
                buf = io.StringIO()
                csv.writer(buf).writerows(rows)
                data = buf.getvalue().encode()
            zout.writestr(info.filename, data)
    bad = errors(report(out))
    assert [(n.code, n.file, n.field) for n in bad] == [("number_out_of_range", "stops.txt", "stop_lat")]


def test_notices_are_capped_per_code() -> None:
    notices = report(DATA / "broken" / "verybad.zip", limits=ValidationLimits(max_notices_per_code=3))
    assert sum(n.code == "invalid_row_length" for n in notices) == 3
    trunc = [n for n in notices if n.code == "notices_truncated"]
    assert any("invalid_row_length" in n.message for n in trunc)


def test_report_round_trips_as_json_dicts() -> None:
    notices = report(DATA / "broken" / "undefined-stop.zip")
    rep = to_report(notices)
    assert set(rep[0]) == {"code", "severity", "file", "row", "field", "message"}
    assert from_report(rep) == notices


def test_validation_of_a_utf16_file(tmp_path: Path) -> None:
    path = tmp_path / "u16.zip"
    with zipfile.ZipFile(DATA / "real" / "highdesert-point-2017.zip") as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "agency.txt":
                data = data.decode().encode("utf-16")
            zout.writestr(info.filename, data)
    enc = [n for n in report(path) if n.code == "invalid_utf8"]
    assert [(n.file, n.severity) for n in enc] == [("agency.txt", "error")]


def test_row_limit() -> None:
    notices = report(DATA / "real" / "highdesert-point-2017.zip", limits=ValidationLimits(max_rows=20))
    files = read_archive(DATA / "real" / "highdesert-point-2017.zip")
    over = {name for name, data in files.items() if data.count(b"\n") > 20}
    assert "stop_times.txt" in over and "agency.txt" not in over
    rows = {(n.file, n.severity) for n in notices if n.code == "too_many_rows"}
    # in a file the planner does not read (shapes.txt) it is a warning, like any error there
    assert rows == {(name, "error" if name in PLANNER_FILES else "warning") for name in over}
