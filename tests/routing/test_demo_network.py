"""The Shandong demo network end to end: city bus -> high-speed rail -> international flight."""

from __future__ import annotations

from datetime import date

import pytest

from checks import assert_feasible, assert_pareto
from routing.planner import Query


@pytest.fixture(scope="module")
def planner(demo_planner):
    return demo_planner


@pytest.mark.slow
def test_jinan_station_to_seoul_by_rail_and_air(planner):
    its = planner.plan(Query("jinan-bus:JIH02", "shandong-airlines:ICN", date(2026, 11, 25), 7 * 3600))
    assert its
    assert_pareto(its)
    for it in its:
        assert_feasible(planner, it)
        transit = [leg for leg in it.legs if leg.mode != "walk"]
        assert transit[-1].mode == "air" and transit[-1].to_place.id == "shandong-airlines:ICN"
        assert it.arrival.utcoffset().total_seconds() == 9 * 3600          # Seoul time
        if len(transit) > 1:   # at the airport >= 90 min before an international flight
            gap = transit[-1].departure - transit[-2].arrival
            assert gap.total_seconds() >= 5400


@pytest.mark.slow
def test_every_mode_filter_is_honoured(planner):
    q = dict(origin="china-railway:dezhoudong", destination="qingdao-bus:QIH05",
             date=date(2026, 11, 25), time_s=7 * 3600)
    assert planner.plan(Query(**q))
    for it in planner.plan(Query(**q, modes=frozenset({"bus", "coach"}))):
        assert {leg.mode for leg in it.legs} <= {"bus", "coach", "walk"}
