"""Feed stats: counts as they stand in the files, date range, modes."""

from __future__ import annotations

from pathlib import Path

from feeds.reader import read_archive
from feeds.stats import feed_stats

DATA = Path(__file__).resolve().parents[1] / "data"


def test_counts_match_the_sources_table() -> None:
    # figures from tests/data/real/SOURCES.md
    s = feed_stats(read_archive(DATA / "real" / "sncf-ter-2019.zip"))
    assert (s["agencies"], s["stops"], s["routes"], s["trips"], s["stop_times"]) == (3, 9043, 649, 20385, 179128)
    assert (s["start_date"], s["end_date"]) == ("2019-09-01", "2019-11-30")
    assert s["modes"]["rail"] == 335 and s["modes"]["tram"] == 1


def test_calendar_dates_only_feed_has_a_range() -> None:
    s = feed_stats(read_archive(DATA / "real" / "wmata-2026.zip"))
    assert (s["start_date"], s["end_date"]) == ("2026-04-29", "2026-09-06")
    assert s["modes"] == {"metro": 6, "bus": 1}
    assert s["stop_times"] == 352668


def test_ferries_and_trams() -> None:
    s = feed_stats(read_archive(DATA / "real" / "seattle-area-2017.zip"))
    assert s["modes"] == {"bus": 9, "tram": 3, "ferry": 2}
    assert s["agencies"] == 3 and len(s["agency_names"]) == 3


def test_rows_counted_even_in_a_broken_feed() -> None:
    s = feed_stats(read_archive(DATA / "broken" / "missing-stop-times.zip"))
    assert s["stop_times"] == 0 and s["stops"] == 9 and s["trips"] == 11


def test_quoted_and_unquoted_counting_agree() -> None:
    files = dict(read_archive(DATA / "real" / "highdesert-point-2017.zip"))
    plain = feed_stats(files)["stops"]
    files["stops.txt"] = files["stops.txt"].replace(b"\n", b"\n\n")  # blank lines are not rows
    assert feed_stats(files)["stops"] == plain
    first_line, rest = files["stops.txt"].split(b"\n", 1)
    files["stops.txt"] = first_line + b'\n"quoted"' + rest[rest.index(b","):]
    assert feed_stats(files)["stops"] == plain
