"""Assertions shared by the routing tests: legs feasible, Pareto set sound."""

from __future__ import annotations

from datetime import datetime

from routing.planner import Planner
from routing.timetable import service_ref_epoch


def epoch(dt: datetime) -> int:
    return int(dt.timestamp())


def value(pl: Planner, it) -> int:
    """What the engine minimises: arrival + (alight time when ending on a vehicle)."""
    last = it.legs[-1]
    if last.mode == "walk":
        return epoch(last.arrival)
    return epoch(last.arrival) + pl.config.alight_s.get(last.mode, 0)


def assert_feasible(pl: Planner, it) -> None:
    """Every transit leg: the trip runs that service date and visits the two stops in order at
    exactly those times (checked against the raw network); legs follow each other in time."""
    net = pl.network
    prev_end = None
    for leg in it.legs:
        assert epoch(leg.arrival) >= epoch(leg.departure)
        if prev_end is not None:
            assert epoch(leg.departure) >= prev_end, it
        prev_end = epoch(leg.arrival)
        if leg.mode == "walk":
            continue
        k = leg.key
        t = pl.trip_index[k.trip_id]
        col = k.service_date.toordinal() - net.service_base_date
        assert net.service_days[net.trip_service[t], col]
        a = int(net.trip_st_start[t])
        assert 0 <= k.board_pos < k.alight_pos < int(net.trip_st_start[t + 1]) - a
        assert net.stop_id[net.st_stop[a + k.board_pos]] == k.from_stop == leg.from_place.id
        assert net.stop_id[net.st_stop[a + k.alight_pos]] == k.to_stop == leg.to_place.id
        assert net.st_pickup[a + k.board_pos] != 1 and net.st_dropoff[a + k.alight_pos] != 1
        ref = service_ref_epoch(k.service_date, net.timezones[int(pl.trip_tz[t])])
        assert epoch(leg.departure) == ref + int(net.st_dep[a + k.board_pos]) == epoch(k.departure)
        assert epoch(leg.arrival) == ref + int(net.st_arr[a + k.alight_pos]) == epoch(k.arrival)
        assert pl.leg_stops(k)[0] == k.from_stop


def rides_less_one(it) -> int:
    """Transfers, -1 for a walk-only itinerary (no ride: fewer than any transit one)."""
    return it.transfers if any(leg.mode != "walk" for leg in it.legs) else -1


def assert_pareto(its) -> None:
    """No returned itinerary is dominated by another on (departure, arrival, transfers)."""
    for a in its:
        for b in its:
            if a is b:
                continue
            ta, tb = rides_less_one(a), rides_less_one(b)
            dominated = (epoch(b.departure) >= epoch(a.departure) and epoch(b.arrival) <= epoch(a.arrival)
                         and tb <= ta)
            strictly = (epoch(b.departure), -epoch(b.arrival), -tb) != \
                (epoch(a.departure), -epoch(a.arrival), -ta)
            assert not (dominated and strictly), (a, b)
