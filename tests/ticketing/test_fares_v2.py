"""GTFS-Fares v2 leg rules, from the GTFS files through compile, storage and merge to a price."""

from __future__ import annotations

from feeds.compile import compile_feed
from routing.network import from_bytes, merge, to_bytes
from ticketing.fares import FareConfig, LegSpan, Tariff, leg_unit_price, trip_pricer
from ticketing.sample import sample_network

FILES = {
    "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\nM,Metro,http://m,Asia/Shanghai\n",
    "stops.txt": ("stop_id,stop_name,stop_lat,stop_lon\nA,A,36.60,117.00\nB,B,36.61,117.01\n"
                  "C,C,36.70,117.10\n"),
    "routes.txt": "route_id,agency_id,route_type,network_id\nR,M,1,metro\n",
    "calendar.txt": ("service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                     "start_date,end_date\nD,1,1,1,1,1,1,1,20261101,20261231\n"),
    "trips.txt": "route_id,service_id,trip_id\nR,D,T1\n",
    "stop_times.txt": ("trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
                       "T1,08:00:00,08:00:00,A,1\nT1,08:05:00,08:05:00,B,2\nT1,08:20:00,08:20:00,C,3\n"),
    "stop_areas.txt": "area_id,stop_id\nzone1,A\nzone1,B\nzone2,C\n",
    "fare_products.txt": ("fare_product_id,fare_product_name,rider_category_id,amount,currency\n"
                          "child_1,Child,child,1.00,CNY\nsingle_1,One zone,child,1.00,CNY\n"
                          "single_1,One zone,,2.00,CNY\nsingle_2,Two zones,,4.00,CNY\n"
                          "peak_1,Peak,,9.00,CNY\n"),
    "fare_leg_rules.txt": ("leg_group_id,network_id,from_area_id,to_area_id,from_timeframe_group_id,"
                           "fare_product_id,rule_priority\n"
                           "g,metro,zone1,zone1,,single_1,\ng,metro,zone1,zone2,,single_2,\n"
                           "g,metro,zone1,zone1,peak,peak_1,5\n"),
    # a v1 fare too: v2 is preferred where a leg rule matches
    "fare_attributes.txt": "fare_id,price,currency_type,payment_method,transfers\nOLD,7.00,CNY,0,0\n",
}
CFG = FareConfig(mode_tariffs={"metro": Tariff(per_km=0.2, minimum=2.0, base=1.0)})


def _network():
    return compile_feed({k: v.encode() for k, v in FILES.items()}, feed="m", version="v1")


def test_leg_rules_price_by_network_and_areas():
    net = from_bytes(to_bytes(_network()))  # as stored with the version
    assert list(net.route_network) == ["m:metro"]
    assert leg_unit_price(net, CFG, LegSpan(0, 0, 1)) == (200, "fare:m:single_1")  # zone1 -> zone1
    assert leg_unit_price(net, CFG, LegSpan(0, 0, 2)) == (400, "fare:m:single_2")  # zone1 -> zone2
    assert leg_unit_price(net, CFG, LegSpan(0, 1, 2)) == (400, "fare:m:single_2")


def test_timeframed_rules_are_left_out_and_adult_price_is_used():
    net = _network()
    peak = list(net.fare_product_id).index("m:peak_1")
    assert peak not in net.fare_leg_product.tolist() and len(net.fare_leg_product) == 2
    p = list(net.fare_product_id).index("m:single_1")
    assert net.fare_product_amount[p] == 2.0  # the row without a rider category


def test_merged_with_a_network_without_v2_fares():
    other = sample_network()
    net = merge([other, _network()])
    t = list(net.trip_id).index("m:T1")
    assert leg_unit_price(net, CFG, LegSpan(t, 0, 2)) == (400, "fare:m:single_2")
    assert len(net.route_network) == net.n_routes


def test_leg_rules_are_priced_leg_by_leg_by_the_plan():
    """No per-trip pricer where v2 leg rules exist: a ride's areas, not its trip's zones,
    decide its fare (/v1/plan then prices it through `leg_unit_price`)."""
    assert trip_pricer(_network(), CFG, 0) is None
