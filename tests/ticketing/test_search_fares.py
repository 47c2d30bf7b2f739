"""The fare table of a criteria=price search: every entry is what the booking charges.

`search_fares` computes the table in bulk (segment distances once per fare class, the
tariff chosen once per class); these tests compare EVERY entry with the booking's own
`leg_unit_price` / `price_units` on real feeds (GTFS v1 fares with zones, distance tariffs,
several operators) and on the v2 leg-rule feed.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from feeds.compile import compile_feed
from routing.config import RoutingConfig
from routing.network import merge
from routing.planner import Planner
from test_fares_v2 import CFG as V2_CFG
from test_fares_v2 import _network as v2_network
from ticketing.errors import NoFare
from ticketing.fares import FareConfig, LegSpan, Tariff, leg_unit_price, price_units, search_fares

REAL = Path(__file__).parent.parent / "data" / "real"
TARIFFS = {"bus": Tariff(0.1, 2.0, 1.0), "coach": Tariff(0.3, 5.0), "rail": Tariff(0.45, 10.0),
           "metro": Tariff(0.2, 2.0, 1.0), "tram": Tariff(0.1, 2.0, 1.0), "ferry": Tariff(0.5, 10.0)}


def _load(*names: str):
    nets = []
    for n in names:
        with zipfile.ZipFile(REAL / f"{n}.zip") as z:
            nets.append(compile_feed({m: z.read(m) for m in z.namelist()}, feed=n.split("-")[0],
                                     version="1"))
    return nets[0] if len(nets) == 1 else merge(nets)


def _check_every_entry(net, cfg: FareConfig, max_classes: int | None = None) -> int:
    pl = Planner.build(net, RoutingConfig())
    cls = pl.fare_classes()
    table = search_fares(net, cfg, cls)
    assert cls.trip_class.shape == (net.n_trips,)
    checked = 0
    classes = range(cls.n_classes)
    if max_classes is not None and cls.n_classes > max_classes:
        classes = np.random.default_rng(1).choice(cls.n_classes, max_classes, replace=False)
    for c in classes:
        c = int(c)
        t, n, base, row = (int(cls.rep_trip[c]), int(cls.length[c]), int(cls.start[c]),
                           int(cls.row[c]))
        for b in range(n):
            for a in range(n):
                full, disc = int(table.full[base + b * n + a]), int(table.disc[base + b * n + a])
                if a <= b or not cls.board_ok[row + b] or not cls.alight_ok[row + a]:
                    assert full == disc == -1
                    continue
                try:
                    unit, source = leg_unit_price(net, cfg, LegSpan(t, b, a))
                except NoFare:
                    assert full == disc == -1
                    continue
                alone = price_units(cfg, [(unit, source)], ["x"]).total_minor
                linked = price_units(cfg, [(unit, source), (0, "z")], ["x", "y"]).legs[0]
                assert (full, disc) == (alone, linked.amount_minor), (c, b, a)
                checked += 1
        # every trip of the class has the same stops and route as its representative
        for t2 in np.flatnonzero(cls.trip_class == c)[:5].tolist():
            assert int(net.trip_route[t2]) == int(net.trip_route[t])
            s1, s2 = int(net.trip_st_start[t]), int(net.trip_st_start[t2])
            assert (net.st_stop[s1:s1 + n] == net.st_stop[s2:s2 + n]).all()
    return checked


def test_v1_zone_fares_and_tariffs_of_two_feeds():
    net = _load("highdesert-point-2017", "marta-rail-blue-green-2021", "cobblinc-route30-2021")
    assert len(net.fare_id)         # highdesert's fare_attributes + fare_rules (zones)
    cfg = FareConfig(mode_tariffs=TARIFFS, operator_tariffs={"marta:MARTA": Tariff(0.3, 2.5)},
                     linked_discount=0.05)
    assert _check_every_entry(net, cfg) > 1000


def test_v2_leg_rules():
    cfg = FareConfig(mode_tariffs=V2_CFG.mode_tariffs, linked_discount=0.3)
    assert _check_every_entry(v2_network(), cfg) == 3


def test_no_tariff_for_a_mode_leaves_its_rides_unpriced():
    net = _load("seattle-area-2017")
    cfg = FareConfig(mode_tariffs={"bus": Tariff(0.1, 2.0)}, linked_discount=0.05)
    table = search_fares(net, cfg, Planner.build(net, RoutingConfig()).fare_classes())
    assert (table.full == -1).any() and (table.full >= 0).any()
    _check_every_entry(net, cfg)


@pytest.mark.slow
def test_sncf_sampled_classes():
    cfg = FareConfig(mode_tariffs=TARIFFS, linked_discount=0.05, round_minor=1)
    assert _check_every_entry(_load("sncf-ter-2019"), cfg, max_classes=300) > 1000
