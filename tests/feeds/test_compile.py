"""compile_feed on tiny inline feeds: one scenario per GTFS feature, expected arrays written out."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from feeds.compile import compile_feed
from feeds.errors import CompileError

AGENCY = "agency_id,agency_name,agency_url,agency_timezone\nA,Bus Co,http://x,Asia/Shanghai\n"
STOPS = (
    "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
    "ST,Central Station,36.0,117.0,1,\n"
    "P1,Central Station platform 1,36.0,117.0,0,ST\n"
    "B,Bridge,36.01,117.0,0,\n"
    "C,Church,36.02,117.0,0,\n"
    "D,Dock,36.04,117.0,0,\n"
)
ROUTES = "route_id,agency_id,route_short_name,route_long_name,route_type\nR1,A,1,Line 1,3\n"
CAL = ("service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
       "WK,1,1,1,1,1,0,0,20240101,20240107\n")


def feed(**files: str) -> dict[str, bytes]:
    base = {"agency.txt": AGENCY, "stops.txt": STOPS, "routes.txt": ROUTES, "calendar.txt": CAL}
    base.update({f"{k}.txt": v for k, v in files.items()})
    return {k: v.encode() for k, v in base.items() if v is not None}


def trip_times(net, t: int) -> list[tuple[str, int, int]]:
    lo, hi = net.trip_st_start[t], net.trip_st_start[t + 1]
    return [(net.stop_id[s], int(a), int(d))
            for s, a, d in zip(net.st_stop[lo:hi], net.st_arr[lo:hi], net.st_dep[lo:hi])]


def h(hh: int, mm: int, ss: int = 0) -> int:
    return hh * 3600 + mm * 60 + ss


def test_one_trip_sorted_by_sequence_past_midnight_and_one_digit_hours():
    net = compile_feed(feed(
        trips="route_id,service_id,trip_id,trip_headsign\nR1,WK,T1,Dock\n",
        stop_times=("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                    "T1,24:10:00,24:10:00,D,30\n"
                    "T1,9:00:00,9:01:00,P1,1\n"
                    "T1,23:59:00,24:00:30,B,2\n"),
    ), feed="jn", version="v1")
    assert net.feeds == ("jn",) and net.feed_versions == ("v1",)
    assert list(net.trip_id) == ["jn:T1"] and list(net.trip_headsign) == ["Dock"]
    assert trip_times(net, 0) == [("jn:P1", h(9, 0), h(9, 1)), ("jn:B", h(23, 59), h(24, 0, 30)),
                                  ("jn:D", h(24, 10), h(24, 10))]
    assert net.st_seq.tolist() == [1, 2, 30]    # GTFS-Realtime names stops by stop_sequence
    assert net.timezones == ("Asia/Shanghai",)
    assert list(net.route_mode) == ["bus"]
    assert net.stop_parent[list(net.stop_id).index("jn:P1")] == list(net.stop_id).index("jn:ST")


def test_crlf_bom_quotes_extra_columns_and_unknown_files():
    files = feed(
        trips="route_id,service_id,trip_id,extra\r\nR1,WK,T1,zz\r\n",
        stop_times=("\ufefftrip_id,arrival_time,departure_time,stop_id,stop_sequence,foo\r\n"
                    'T1,08:00:00,08:00:00,"B",1,x\r\n'
                    "T1,08:10:00,08:10:00,C,2,y\r\n"),
        timetables_new="whatever,else\n1,2\n",
    )
    files["routes.txt"] = ('\ufeffroute_id,agency_id,route_short_name,route_long_name,route_type\r\n'
                           'R1,A,"",""TOURS ""NAVETTES"""",3\r\n').encode()
    net = compile_feed(files, feed="f", version="v")
    assert trip_times(net, 0) == [("f:B", h(8, 0), h(8, 0)), ("f:C", h(8, 10), h(8, 10))]
    assert net.route_short_name[0] == "" and "NAVETTES" in net.route_long_name[0]


def test_calendar_and_calendar_dates_resolve_to_days():
    net = compile_feed(feed(
        calendar_dates=("service_id,date,exception_type\n"
                        "WK,20240103,2\nWK,20240106,1\nXTRA,20240110,1\n"),
        trips="route_id,service_id,trip_id\nR1,WK,T1\nR1,XTRA,T2\n",
        stop_times=("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                    "T1,08:00:00,08:00:00,B,1\nT1,08:10:00,08:10:00,C,2\n"
                    "T2,08:00:00,08:00:00,B,1\nT2,08:10:00,08:10:00,C,2\n"),
    ), feed="f", version="v")
    assert net.service_base_date == date(2024, 1, 1).toordinal()
    days = {sid: {date.fromordinal(net.service_base_date + int(d)).isoformat()
                  for d in np.flatnonzero(row)} for sid, row in zip(net.service_id, net.service_days)}
    assert days["f:WK"] == {"2024-01-01", "2024-01-02", "2024-01-04", "2024-01-05", "2024-01-06"}
    assert days["f:XTRA"] == {"2024-01-10"}


def test_calendar_dates_alone():
    net = compile_feed(feed(
        calendar=None,
        calendar_dates="service_id,date,exception_type\nS,20240301,1\nS,20240303,1\n",
        trips="route_id,service_id,trip_id\nR1,S,T1\n",
        stop_times=("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                    "T1,08:00:00,08:00:00,B,1\nT1,08:10:00,08:10:00,C,2\n"),
    ), feed="f", version="v")
    assert net.service_base_date == date(2024, 3, 1).toordinal()
    assert net.service_days.tolist() == [[True, False, True]]


@pytest.mark.parametrize("exact", ["0", "1"])
def test_frequencies_expand_into_named_trips(exact):
    net = compile_feed(feed(
        trips="route_id,service_id,trip_id\nR1,WK,F\nR1,WK,T\n",
        stop_times=("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                    "F,06:00:00,06:00:00,B,1\nF,06:04:00,06:05:00,C,2\nF,06:15:00,06:15:00,D,3\n"
                    "T,07:00:00,07:00:00,B,1\nT,07:10:00,07:10:00,C,2\n"),
        frequencies=("trip_id,start_time,end_time,headway_secs,exact_times\n"
                     f"F,23:30:00,24:30:00,1200,{exact}\n"),
    ), feed="f", version="v")
    assert list(net.trip_id) == ["f:T", "f:F@23:30:00", "f:F@23:50:00", "f:F@24:10:00"]
    assert trip_times(net, 2) == [("f:B", h(23, 50), h(23, 50)), ("f:C", h(23, 54), h(23, 55)),
                                  ("f:D", h(24, 5), h(24, 5))]
    assert (net.trip_service == 0).all()
    assert net.st_seq.tolist() == [1, 2] + [1, 2, 3] * 3


def test_blank_times_interpolated_along_distance_and_copied_between_arr_dep():
    # B -> C is 1.11 km, C -> D 2.22 km: C gets one third of B..D's 30 minutes.
    net = compile_feed(feed(
        trips="route_id,service_id,trip_id\nR1,WK,T1\n",
        stop_times=("trip_id,arrival_time,departure_time,stop_id,stop_sequence,timepoint\n"
                    "T1,,10:00:00,B,1,1\nT1,,,C,2,0\nT1,10:30:00,,D,3,1\n"),
    ), feed="f", version="v")
    assert trip_times(net, 0) == [("f:B", h(10, 0), h(10, 0)), ("f:C", h(10, 10), h(10, 10)),
                                  ("f:D", h(10, 30), h(10, 30))]


def test_decreasing_times_are_clamped_non_decreasing():
    net = compile_feed(feed(
        trips="route_id,service_id,trip_id\nR1,WK,T1\n",
        stop_times=("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                    "T1,10:00:00,10:05:00,B,1\nT1,10:03:00,10:02:00,C,2\n"),
    ), feed="f", version="v")
    assert trip_times(net, 0) == [("f:B", h(10, 0), h(10, 5)), ("f:C", h(10, 5), h(10, 5))]


def test_stop_fields_timezones_pickup_wheelchair_and_sentinels():
    files = feed(
        agency=AGENCY + "K,Korean Air,http://k,Asia/Seoul\n",
        stops=("stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station,stop_timezone,"
               "wheelchair_boarding,zone_id\n"
               "ICN,Incheon,37.46,126.44,1,,Asia/Seoul,1,Z9\n"
               "ICN1,Incheon T1,,,0,ICN,,-999,Z9\n"
               "TAO,Jiaodong,36.36,120.09,0,,,2,\n"),
        routes="route_id,agency_id,route_type\nF1,K,1100\n",
        trips="route_id,service_id,trip_id,wheelchair_accessible\nF1,WK,T1,1\n",
        stop_times=("trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type,"
                    "drop_off_type,continuous_pickup\n"
                    "T1,09:00:00,09:00:00,TAO,1,0,1,-999\nT1,12:00:00,12:00:00,ICN1,2,1,-999,-999\n"),
    )
    net = compile_feed(files, feed="air", version="v")
    ids = list(net.stop_id)
    icn1, tao = ids.index("air:ICN1"), ids.index("air:TAO")
    assert net.timezones[net.stop_tz[icn1]] == "Asia/Seoul"       # inherited from its station
    assert net.timezones[net.stop_tz[tao]] == "Asia/Shanghai"     # the feed's first agency
    assert net.timezones[net.agency_tz[net.route_agency[0]]] == "Asia/Seoul"
    assert (net.stop_lat[icn1], net.stop_lon[icn1]) == (37.46, 126.44)
    assert list(net.stop_wheelchair) == [1, 0, 2]
    assert list(net.stop_zone) == ["air:Z9", "air:Z9", ""]
    assert list(net.st_pickup) == [0, 1] and list(net.st_dropoff) == [1, 0]
    assert list(net.trip_wheelchair) == [1] and list(net.route_mode) == ["air"]


def test_transfers_keep_stop_to_stop_rows_only():
    net = compile_feed(feed(
        trips="route_id,service_id,trip_id\nR1,WK,T1\n",
        stop_times=("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                    "T1,08:00:00,08:00:00,B,1\nT1,08:10:00,08:10:00,C,2\n"),
        transfers=("from_stop_id,to_stop_id,transfer_type,min_transfer_time,from_trip_id\n"
                   "B,C,2,300,\nC,D,,,\nB,D,1,,T1\nC,NOPE,0,,\nD,B,3,,\n"),
    ), feed="f", version="v")
    got = [(net.stop_id[a], net.stop_id[b], int(k), int(m)) for a, b, k, m in
           zip(net.transfer_from, net.transfer_to, net.transfer_type, net.transfer_min_s)]
    assert got == [("f:B", "f:C", 2, 300), ("f:C", "f:D", 0, -1), ("f:D", "f:B", 3, -1)]


def test_fares_and_translations():
    net = compile_feed(feed(
        trips="route_id,service_id,trip_id\nR1,WK,T1\n",
        stop_times=("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                    "T1,08:00:00,08:00:00,B,1\nT1,08:10:00,08:10:00,C,2\n"),
        fare_attributes=("fare_id,price,currency_type,payment_method,transfers\n"
                         "F2,2.00,CNY,0,0\n"),
        fare_rules="fare_id,route_id,origin_id,destination_id\nF2,R1,1,2\nGONE,R1,,\n",
        translations=("table_name,field_name,language,translation,record_id,field_value\n"
                      "stops,stop_name,en,Bridge (en),B,\n"
                      "stops,stop_name,zh-Latn,Qiao,,Bridge\n"
                      "routes,route_long_name,en,x,R1,\n"),
    ), feed="f", version="v")
    assert list(net.fare_id) == ["f:F2"] and list(net.fare_price) == [2.0]
    assert list(net.fare_currency) == ["CNY"] and list(net.fare_agency) == [0]
    assert list(net.fare_rule_fare) == [0] and list(net.fare_rule_route) == [0]
    assert list(net.fare_rule_origin) == ["f:1"] and list(net.fare_rule_destination) == ["f:2"]
    b = list(net.stop_id).index("f:B")
    assert net.stop_names_i18n == {b: {"en": "Bridge (en)", "zh-Latn": "Qiao"}}


def test_trips_with_less_than_two_stop_times_are_dropped():
    net = compile_feed(feed(
        trips="route_id,service_id,trip_id\nR1,WK,T1\nR1,WK,ONE\nR1,WK,NONE\n",
        stop_times=("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                    "T1,08:00:00,08:00:00,B,1\nT1,08:10:00,08:10:00,C,2\n"
                    "ONE,08:00:00,08:00:00,B,1\n"),
    ), feed="f", version="v")
    assert list(net.trip_id) == ["f:T1"] and list(net.trip_st_start) == [0, 2]


def test_no_stop_times_is_a_compile_error():
    with pytest.raises(CompileError) as e:
        compile_feed(feed(trips="route_id,service_id,trip_id\nR1,WK,T1\n", stop_times=""),
                     feed="f", version="v")
    assert e.value.code == "feed_not_compilable" and e.value.status == 422


def test_time_parser_vectorized():
    from feeds.gtfs.values import secs_array
    vals = ["08:00:00", "8:00:00", " 25:10:05 ", "", "100:00:00", "12:60:00", "ab:cd:ef",
            "12:00", "0:00:00", "-1:00:00"]
    assert secs_array(np.array(vals, dtype=object)).tolist() == [
        h(8, 0), h(8, 0), h(25, 10, 5), -1, h(100, 0), -1, -1, -1, 0, -1]
