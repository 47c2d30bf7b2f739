"""merge / to_bytes / from_bytes / empty on small compiled feeds."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from feeds.compile import compile_feed
from routing.network import Network, empty, from_bytes, merge, to_bytes

CAL = "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"


def small(feed: str, tz: str, start: str, end: str, zone: str = "") -> Network:
    files = {
        "agency.txt": f"agency_id,agency_name,agency_url,agency_timezone\nA,{feed} co,http://x,{tz}\n",
        "stops.txt": ("stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station,zone_id\n"
                      f"S,Station,36,117,1,,\nP,Platform,36,117,0,S,{zone}\nQ,Quay,36.1,117,0,,\n"),
        "routes.txt": "route_id,agency_id,route_type\nR,A,3\n",
        "calendar.txt": CAL + f"D,1,1,1,1,1,1,1,{start},{end}\n",
        "trips.txt": "route_id,service_id,trip_id\nR,D,T\n",
        "stop_times.txt": ("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                           "T,08:00:00,08:00:00,P,1\nT,08:30:00,08:30:00,Q,2\n"),
        "transfers.txt": "from_stop_id,to_stop_id,transfer_type,min_transfer_time\nP,Q,2,60\n",
        "fare_attributes.txt": "fare_id,price,currency_type,payment_method,transfers\nF,1,CNY,0,0\n",
        "fare_rules.txt": "fare_id,route_id\nF,R\n",
        "translations.txt": ("table_name,field_name,language,translation,record_id\n"
                             "stops,stop_name,en,The Quay,Q\n"),
    }
    return compile_feed({k: v.encode() for k, v in files.items()}, feed=feed, version=f"{feed}1")


def test_merge_offsets_every_index_and_rebases_service_days():
    a = small("a", "Asia/Shanghai", "20240105", "20240106", zone="1")
    b = small("b", "Asia/Seoul", "20240101", "20240102", zone="1")
    m = merge([a, b])
    assert m.feeds == ("a", "b") and m.feed_versions == ("a1", "b1")
    assert m.timezones == ("Asia/Shanghai", "Asia/Seoul")
    assert list(m.stop_id) == ["a:S", "a:P", "a:Q", "b:S", "b:P", "b:Q"]
    assert list(m.stop_parent) == [-1, 0, -1, -1, 3, -1]
    assert list(m.stop_tz) == [0, 0, 0, 1, 1, 1] and list(m.agency_tz) == [0, 1]
    assert list(m.agency_feed) == [0, 1] and list(m.route_agency) == [0, 1]
    assert list(m.trip_route) == [0, 1] and list(m.trip_service) == [0, 1]
    assert list(m.trip_st_start) == [0, 2, 4] and list(m.st_stop) == [1, 2, 4, 5]
    assert list(m.transfer_from) == [1, 4] and list(m.transfer_to) == [2, 5]
    assert list(m.fare_agency) == [0, 1] and list(m.fare_rule_fare) == [0, 1]
    assert list(m.fare_rule_route) == [0, 1]
    assert list(m.stop_zone) == ["", "a:1", "", "", "b:1", ""]   # same zone id, two feeds
    assert m.stop_names_i18n == {2: {"en": "The Quay"}, 5: {"en": "The Quay"}}
    assert m.service_base_date == date(2024, 1, 1).toordinal()
    assert m.service_days.astype(int).tolist() == [[0, 0, 0, 0, 1, 1], [1, 1, 0, 0, 0, 0]]


def test_merge_of_nothing_or_one():
    assert merge([]).n_stops == 0
    a = small("a", "Asia/Shanghai", "20240105", "20240106")
    assert merge([a]) is a
    assert merge([empty(), a, empty()]) is a


def test_empty_network_is_well_formed_and_round_trips():
    e = empty()
    assert e.n_stops == e.n_trips == e.n_routes == 0
    assert list(e.trip_st_start) == [0] and e.service_days.shape == (0, 0)
    back = from_bytes(to_bytes(e))
    assert back.n_stops == 0 and back.st_arr.dtype == np.int32 and back.stop_id.dtype == object


def test_bytes_round_trip_keeps_every_field():
    m = merge([small("a", "Asia/Shanghai", "20240105", "20240106", zone="1"),
               small("b", "Asia/Seoul", "20240101", "20240102")])
    back = from_bytes(to_bytes(m))
    for name in Network.__dataclass_fields__:
        x, y = getattr(m, name), getattr(back, name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, name
            assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
        else:
            assert x == y, name


def test_from_bytes_refuses_pickles_and_foreign_blobs():
    import io
    buf = io.BytesIO()
    np.savez(buf, x=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError):
        from_bytes(buf.getvalue())
    good = to_bytes(empty())
    with np.load(io.BytesIO(good)) as z:
        members = {k: z[k] for k in z.files}
    buf = io.BytesIO()
    members["stop_lat"] = np.array([object()], dtype=object)
    np.savez(buf, **members)
    with pytest.raises(ValueError):   # an object member would need unpickling: refused
        from_bytes(buf.getvalue())


def test_a_network_stored_before_stop_sequences_loads_and_merges():
    """st_seq came later: a stored network without it loads with it empty, and a merge with
    a network that has it fills the old rows with -1 (unknown: realtime matches by stop id)."""
    import dataclasses
    import io
    import json

    new = small("a", "Asia/Shanghai", "20240105", "20240106")
    assert new.st_seq.tolist() == [1, 2]
    with np.load(io.BytesIO(to_bytes(small("b", "Asia/Seoul", "20240101", "20240102")))) as z:
        members = {k: z[k] for k in z.files if k != "st_seq"}
    buf = io.BytesIO()
    np.savez(buf, **members)
    old = from_bytes(buf.getvalue())
    assert len(old.st_seq) == 0 and old.n_trips == 1
    m = merge([new, old])
    assert m.st_seq.tolist() == [1, 2, -1, -1] and m.st_seq.dtype == np.int32
    assert json.loads(members["__meta__"].tobytes())["format"] == "maas-network/1"
    assert dataclasses.replace(old).st_seq.dtype == np.int32
