"""Realtime overlay, written out: a delay propagates, an absolute time wins, a delayed trip
overtakes another, a cancelled leg is replaced, a skipped stop is passed through; update
checks, leg status, arrive-by and ranges on realtime; the static planner stays as it was."""

from __future__ import annotations

from datetime import date

from builders import timetable
from checks import assert_pareto
from realtime_oracle import bake

from routing.errors import LegNotFeasible
from routing.planner import Planner, Query
from routing.timetable import service_ref_epoch
from routing.updates import StopTimeEvent, StopTimeUpdate, TripUpdate

D0 = date(2026, 11, 25)
TZ = "Asia/Shanghai"


def hm(h: int, m: int = 0) -> int:
    return h * 3600 + m * 60


def at(h: int, m: int = 0, d: date = D0) -> int:
    """Epoch of local time h:m on d (a service day without DST: reference + seconds)."""
    return service_ref_epoch(d, TZ) + hm(h, m)


def line(it) -> str:
    """trip from@HH:MM to@HH:MM (sched HH:MM-HH:MM departure delay) | ..."""
    parts = []
    for leg in it.legs:
        if leg.mode == "walk":
            parts.append(f"walk {leg.to_place.id}")
            continue
        s = f"{leg.trip_id} {leg.from_place.id}@{leg.departure:%H:%M} {leg.to_place.id}@{leg.arrival:%H:%M}"
        if leg.realtime:
            s += f" (sched {leg.scheduled_departure:%H:%M}-{leg.scheduled_arrival:%H:%M} {leg.delay_s:+d})"
        parts.append(s)
    return " | ".join(parts)


def plan(pl: Planner, *a, **kw) -> list:
    its = pl.plan(Query(*a, **kw))
    assert_pareto(its)
    for it in its:
        for leg in it.legs:
            if leg.key is not None:
                st = pl.leg_status(leg.key)
                assert not st.cancelled
                assert (int(st.departure.timestamp()), int(st.arrival.timestamp())) == \
                    (int(leg.departure.timestamp()), int(leg.arrival.timestamp()))
    return its


def delay(trip: str, *stops: tuple, d: date = D0, canceled: bool = False) -> TripUpdate:
    """stops: (stop, arrival delay or None, departure delay or None[, skipped])."""
    ups = []
    for s, a, dp, *sk in stops:
        ups.append(StopTimeUpdate(stop_id=f"t:{s}",
                                  arrival=None if a is None else StopTimeEvent(delay=a),
                                  departure=None if dp is None else StopTimeEvent(delay=dp),
                                  skipped=bool(sk and sk[0])))
    return TripUpdate(f"t:{trip}", d, canceled=canceled, stop_updates=tuple(ups))


NET = """
    T1 R1 bus A@08:00 B@08:10 C@08:20 D@08:30
    T2 R1 bus A@08:30 B@08:40 C@08:50 D@09:00
"""


def test_a_delay_propagates_down_the_trip():
    pl = Planner.build(timetable(NET))
    rt = pl.with_realtime([delay("T1", ("B", 300, None))])
    [it] = plan(rt, "t:A", "t:D", D0, hm(7, 50), limit=1)
    assert line(it) == "t:T1 t:A@08:00 t:D@08:35 (sched 08:00-08:30 +0)"
    [it] = plan(rt, "t:B", "t:C", D0, hm(8, 12), limit=1)     # boarded at its real time
    assert line(it) == "t:T1 t:B@08:15 t:C@08:25 (sched 08:10-08:20 +300)"
    st = rt.leg_status(it.legs[0].key)
    assert (st.delay_s, st.arrival_delay_s, st.cancelled, st.realtime) == (300, 300, False, True)
    # the static planner is untouched
    [it] = plan(pl, "t:B", "t:C", D0, hm(8, 12), limit=1)
    assert line(it) == "t:T2 t:B@08:40 t:C@08:50"
    assert not it.legs[0].realtime and it.legs[0].scheduled_departure == it.legs[0].departure


def test_an_absolute_time_wins_and_a_later_update_resets_the_delay():
    pl = Planner.build(timetable(NET))
    up = TripUpdate("t:T1", D0, stop_updates=(
        StopTimeUpdate(stop_id="t:B", arrival=StopTimeEvent(delay=60, time=at(8, 20))),
        StopTimeUpdate(stop_id="t:D", arrival=StopTimeEvent(delay=0))))
    rt = pl.with_realtime([up])
    [it] = plan(rt, "t:A", "t:D", D0, hm(7, 50), limit=1)
    assert line(it) == "t:T1 t:A@08:00 t:D@08:30 (sched 08:00-08:30 +0)"
    [it] = plan(rt, "t:A", "t:C", D0, hm(7, 50), limit=1)
    assert line(it) == "t:T1 t:A@08:00 t:C@08:30 (sched 08:00-08:20 +0)"


def test_a_delayed_trip_that_overtakes_others_is_boarded_at_its_real_time():
    net = timetable("""
        T1 R1 bus A@08:00 B@08:30
        T2 R1 bus A@08:10 B@08:40
        T3 R1 bus A@08:20 B@08:50
    """)
    pl = Planner.build(net)
    rt = pl.with_realtime([delay("T1", ("A", 1500, 1500))])    # now 08:25 -> 08:55
    assert [line(i) for i in plan(rt, "t:A", "t:B", D0, hm(8, 21), limit=1)] == \
        ["t:T1 t:A@08:25 t:B@08:55 (sched 08:00-08:30 +1500)"]
    assert [line(i) for i in plan(rt, "t:A", "t:B", D0, hm(8, 5), limit=1)] == \
        ["t:T2 t:A@08:10 t:B@08:40"]
    # range over the morning: each of the three, at its real time
    its = plan(rt, "t:A", "t:B", D0, hm(7, 50), window_s=3600, limit=10)
    assert [line(i) for i in its] == ["t:T2 t:A@08:10 t:B@08:40", "t:T3 t:A@08:20 t:B@08:50",
                                      "t:T1 t:A@08:25 t:B@08:55 (sched 08:00-08:30 +1500)"]
    # arrive-by 08:56: the delayed T1 is the latest departure that makes it
    [it] = plan(rt, "t:A", "t:B", D0, hm(8, 56), arrive_by=True, limit=1)
    assert line(it) == "t:T1 t:A@08:25 t:B@08:55 (sched 08:00-08:30 +1500)"
    _same_as_baked(pl, rt, [delay("T1", ("A", 1500, 1500))], "t:A", "t:B", hm(8, 21))


def test_a_cancelled_leg_makes_the_planner_take_another_trip():
    pl = Planner.build(timetable(NET))
    [booked] = plan(pl, "t:A", "t:D", D0, hm(7, 50), limit=1)
    assert line(booked) == "t:T1 t:A@08:00 t:D@08:30"
    rt = pl.with_realtime([delay("T1", canceled=True)])
    assert rt.leg_status(booked.legs[0].key).cancelled
    [it] = plan(rt, "t:A", "t:D", D0, hm(7, 50), limit=1)
    assert line(it) == "t:T2 t:A@08:30 t:D@09:00"
    # the next day's T1 runs
    [it] = plan(rt, "t:A", "t:D", date(2026, 11, 26), hm(7, 50), limit=1)
    assert line(it) == "t:T1 t:A@08:00 t:D@08:30"


def test_a_skipped_stop_is_neither_boarded_nor_alighted_but_passed_through():
    pl = Planner.build(timetable(NET))
    rt = pl.with_realtime([delay("T1", ("B", None, None, True), ("C", 120, None))])
    [it] = plan(rt, "t:A", "t:B", D0, hm(7, 50), limit=1)
    assert line(it) == "t:T2 t:A@08:30 t:B@08:40"
    [it] = plan(rt, "t:B", "t:D", D0, hm(8, 0), limit=1)
    assert line(it) == "t:T2 t:B@08:40 t:D@09:00"
    [it] = plan(rt, "t:A", "t:D", D0, hm(7, 50), limit=1)       # rides through B
    assert line(it) == "t:T1 t:A@08:00 t:D@08:32 (sched 08:00-08:30 +0)"
    [static] = plan(pl, "t:A", "t:B", D0, hm(7, 50), limit=1)
    st = rt.leg_status(static.legs[0].key)
    assert st.cancelled and st.realtime
    # arrive-by (the reversed overlay): no boarding at B by T1 any more; A -> C on T1's real time
    assert plan(rt, "t:B", "t:D", D0, hm(8, 33), arrive_by=True) == []
    assert [line(i) for i in plan(pl, "t:B", "t:D", D0, hm(8, 33), arrive_by=True)] == \
        ["t:T1 t:B@08:10 t:D@08:30"]
    [it] = plan(rt, "t:A", "t:C", D0, hm(8, 23), arrive_by=True, limit=1)
    assert line(it) == "t:T1 t:A@08:00 t:C@08:22 (sched 08:00-08:20 +0)"


def test_check_update_reasons_and_stop_sequences():
    net = timetable(NET, stop_sequence=True)
    pl = Planner.build(net)
    assert pl.check_update(TripUpdate("t:NOPE", D0)) == "unknown_trip"
    assert pl.check_update(TripUpdate("t:T1", date(2027, 1, 1))) == "not_running_that_day"
    assert pl.check_update(TripUpdate("t:T1", D0, stop_updates=(
        StopTimeUpdate(stop_id="t:X"),))) == "unknown_stop"
    assert pl.check_update(TripUpdate("t:T1", D0, stop_updates=(
        StopTimeUpdate(stop_sequence=25),))) == "unknown_stop"
    # stop_sequence 30 is C (the third stop); a stop id given with it must agree
    assert pl.check_update(TripUpdate("t:T1", D0, stop_updates=(
        StopTimeUpdate(stop_sequence=30, stop_id="t:B"),))) == "unknown_stop"
    up = TripUpdate("t:T1", D0, stop_updates=(
        StopTimeUpdate(stop_sequence=30, stop_id="t:C", departure=StopTimeEvent(delay=240)),))
    assert pl.check_update(up) is None
    rt = pl.with_realtime([up, TripUpdate("t:NOPE", D0)])       # what does not apply is left out
    [it] = plan(rt, "t:A", "t:D", D0, hm(7, 50), limit=1)
    assert line(it) == "t:T1 t:A@08:00 t:D@08:34 (sched 08:00-08:30 +0)"
    [it] = plan(rt, "t:A", "t:C", D0, hm(7, 50), limit=1)
    assert line(it) == "t:T1 t:A@08:00 t:C@08:24 (sched 08:00-08:20 +0)"


def test_full_state_replaces_the_previous_one_and_a_leg_outside_the_network_is_refused():
    pl = Planner.build(timetable(NET))
    rt = pl.with_realtime([delay("T1", canceled=True)])
    again = rt.with_realtime([delay("T2", ("A", 60, 60))])      # T1 no longer cancelled
    [it] = plan(again, "t:A", "t:D", D0, hm(7, 50), limit=1)
    assert line(it) == "t:T1 t:A@08:00 t:D@08:30"
    [booked] = plan(pl, "t:A", "t:D", D0, hm(7, 50), limit=1)
    key = booked.legs[0].key
    st = again.leg_status(key)
    assert (st.realtime, st.cancelled, st.delay_s) == (False, False, 0)
    from dataclasses import replace
    try:
        again.leg_status(replace(key, board_pos=7))
    except LegNotFeasible:
        pass
    else:
        raise AssertionError("a leg outside the trip must be refused")


def _same_as_baked(pl: Planner, rt: Planner, updates, a: str, b: str, secs: int) -> None:
    """The overlay answers like a planner built from scratch on the baked timetable."""
    baked = Planner.build(bake(pl.network, updates), pl.config)
    got = [(int(i.departure.timestamp()), int(i.arrival.timestamp()), i.transfers)
           for i in rt.plan(Query(a, b, D0, secs, limit=10))]
    want = [(int(i.departure.timestamp()), int(i.arrival.timestamp()), i.transfers)
            for i in baked.plan(Query(a, b, D0, secs, limit=10))]
    assert got == want
