"""Memoised parts of a plan (legs of rides, stop places, service-day references, ids, leg
prices) are exactly what a planner that never saw a query computes: the memo keys hold
everything the values depend on (trip, service date, positions, time zone, secret, config)."""

from __future__ import annotations

from datetime import timedelta

from builders import BASE, timetable
from routing.config import RoutingConfig
from routing.planner import Planner, Query
from ticketing.fares import FareConfig, Tariff, price_journey, LegSpan

# T1 runs every day; T2 (Seoul agency) only on day 1, the day of the DST-free zone change test
NET = timetable("""
    T1 R1 bus A@08:00 B@08:30 C@09:00
    T2 R2 rail 1 C@09:20 D@11:00
    T3 R1 bus A@08:20 B@08:50 C@09:20
""", stops={"A": (36.60, 117.00), "B": (36.70, 117.00), "C": (36.80, 117.00),
            "D": (37.50, 127.00)}, stop_tz={"D": "Asia/Seoul"}, trip_tz={"T2": "Asia/Seoul"})


def _queries():
    for day in range(3):
        d = BASE + timedelta(days=day)
        for o, dst in (("t:A", "t:C"), ("t:B", "t:D"), ("t:A", "t:D"), ("t:A", "t:B")):
            for hh in (7, 8):
                yield Query(o, dst, d, hh * 3600 + 10 * 60)
                yield Query(o, dst, d, 12 * 3600, arrive_by=True)


def test_a_warm_planner_answers_like_a_fresh_one():
    warm = Planner.build(NET)
    for q in _queries():          # warm every memo, over several service dates
        warm.plan(q)
    seen = 0
    for q in _queries():
        got = warm.plan(q)
        assert got == Planner.build(NET).plan(q), q
        seen += len(got)
    assert seen > 10


def test_ids_depend_on_the_secret_even_when_memoised():
    a = Planner.build(NET, RoutingConfig(id_secret=b"one"))
    b = Planner.build(NET, RoutingConfig(id_secret=b"two"))
    q = Query("t:A", "t:C", BASE, 7 * 3600)
    assert a.plan(q)[0].id == a.plan(q)[0].id != b.plan(q)[0].id


def test_leg_prices_follow_the_config_even_when_memoised():
    cheap = FareConfig(mode_tariffs={"bus": Tariff(per_km=0.1, minimum=5.0)})
    dear = FareConfig(mode_tariffs={"bus": Tariff(per_km=0.1, minimum=9.0)})
    legs = [LegSpan(0, 0, 2)]
    assert price_journey(NET, cheap, legs).total_minor == 500
    assert price_journey(NET, dear, legs).total_minor == 900
    assert price_journey(NET, cheap, legs).total_minor == 500


def test_itinerary_prices_follow_the_config_even_when_memoised():
    from ticketing.offers import price_itinerary

    cheap = FareConfig(mode_tariffs={"bus": Tariff(per_km=0.1, minimum=5.0)})
    dear = FareConfig(mode_tariffs={"bus": Tariff(per_km=0.1, minimum=9.0)},
                      concessions={"child": 0.5})
    [it] = Planner.build(NET).plan(Query("t:A", "t:C", BASE, 7 * 3600))
    legs = [leg.key for leg in it.legs if leg.key is not None]
    assert price_itinerary(NET, cheap, legs).total_minor == 500
    assert price_itinerary(NET, dear, legs).total_minor == 900
    assert price_itinerary(NET, dear, legs, ("adult", "child")).total_minor == 1350
    assert price_itinerary(NET, cheap, legs).total_minor == 500


def test_legs_made_without_init_are_the_legs_init_makes():
    """The planner makes its legs with `new_leg` (no frozen-dataclass __init__): each is
    equal, field for field and in the same order, to `Leg(**the same fields)`."""
    import dataclasses

    from routing.itinerary import Leg, new_leg

    legs = [leg for q in _queries() for it in Planner.build(NET).plan(q) for leg in it.legs]
    assert {leg.mode for leg in legs} >= {"bus", "rail"}
    for leg in legs:
        values = {f.name: getattr(leg, f.name) for f in dataclasses.fields(Leg)}
        made = Leg(**values)
        assert made == leg and hash(made) == hash(leg) and vars(made) == vars(leg)
        assert list(vars(leg)) == list(values)
        walk_only = {k: v for k, v in values.items() if k in (
            "mode", "from_place", "to_place", "departure", "arrival", "duration_s", "distance_m")}
        assert vars(new_leg(**walk_only)) == vars(Leg(**walk_only))


def test_plan_prices_do_not_keep_a_planner_alive():
    """/v1/plan's pricer is kept per planner's fare classes (a weak memo): once the planner
    is gone (a new network generation), its classes and the pricer go too."""
    import gc
    import weakref

    from ticketing import offers
    from ticketing.offers import price_itinerary

    cfg = FareConfig(mode_tariffs={"bus": Tariff(per_km=0.1, minimum=5.0),
                                   "rail": Tariff(per_km=0.2, minimum=9.0)})
    pl = Planner.build(NET)
    it = pl.plan(Query("t:A", "t:C", BASE, 7 * 3600 + 600))[0]
    keys = [leg.key for leg in it.legs if leg.key is not None]
    priced = price_itinerary(NET, cfg, keys, planned=True, classes=pl.fare_classes())
    assert priced == price_itinerary(NET, cfg, keys)
    classes = weakref.ref(pl.fare_classes())
    assert classes() in offers._PLANNED
    del pl, it
    gc.collect()
    assert classes() is None


def test_a_trips_tariff_prices_every_ride_as_leg_unit_price():
    """/v1/plan prices a ride not seen before from its trip's tariff (`TripTariff`, looked
    up once per fare class): the same (price, source) as `leg_unit_price` for every ride of
    every trip; no TripTariff where GTFS fares exist or no tariff applies (the usual path
    then prices it, or raises NoFare)."""
    from ticketing.fares import leg_unit_price, trip_tariff
    from ticketing.sample import sample_network

    cfg = FareConfig(mode_tariffs={"bus": Tariff(per_km=0.137, minimum=1.5, base=0.3),
                                   "rail": Tariff(per_km=0.45, minimum=9.0)},
                     round_minor=1)
    for t in range(NET.n_trips):
        tariff = trip_tariff(NET, cfg, t)
        assert tariff is not None
        n = int(NET.trip_st_start[t + 1] - NET.trip_st_start[t])
        for b in range(n - 1):
            for a in range(b + 1, n):
                assert tariff.unit(b, a) == leg_unit_price(NET, cfg, LegSpan(t, b, a))
    bus_only = FareConfig(mode_tariffs={"bus": Tariff(per_km=0.1, minimum=5.0)})
    rail = list(NET.trip_id).index("t:T2")
    assert trip_tariff(NET, bus_only, rail) is None
    sample = sample_network()           # it has GTFS fares
    assert len(sample.fare_id) and trip_tariff(sample, cfg, 0) is None


def test_itineraries_and_keys_made_without_init_are_what_init_makes():
    """The planner makes its itineraries, their keys, legs (rides and walks) and leg keys
    without the frozen dataclasses' __init__: each equals (fields, their order, hash)
    `cls(**its fields)`."""
    import dataclasses

    from routing.itinerary import Itinerary, ItineraryKey, Leg, LegKey

    from routing.updates import StopTimeEvent, StopTimeUpdate, TripUpdate

    pl = Planner.build(NET)
    its = [it for q in _queries() for it in pl.plan(q)]
    its += pl.plan(Query((36.6027, 117.0), (36.8027, 117.0), BASE, 7 * 3600))   # walks
    late = pl.with_realtime([TripUpdate("t:T1", BASE, stop_updates=(
        StopTimeUpdate(stop_id="t:A", departure=StopTimeEvent(delay=120)),))])
    its += late.plan(Query("t:A", "t:C", BASE, 7 * 3600))
    made = [*its, *(it.key for it in its), *(k for it in its for k in it.key.legs),
            *(leg for it in its for leg in it.legs)]
    assert {type(x) for x in made} == {Itinerary, ItineraryKey, LegKey, Leg}
    assert any(leg.mode == "walk" for it in its for leg in it.legs)
    assert any(leg.realtime and leg.delay_s == 120 for it in its for leg in it.legs)
    for x in made:
        values = {f.name: getattr(x, f.name) for f in dataclasses.fields(x)}
        again = type(x)(**values)
        assert again == x and hash(again) == hash(x) and vars(again) == vars(x)
        assert list(vars(x)) == list(values)
