"""The numpy stop_times reader gives exactly what the pandas path gives, or declines."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from feeds import compile_csv as fc
from feeds.compile import _read
from feeds.gtfs.stop_times import ST_COLS, ST_DTYPES, st_columns_fast, st_columns_pandas

REAL = Path(__file__).resolve().parents[1] / "data" / "real"


def both(data: bytes, trips: list[str], stops: list[str]):
    ti = {t: i for i, t in enumerate(trips)}
    si = {s: i for i, s in enumerate(stops)}
    fast = st_columns_fast(data, ti, si)
    slow = st_columns_pandas(_read({"stop_times.txt": data}, "stop_times.txt", dtypes=ST_DTYPES,
                                   usecols=ST_COLS), ti, si)
    return fast, slow


def assert_same(fast, slow):
    assert fast is not None
    for k in slow:
        assert np.array_equal(fast[k], slow[k]), k


@pytest.mark.parametrize("name", ["nyc-subway-2018", "wmata-2026", "cobblinc-route30-2021",
                                  "seattle-area-2017", "marta-rail-blue-green-2021",
                                  "highdesert-point-2017"])
def test_real_feeds_read_the_same_both_ways(name):
    with zipfile.ZipFile(REAL / f"{name}.zip") as z:
        files = {i.filename: z.read(i) for i in z.infolist()}
    trips = [t.strip() for t in _read(files, "trips.txt")["trip_id"]]
    stops = [s.strip() for s in _read(files, "stops.txt")["stop_id"]]
    assert_same(*both(files["stop_times.txt"], trips, stops))


def test_sncf_has_quotes_and_is_declined():
    with zipfile.ZipFile(REAL / "sncf-ter-2019.zip") as z:
        assert fc.split_fields(z.read("stop_times.txt")) is None


@pytest.mark.parametrize("text", [
    "trip_id,arrival_time,departure_time,stop_id,stop_sequence\nT1,8:00:00,08:00:00,A,1\n"
    "T1,,,B,2\nT1,25:10:59,125:10:59,C,3\nT2,00:00:00,00:00:00,A,10\nT2,00:01:00,00:01:00,LONG_STOP_ID_OVER_EIGHT_BYTES,11",
    "\ufefftrip_id,stop_id,departure_time,arrival_time,stop_sequence,pickup_type,drop_off_type,x\r\n"
    "T1,A,08:00:00,08:00:00,1,1,-999,\r\n\r\nT1,B,08:10:00,08:09:00,2,3,0,y\r\nT9,B,08:00:00,08:00:00,1,,7,z\r\n",
    "trip_id,stop_id,stop_sequence\nT1,A,1\nT1,B,2\nNOPE,A,1\n",
])
def test_edge_shapes_read_the_same_both_ways(text):
    assert_same(*both(text.encode(), ["T1", "T2"], ["A", "B", "C",
                                                      "LONG_STOP_ID_OVER_EIGHT_BYTES"]))


@pytest.mark.parametrize("text", [
    'trip_id,stop_id,arrival_time\nT1,"A",08:00:00\n',           # quotes
    "trip_id,stop_id,arrival_time\nT1,A,08:00:00,extra\n",          # ragged
    "trip_id,stop_id,arrival_time\nT1,A\nT1,A,08:00:00,x\n",        # ragged, right total
    "trip_id,stop_id,arrival_time\nT1, A,08:00:00\n",               # space around an id
    "trip_id,stop_id,arrival_time\nT1,A,8:0:00\n",                  # malformed time
    "trip_id,stop_id,arrival_time\nT1,A,08:00\n",
    "trip_id,stop_id,stop_sequence\nT1,A,x1\n",                     # malformed sequence
    "trip_id,arrival_time\nT1,08:00:00\n",                          # no stop_id column
    "trip_id,stop_id,arrival_time\nT1,A\xff,08:00:00\n",               # not UTF-8
])
def test_declines_what_it_does_not_handle(text):
    data = text.encode("utf-8", "surrogateescape") if "\xff" not in text else \
        text.replace("\xff", "").encode().replace(b"A,", b"A\xff,")
    assert st_columns_fast(data, {"T1": 0}, {"A": 0}) is None


def test_factorize_distinguishes_ids_sharing_8_byte_prefixes():
    ids = ["ABCDEFGH1", "ABCDEFGH12", "ABCDEFGH", "ABCDEFGH1", "", "ABCDEFGH12"]
    body = "x,id\n" + "".join(f"1,{i}\n" for i in ids)
    fields = fc.split_fields(body.encode())
    codes, uniq = fc.factorize(fields.buf, *fields.field(1))
    assert [uniq[c] for c in codes] == ids
