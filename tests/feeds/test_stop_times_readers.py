"""The two stop_times readers, differentially: the numpy reader (feeds.compile_csv, the
plain shape only) and the pandas path (anything) must give the same columns, on generated
files with any column order, empty fields, times past 24:00, BOM, CRLF and blank lines; and
quoting a field must change nothing."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from feeds.compile import _read
from feeds.gtfs.stop_times import ST_COLS, ST_DTYPES, st_columns_fast, st_columns_pandas

from tests.strategies import PURE, ST_STOPS, ST_TRIPS, stop_times_csvs

TRIPS = {t: i for i, t in enumerate(ST_TRIPS)}
STOPS = {s: i for i, s in enumerate(ST_STOPS)}


def fast(data: bytes):
    return st_columns_fast(data, TRIPS, STOPS)


def slow(data: bytes):
    df = _read({"stop_times.txt": data}, "stop_times.txt", dtypes=ST_DTYPES, usecols=ST_COLS)
    return st_columns_pandas(df, TRIPS, STOPS)


def same(a, b) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def expected(csv, column: str, parse):
    """A column as the GTFS reference says it reads, from the generated fields themselves."""
    if column not in csv.columns:
        return None
    j = csv.columns.index(column)
    return [parse(row[j]) for row in csv.rows]


@PURE
@given(stop_times_csvs())
def test_both_readers_give_the_same_columns(csv):
    data = csv.text()
    a, b = fast(data), slow(data)
    assert a is not None, "the numpy reader declined the plain shape it is for"
    assert b is not None and same(a, b)
    # and both read what was written (not merely the same thing)
    assert list(a["trip_id"]) == expected(csv, "trip_id", lambda t: TRIPS.get(t, -1))
    assert list(a["stop_id"]) == expected(csv, "stop_id", lambda s: STOPS.get(s, -1))

    def secs(t: str) -> int:
        if not t:
            return -1
        h, m, s = (int(x) for x in t.split(":"))
        return h * 3600 + m * 60 + s

    for column in ("arrival_time", "departure_time"):
        want = expected(csv, column, secs)
        assert list(a[column]) == (want if want is not None else [-1] * len(csv.rows))


@PURE
@given(stop_times_csvs(), st.data())
def test_quoting_fields_changes_nothing(csv, data):
    cells = [(i, j) for i in range(len(csv.rows) + 1) for j in range(len(csv.columns))]
    quoted = frozenset(data.draw(st.lists(st.sampled_from(cells), min_size=1), label="quoted"))
    text = csv.text(quoted)
    assert fast(text) is None          # the numpy reader declines quotes, never misreads them
    assert same(slow(text), fast(csv.text()))
