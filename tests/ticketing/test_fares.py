"""Pricing: GTFS fares first, distance tariffs else; concessions; the linked discount."""

from __future__ import annotations

import dataclasses

import pytest

from ticketing.errors import NoFare, UnknownCategory
from ticketing.fares import (
    FareConfig, LegSpan, Tariff, TripFares, format_minor, leg_distance_km, leg_unit_price,
    price_journey, price_units, trip_pricer,
)
from ticketing.sample import sample_network

NET = sample_network()
CFG = FareConfig(
    mode_tariffs={"bus": Tariff(per_km=0.1, minimum=2.0, base=1.0),
                  "rail": Tariff(per_km=0.45, minimum=10.0)},
    concessions={"child": 0.5, "senior": 0.3},
    linked_discount=0.05,
)


def trip(trip_id: str) -> int:
    return list(NET.trip_id).index(trip_id)


BUS, RAIL = trip("bus:K5-0600"), trip("rail:G-0800")


def test_gtfs_fare_for_its_zone_pair():
    # rail:F-JN-QD applies to route G from zone JN (Jinan West) to QD (Qingdao).
    assert leg_unit_price(NET, CFG, LegSpan(RAIL, 0, 3)) == (11850, "fare:rail:F-JN-QD")


def test_other_pairs_fall_back_to_the_distance_tariff():
    km = leg_distance_km(NET, LegSpan(RAIL, 0, 1))          # Jinan West -> Zibo
    assert 100 < km < 110
    unit, source = leg_unit_price(NET, CFG, LegSpan(RAIL, 0, 1))
    assert source == "tariff:mode:rail"
    assert unit == round(0.45 * km * 10) * 10               # rounded to whole jiao


def test_minimum_applies_to_short_rides():
    assert leg_unit_price(NET, CFG, LegSpan(BUS, 0, 1)) == (200, "tariff:mode:bus")


def test_operator_tariff_beats_mode_tariff():
    cfg = FareConfig(mode_tariffs=CFG.mode_tariffs,
                     operator_tariffs={"bus:JNBUS": Tariff(per_km=0, minimum=1.0)})
    assert leg_unit_price(NET, cfg, LegSpan(BUS, 0, 4)) == (100, "tariff:operator:bus:JNBUS")


def test_fare_in_a_foreign_currency_is_converted_or_skipped():
    usd = FareConfig(currency="USD", mode_tariffs=CFG.mode_tariffs, fx={"CNY": 0.14})
    assert leg_unit_price(NET, usd, LegSpan(RAIL, 0, 3)) == (1659, "fare:rail:F-JN-QD")
    no_rate = FareConfig(currency="USD", mode_tariffs=CFG.mode_tariffs)
    assert leg_unit_price(NET, no_rate, LegSpan(RAIL, 0, 3))[1] == "tariff:mode:rail"


def test_no_tariff_for_the_mode_is_an_error():
    with pytest.raises(NoFare):
        leg_unit_price(NET, FareConfig(), LegSpan(BUS, 0, 4))


def test_concessions_and_linked_discount():
    one = price_journey(NET, CFG, [LegSpan(RAIL, 0, 3)], ["adult", "child"])
    assert not one.linked
    assert one.total_minor == 11850 + 5925
    two = price_journey(NET, CFG, [LegSpan(BUS, 0, 4), LegSpan(RAIL, 0, 3)], ["adult", "senior"])
    assert two.linked
    bus_unit = two.legs[0].unit_minor
    assert two.legs[1].amount_minor == round(11850 * 0.95) + round(11850 * 0.7 * 0.95)
    assert two.legs[0].amount_minor == round(bus_unit * 0.95) + round(bus_unit * 0.7 * 0.95)
    assert two.total_minor == sum(p.amount_minor for p in two.legs)


def test_two_legs_of_one_operator_are_not_linked():
    q = price_journey(NET, CFG, [LegSpan(RAIL, 0, 1), LegSpan(trip("rail:G-1000"), 1, 3)])
    assert not q.linked


def test_repricing_the_rest_drops_the_linked_discount():
    full = price_units(CFG, [(500, "a"), (11850, "b")], ["bus:JNBUS", "rail:CR"])
    rest = price_units(CFG, [(11850, "b")], ["rail:CR"])
    assert full.legs[1].amount_minor == 11258 and rest.total_minor == 11850


def test_unknown_category_names_the_field():
    with pytest.raises(UnknownCategory) as err:
        price_units(CFG, [(100, "a")], ["x"], ["adult", "student"])
    assert err.value.extra["field"] == "passengers[1].category"


def test_format_minor():
    assert [format_minor(v) for v in (0, 5, 1250, -301)] == ["0.00", "0.05", "12.50", "-3.01"]


def test_a_trips_fares_price_every_ride_as_leg_unit_price():
    """/v1/plan prices a ride not seen before on a network with GTFS fares v1 from its trip's
    `TripFares` (zone texts and the fare memo looked up once per fare class): the same
    (price, source) as `leg_unit_price` for every ride of every trip, zone fares and tariff
    fall-backs alike, memo cold and hot, and the same NoFare where no tariff applies."""
    twin = dataclasses.replace(CFG)     # equal, not the same: the memos keep them apart
    sources = set()
    for _ in range(2):
        for t in range(NET.n_trips):
            pricer = trip_pricer(NET, CFG, t)
            assert isinstance(pricer, TripFares)
            n = int(NET.trip_st_start[t + 1] - NET.trip_st_start[t])
            for b in range(n - 1):
                for a in range(b + 1, n):
                    unit = pricer.unit(b, a)
                    assert unit == leg_unit_price(NET, twin, LegSpan(t, b, a))
                    sources.add(unit[1].split(":")[0])
    assert sources == {"fare", "tariff"}
    rail_only = FareConfig(mode_tariffs={"rail": Tariff(per_km=0.45, minimum=10.0)})
    with pytest.raises(NoFare):
        trip_pricer(NET, rail_only, BUS).unit(0, 4)
    with pytest.raises(NoFare):
        leg_unit_price(NET, rail_only, LegSpan(BUS, 0, 4))
