"""Journeys written out: overnight, frequencies, time zones, connections, range, arrive-by."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from builders import timetable
from checks import assert_feasible, assert_pareto
from routing.config import RoutingConfig, StationRule
from routing.errors import DateOutOfService, InvalidQuery, LegNotFeasible, UnknownStop
from routing.planner import Planner, Query

D0 = date(2026, 11, 25)
D1 = date(2026, 11, 26)


def hm(h: int, m: int = 0) -> int:
    return h * 3600 + m * 60


def line(it) -> str:
    """One itinerary as one line: trip from@dep to@arr | walk ... (local ISO times)."""
    parts = []
    for leg in it.legs:
        name = "walk" if leg.mode == "walk" else leg.trip_id
        parts.append(f"{name} {leg.from_place.id}@{leg.departure.isoformat()} "
                     f"{leg.to_place.id}@{leg.arrival.isoformat()}")
    return " | ".join(parts)


def plan(pl, *a, **kw):
    its = pl.plan(Query(*a, **kw))
    for it in its:
        assert_feasible(pl, it)
    assert_pareto(its)
    return its


def test_overnight_trip_of_the_previous_service_day():
    net = timetable("""
        N1 R1 bus 0 X@24:20 Y@24:50
        N2 R1 bus 0,1 X@06:00 Y@06:30
        T1 R2 bus 0 A@23:30 B@24:40
        T2 R3 bus 1 B@01:00 C@02:00
    """)
    pl = Planner.build(net)
    [it] = plan(pl, "t:X", "t:Y", D1, hm(0, 5))
    assert line(it) == "t:N1 t:X@2026-11-26T00:20:00+08:00 t:Y@2026-11-26T00:50:00+08:00"
    assert it.legs[0].key.service_date == D0
    [it] = plan(pl, "t:A", "t:C", D0, hm(23))
    assert line(it) == ("t:T1 t:A@2026-11-25T23:30:00+08:00 t:B@2026-11-26T00:40:00+08:00 | "
                        "t:T2 t:B@2026-11-26T01:00:00+08:00 t:C@2026-11-26T02:00:00+08:00")
    assert [leg.key.service_date for leg in it.legs] == [D0, D1]


def test_journey_longer_than_a_day():
    net = timetable("""
        Z1 R1 rail 0 A@20:00 B@44:00
        Z2 R2 rail 1 B@21:00 C@23:00
    """)
    pl = Planner.build(net, RoutingConfig(board_s={}))
    [it] = plan(pl, "t:A", "t:C", D0, hm(19))
    assert it.duration_s == 27 * 3600
    assert line(it).endswith("t:C@2026-11-26T23:00:00+08:00")


def _frequency_network():
    from feeds.compile import compile_feed

    files = {
        "agency.txt": b"agency_id,agency_name,agency_url,agency_timezone\nA,Jinan Bus,http://x,Asia/Shanghai\n",
        "stops.txt": b"stop_id,stop_name,stop_lat,stop_lon\nP,Quancheng Sq,36.66,117.02\nQ,Daming Lake,36.68,117.03\n",
        "routes.txt": b"route_id,agency_id,route_short_name,route_long_name,route_type\nK1,A,K1,Loop,3\n",
        "calendar.txt": b"service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,start_date,end_date\n"
                        b"S,1,1,1,1,1,1,1,20261120,20261130\n",
        "trips.txt": b"route_id,service_id,trip_id\nK1,S,F\n",
        "stop_times.txt": b"trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                          b"F,08:00:00,08:00:00,P,1\nF,08:12:00,08:12:00,Q,2\n",
        "frequencies.txt": b"trip_id,start_time,end_time,headway_secs,exact_times\nF,08:00:00,09:00:00,600,1\n",
    }
    return compile_feed(files, feed="jnbus", version="v1")


def test_frequency_based_trip_runs_every_ten_minutes():
    pl = Planner.build(_frequency_network())
    [it] = plan(pl, "jnbus:P", "jnbus:Q", D0, hm(8, 21))
    assert line(it) == ("jnbus:F@08:30:00 jnbus:P@2026-11-25T08:30:00+08:00 "
                        "jnbus:Q@2026-11-25T08:42:00+08:00")
    its = plan(pl, "jnbus:P", "jnbus:Q", D0, hm(8), window_s=3600, limit=20)
    assert [it.legs[0].trip_id for it in its] == [f"jnbus:F@08:{m}0:00" for m in range(6)]
    assert plan(pl, "jnbus:P", "jnbus:Q", D0, hm(8, 51)) == [] or \
        plan(pl, "jnbus:P", "jnbus:Q", D0, hm(8, 51))[0].legs[0].key.service_date != D0


def _seoul():
    # The flight's agency keeps Shanghai time; the airport bus runs on Seoul time.
    return timetable("""
        F1 KE846 air TAO@10:00 ICN@11:30
        F2 KE846 air TAO@15:00 ICN@16:30
        B1 6001 bus ICN@12:45 SEL@13:55
        B2 6001 bus ICN@13:30 SEL@14:40
    """, stop_tz={"ICN": "Asia/Seoul", "SEL": "Asia/Seoul"},
        trip_tz={"B1": "Asia/Seoul", "B2": "Asia/Seoul"})


def test_qingdao_to_seoul_across_time_zones():
    pl = Planner.build(_seoul())
    [it] = plan(pl, "t:TAO", "t:SEL", D0, hm(8))
    # international: at the airport 90 min before; 20 min to leave ICN, then the 13:30 bus
    assert line(it) == ("t:F1 t:TAO@2026-11-25T10:00:00+08:00 t:ICN@2026-11-25T12:30:00+09:00 | "
                        "t:B2 t:ICN@2026-11-25T13:30:00+09:00 t:SEL@2026-11-25T14:40:00+09:00")
    assert it.duration_s == 3 * 3600 + 40 * 60
    [late] = plan(pl, "t:TAO", "t:SEL", D0, hm(8, 45))   # 08:45 + 90 min > 10:00
    assert late.legs[0].trip_id == "t:F2"


def test_rail_gate_closing_and_min_transfer_override():
    net = timetable("""
        B1 10 bus A@08:30 S@08:50
        G1 G1 rail S@09:00 J@10:00
        G2 G3 rail S@09:20 J@10:20
    """)
    pl = Planner.build(net)
    [it] = plan(pl, "t:A", "t:J", D0, hm(8))
    assert [leg.trip_id for leg in it.legs] == ["t:B1", "t:G2"]       # 15 min at the gate
    [it] = plan(pl, "t:A", "t:J", D0, hm(8), min_transfer_s=120)
    assert [leg.trip_id for leg in it.legs] == ["t:B1", "t:G1"]
    rules = {"t:S": StationRule(board_s=300)}
    pl2 = Planner.build(net, RoutingConfig(station_rules=rules))
    [it] = plan(pl2, "t:A", "t:J", D0, hm(8))
    assert [leg.trip_id for leg in it.legs] == ["t:B1", "t:G1"]
    # an operator rule still applies when min_transfer_s is given
    pl3 = Planner.build(net, RoutingConfig(station_rules={"t:S": StationRule(board_s=1200)}))
    its = plan(pl3, "t:A", "t:J", D0, hm(8), min_transfer_s=0)
    assert all(leg.trip_id != "t:G1" for it in its for leg in it.legs)


def test_min_transfer_s_is_the_time_before_every_boarding_the_first_included():
    """Issue 14: from an airport at 09:29 with min_transfer_s=600 the 09:30 flight was
    offered (the option zeroed the board defaults). Now v seconds before every boarding."""
    net = timetable("""
        F1 A1 air TAO@09:30 PEK@11:00
        F2 A1 air TAO@10:30 PEK@12:00
        B1 10 bus X@09:00 TAO@09:20
    """)
    pl = Planner.build(net)
    [it] = plan(pl, "t:TAO", "t:PEK", D0, hm(9, 29), min_transfer_s=600, limit=1)
    assert it.legs[0].trip_id == "t:F2"
    [it] = plan(pl, "t:TAO", "t:PEK", D0, hm(9, 20), min_transfer_s=600, limit=1)
    assert it.legs[0].trip_id == "t:F1"                         # exactly 600 s before
    [it] = plan(pl, "t:TAO", "t:PEK", D0, hm(9, 20), limit=1)
    assert it.legs[0].trip_id == "t:F2"                         # default: 60 min at the airport
    # a change takes exactly v: the bus arrives 09:20, 09:30 is 600 s later
    [it] = plan(pl, "t:X", "t:PEK", D0, hm(8, 50), min_transfer_s=600, limit=1)
    assert [leg.trip_id for leg in it.legs] == ["t:B1", "t:F1"]
    [it] = plan(pl, "t:X", "t:PEK", D0, hm(8, 50), min_transfer_s=601, limit=1)
    assert [leg.trip_id for leg in it.legs] == ["t:B1", "t:F2"]
    # arrive-by plans the same rule backwards
    [it] = plan(pl, "t:X", "t:PEK", D0, hm(11, 30), arrive_by=True, min_transfer_s=600, limit=1)
    assert [leg.trip_id for leg in it.legs] == ["t:B1", "t:F1"]
    assert plan(pl, "t:X", "t:PEK", D0, hm(11, 30), arrive_by=True, min_transfer_s=601) == []


def test_bus_stop_near_the_station_connects_by_walking():
    stops = {"A": (36.60, 117.00), "B": (36.6650, 117.0000), "R": (36.6660, 117.0000),
             "J": (36.80, 117.2)}
    net = timetable("""
        B1 10 bus A@08:00 B@08:30
        R1 D1 metro R@08:35 J@09:00
        R2 D1 metro R@09:35 J@10:00
    """, stops)
    pl = Planner.build(net)
    [it] = plan(pl, "t:A", "t:J", D0, hm(7, 50))
    assert [leg.mode for leg in it.legs] == ["bus", "walk", "metro"]
    assert 100 < it.legs[1].distance_m < 160
    its = plan(pl, "t:A", "t:J", D0, hm(7, 50), max_walk_m=0)
    assert its == []
    # transfers.txt keeps a declared interchange even with max_walk_m=0; type 3 forbids it
    net2 = timetable(net_text := """
        B1 10 bus A@08:00 B@08:30
        R1 D1 metro R@08:35 J@09:00
        R2 D1 metro R@09:35 J@10:00
    """, stops, transfers=[("B", "R", 2, 600)])
    [it] = plan(Planner.build(net2), "t:A", "t:J", D0, hm(7, 50), max_walk_m=0)
    assert it.legs[-1].trip_id == "t:R2"                        # 10 min declared
    net3 = timetable(net_text, stops, transfers=[("B", "R", 3, -1)])
    assert plan(Planner.build(net3), "t:A", "t:J", D0, hm(7, 50)) == []


def test_max_walk_zero_forbids_a_walk_to_another_stop_even_at_zero_metres():
    """Issue 14: two stops at the same coordinates (a bus pole and a metro entrance mapped
    on one point) were still joined by a 0 m walk with max_walk_m=0."""
    stops = {"A": (36.60, 117.00), "B": (36.6650, 117.0), "R": (36.6650, 117.0),
             "J": (36.80, 117.2)}
    net = timetable("""
        B1 10 bus A@08:00 B@08:30
        R1 D1 metro R@08:35 J@09:00
        C1 20 bus B@08:40 J@09:10
    """, stops)
    pl = Planner.build(net)
    [it] = plan(pl, "t:A", "t:J", D0, hm(7, 50), limit=1)
    assert [leg.mode for leg in it.legs] == ["bus", "walk", "metro"]
    # no walk between B and R; the change at B itself stays
    [it] = plan(pl, "t:A", "t:J", D0, hm(7, 50), max_walk_m=0, limit=1)
    assert [leg.trip_id for leg in it.legs] == ["t:B1", "t:C1"]
    # from B: only what leaves B itself (without the option, the metro at R is walked to)
    assert {it.legs[0].trip_id for it in plan(pl, "t:B", "t:J", D0, hm(8, 30))} == {None}
    assert [[leg.trip_id for leg in it.legs]
            for it in plan(pl, "t:B", "t:J", D0, hm(8, 30), max_walk_m=0)] == [["t:C1"]]
    assert plan(pl, "t:R", "t:J", D0, hm(8, 30), max_walk_m=0)[0].legs[0].trip_id == "t:R1"


def test_pickup_and_drop_off_not_available():
    net = timetable("""
        T1 R1 bus A@08:00 !B@08:10 >C@08:20 D@08:30
    """)
    pl = Planner.build(net)
    assert plan(pl, "t:B", "t:D", D0, hm(7)) == []             # no pickup at B
    assert plan(pl, "t:A", "t:C", D0, hm(7)) == []             # no drop-off at C
    assert len(plan(pl, "t:A", "t:D", D0, hm(7))) == 1


def test_pareto_range_and_no_near_copies():
    net = timetable("""
        S1 R1 bus A@08:00 D@09:30
        F1 R2 bus A@08:10 B@08:20
        F2 R3 bus B@08:25 D@08:50
        F3 R2 bus A@07:40 B@07:50
        S2 R1 bus A@09:00 D@10:30
    """)
    pl = Planner.build(net)
    its = plan(pl, "t:A", "t:D", D0, hm(7, 30))
    # fastest with one change leaves at 08:10 (not the 07:40 near-copy); direct at 08:00
    assert [(it.departure.strftime("%H:%M"), it.arrival.strftime("%H:%M"), it.transfers)
            for it in its] == [("08:10", "08:50", 1), ("08:00", "09:30", 0)]
    rng = plan(pl, "t:A", "t:D", D0, hm(7, 30), window_s=2 * 3600, limit=20)
    assert [(it.departure.strftime("%H:%M"), it.transfers) for it in rng] == \
        [("08:00", 0), ("08:10", 1), ("09:00", 0)]
    ab = plan(pl, "t:A", "t:D", D0, hm(9), arrive_by=True)
    assert [(it.departure.strftime("%H:%M"), it.arrival.strftime("%H:%M")) for it in ab] == \
        [("08:10", "08:50")]
    ids = {it.id for it in rng}
    assert len(ids) == len(rng) and {it.id for it in plan(pl, "t:A", "t:D", D0, hm(7, 30),
                                                           window_s=7200, limit=20)} == ids


def test_wheelchair_and_modes():
    net = timetable("""
        T1 R1 bus A@08:00 B@08:30
        T2 R2 rail A@08:20 B@08:40
    """, wheelchair_stops={"A": 1, "B": 1}, wheelchair_trips={"T1": 1, "T2": 2})
    pl = Planner.build(net, RoutingConfig(board_s={}))
    assert plan(pl, "t:A", "t:B", D0, hm(7))[0].legs[0].trip_id == "t:T1"
    assert [it.legs[0].trip_id for it in plan(pl, "t:A", "t:B", D0, hm(7), wheelchair=True)] == ["t:T1"]
    assert [it.legs[0].trip_id for it in plan(pl, "t:A", "t:B", D0, hm(7), modes=frozenset({"rail"}))] \
        == ["t:T2"]
    with pytest.raises(InvalidQuery):
        pl.plan(Query("t:A", "t:B", D0, hm(7), modes=frozenset({"teleport"})))


def test_bad_queries_and_leg_checks():
    net = timetable("T1 R1 bus A@08:00 B@08:30", n_days=3)
    pl = Planner.build(net)
    with pytest.raises(UnknownStop, match="t:Z"):
        pl.plan(Query("t:Z", "t:B", D0, hm(7)))
    with pytest.raises(DateOutOfService) as e:
        pl.plan(Query("t:A", "t:B", date(2027, 1, 1), hm(7)))
    assert e.value.status == 422 and e.value.extra["valid_to"] == "2026-11-27"
    [it] = pl.plan(Query("t:A", "t:B", D0, hm(7)))
    key = it.key.legs[0]
    assert pl.leg_stops(key) == ("t:A", "t:B")
    with pytest.raises(LegNotFeasible):
        pl.leg_stops(replace(key, service_date=date(2026, 12, 25)))
    with pytest.raises(LegNotFeasible):
        pl.leg_stops(replace(key, departure=key.arrival))


def test_coordinates_walk_to_the_nearest_stops():
    stops = {"A": (36.60, 117.00), "B": (36.70, 117.00)}
    pl = Planner.build(timetable("T1 R1 bus A@08:00 B@08:30", stops))
    [it] = plan(pl, (36.6027, 117.0), (36.7, 117.0018), D0, hm(7, 50))
    assert [leg.mode for leg in it.legs] == ["walk", "bus", "walk"]
    assert it.legs[0].to_place.id == "t:A" and it.legs[0].from_place.id is None


def test_arrive_by_window_and_coordinates():
    stops = {"A": (36.60, 117.00), "B": (36.70, 117.00)}
    net = timetable("""
        T1 R1 bus A@07:00 B@07:30
        T2 R1 bus A@08:00 B@08:30
        T3 R1 bus A@09:00 B@09:30
    """, stops)
    pl = Planner.build(net)
    its = plan(pl, "t:A", "t:B", D0, hm(9, 40), arrive_by=True, window_s=2 * 3600, limit=10)
    assert sorted(it.legs[0].trip_id for it in its) == ["t:T2", "t:T3"]   # arrive 07:40..09:40
    its = plan(pl, "t:A", "t:B", D0, hm(9, 40), arrive_by=True, window_s=3 * 3600, limit=10)
    assert sorted(it.legs[0].trip_id for it in its) == ["t:T1", "t:T2", "t:T3"]
    [it] = plan(pl, (36.6027, 117.0), "t:B", D0, hm(9), arrive_by=True)
    assert [leg.mode for leg in it.legs] == ["walk", "bus"] and it.legs[1].trip_id == "t:T2"
    assert it.legs[0].arrival <= it.legs[1].departure


def _with_route_types(net, types: dict[str, int]):
    rt = net.route_type.copy()
    for r, name in enumerate(net.route_short_name):
        if name in types:
            rt[r] = types[name]
    return replace(net, route_type=rt)


def test_board_time_by_extended_route_type():
    """Issue 14: every rail route got the 15 min high-speed gate time, so a commuter train
    leaving in 4 min was lost. Board times go by extended route type: high-speed 101 keeps
    15 min, suburban 109 (and the 300 family) boards at the platform; basic 2 keeps the
    mode's rail default; a route of each kind on the same stops is its own pattern."""
    net = timetable("""
        S1 S rail X@08:05 Y@08:30
        H1 H rail X@08:10 Y@08:25
    """)

    def first(pl, t):
        its = plan(pl, "t:X", "t:Y", D0, t, limit=1)
        leg = its[0].legs[0] if its else None
        return leg.trip_id if leg and leg.departure.date() == D0 else None   # None: not today

    mixed = Planner.build(_with_route_types(net, {"S": 109, "H": 101}))
    assert first(mixed, hm(8, 4)) == "t:S1"          # suburban: at the platform
    assert first(mixed, hm(7, 55)) == "t:H1"         # high-speed: exactly 15 min before
    assert first(mixed, hm(7, 56)) == "t:S1"
    family = Planner.build(_with_route_types(net, {"S": 301, "H": 101}))
    assert first(family, hm(8, 4)) == "t:S1"
    basic = Planner.build(_with_route_types(net, {"S": 2, "H": 2}))
    assert first(basic, hm(7, 55)) == "t:H1"         # rail default 900 s
    assert first(basic, hm(7, 56)) is None
    cfg = replace(RoutingConfig(), board_route_type_s={2: 120, 101: 900})
    tuned = Planner.build(_with_route_types(net, {"S": 2, "H": 2}), config=cfg)
    assert first(tuned, hm(8, 8)) == "t:H1"          # 08:10 - 120 s
    assert first(tuned, hm(8, 9)) is None
    # long distance 102: 10 min
    ld = Planner.build(_with_route_types(net, {"S": 102, "H": 102}))
    assert first(ld, hm(8, 0)) == "t:H1"
    assert first(ld, hm(8, 1)) is None
