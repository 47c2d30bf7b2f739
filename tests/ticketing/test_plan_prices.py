"""/v1/plan's one-adult prices (`ticketing.offers.adult_pricer`) are what a booking charges.

The planned pricer prices a ride not seen before without numpy or Decimal (`np_sum` adds a
leg's segments in np.sum's order; `_round_price` rounds in floats away from half-way
points): every quote must be the one `price_itinerary` gives the same legs checked against
the network, with km summed by numpy and prices rounded in Decimal, on real feeds (distance
tariffs, GTFS v1 zone fares, several operators with a linked discount, v2 leg rules).
"""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import numpy as np
import pytest

from routing.config import RoutingConfig
from routing.planner import Planner, Query
from test_fares_v2 import CFG as V2_CFG
from test_fares_v2 import _network as v2_network
from test_search_fares import TARIFFS, _load
from ticketing import fares, offers
from ticketing.fares import FareConfig, Tariff, np_sum
from ticketing.offers import adult_pricer, price_itinerary


def _decimal_round(price: float, step: int) -> int:
    return fares._round(Decimal(str(price)) * 100, step)


def test_round_price_is_the_decimal_rounding():
    rng = random.Random(5)
    prices = [0.0, -0.0, 2.75, 2.25, 0.005, 0.015, 1.005, 12.345, 1e9 + 0.5, 3.0e14, -2.75,
              -1.3, 27.499999999999996, 27.500000000000004]
    for _ in range(20_000):
        prices.append(rng.uniform(-5, 60))
        prices.append(round(rng.uniform(0, 60), rng.choice([1, 2, 3])))  # half-way texts
        prices.append(rng.randint(0, 100_000) / 200 + rng.choice([0, 1e-13, -1e-13, 4e-12]))
        prices.append(rng.random() * 10 ** rng.randint(-4, 13))
    for p in prices:
        for step in (1, 3, 5, 7, 10, 100):
            assert fares._round_price(p, step) == _decimal_round(p, step), (p, step)


def test_np_sum_adds_like_numpy():
    rng = np.random.default_rng(2)
    for n in range(1, 300):
        seg = rng.random(n + 17) * rng.choice([1e-3, 1.0, 37.0])
        xs = seg.tolist()
        for begin in range(0, 17, 4):
            end = begin + n
            assert np_sum(xs, begin, end) == float(seg[begin:end].sum()), (n, begin)


def _plans(pl: Planner, n: int, seed: int) -> list:
    net = pl.network
    hops = np.diff(net.trip_st_start) - 1
    per_day = (net.service_days[net.trip_service].astype(np.int64) * hops[:, None]).sum(axis=0)
    day = date.fromordinal(net.service_base_date + int(per_day.argmax()))
    served = np.unique(net.st_stop)
    rng = np.random.default_rng(seed)
    its = []
    for _ in range(n):
        a, b = rng.choice(served, 2, replace=False)
        secs = int(rng.integers(6 * 3600, 20 * 3600))
        its += pl.plan(Query(str(net.stop_id[a]), str(net.stop_id[b]), day, secs, limit=8))
    return its


def _forget() -> None:
    offers._PLANNED.clear()
    offers._QUOTES.clear()
    fares._QUOTES.clear()
    for memo in (fares._UNITS, fares._TARIFF, fares._GTFS, fares._SEGMENTS):
        memo.clear()


CASES = {
    "nyc tariffs": (("nyc-subway-2018",),
                    FareConfig(mode_tariffs={"metro": Tariff(0.137, 1.5, 0.3)}, round_minor=1)),
    "nyc tariffs 10 fen": (("nyc-subway-2018",),
                           FareConfig(mode_tariffs={"metro": Tariff(0.45, 2.0, 1.0)})),
    "v1 zones, three operators": (
        ("highdesert-point-2017", "marta-rail-blue-green-2021", "cobblinc-route30-2021"),
        FareConfig(mode_tariffs=TARIFFS, operator_tariffs={"marta:MARTA": Tariff(0.3, 2.5)},
                   linked_discount=0.05, round_minor=1)),
    "wmata": (("wmata-2026",), FareConfig(mode_tariffs=TARIFFS, linked_discount=0.1)),
}


@pytest.mark.parametrize("case", sorted(CASES) + ["v2 leg rules"])
def test_planned_prices_are_the_checked_prices_on_real_legs(case, monkeypatch):
    if case == "v2 leg rules":
        net, cfg = v2_network(), V2_CFG
    else:
        names, cfg = CASES[case]
        net = _load(*names)
    pl = Planner.build(net, RoutingConfig())
    its = _plans(pl, 120, 4)
    legs = [[leg.key for leg in it.legs if leg.key is not None] for it in its]
    legs = [keys for keys in legs if keys]
    assert len(legs) >= 20 and sum(map(len, legs)) >= 30
    legs += [legs[i] + legs[-1 - i] for i in range(len(legs) // 2)]    # rides of two plans
    _forget()
    prices = adult_pricer(net, cfg, pl.fare_classes())
    first = [prices(keys) for keys in legs]         # every ride seen the first time
    again = [prices(keys) for keys in legs]         # from the pricer's memos
    # the reference: each leg checked against the network and priced from its own trip,
    # km by numpy, prices rounded in Decimal
    _forget()
    monkeypatch.setattr(fares, "_round_price", _decimal_round)
    want = [price_itinerary(net, cfg, keys) for keys in legs]
    assert first == want
    assert again == want
    if case == "v1 zones, three operators":
        assert any(q.linked for q in want)
    _forget()


def test_price_units_is_the_decimal_arithmetic():
    """Integer units at factor 1 (adults, no linked discount) are their own amounts; every
    other amount is the unit times the category's factor and the linked keep, rounded."""
    rng = random.Random(3)
    for linked_discount in (0.0, 0.05, 0.1, 0.333):
        cfg = FareConfig(concessions={"child": 0.5, "senior": 0.3, "free": 1.0, "none": 0.0},
                         linked_discount=linked_discount)
        for _ in range(300):
            units = tuple((rng.randint(0, 5000), rng.choice(["a", "b"]))
                          for _ in range(rng.randint(1, 4)))
            cats = tuple(rng.choice(["adult", "child", "senior", "free", "none"])
                         for _ in range(rng.randint(1, 3)))
            linked = len(units) >= 2 and rng.random() < 0.5
            keep = Decimal(1) - Decimal(str(linked_discount)) if linked else Decimal(1)
            want = [sum(fares._round(Decimal(u) * (Decimal(1) - Decimal(str(
                cfg.concessions.get(c, 0.0)))) * keep) for c in cats) for u, _ in units]
            got = fares._price_units(cfg, units, linked, cats)
            assert [p.amount_minor for p in got.legs] == want
            assert got.total_minor == sum(want) and got.linked == linked
