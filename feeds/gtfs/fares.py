"""Fares: v1 (fare_attributes.txt + fare_rules.txt) and the leg part of v2
(fare_products, fare_leg_rules, stop_areas, route networks)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from feeds.gtfs.agencies import Agencies
from feeds.gtfs.values import col, ns_nonempty, to_int


def fares(fa: pd.DataFrame | None, fr: pd.DataFrame | None, feed: str, ag: Agencies,
          route_index: dict[str, int]) -> dict[str, np.ndarray]:
    ids = col(fa, "fare_id")
    index = {f: i for i, f in enumerate(ids)}
    price = pd.to_numeric(pd.Series(col(fa, "price"), dtype=object),
                          errors="coerce").to_numpy(np.float64)
    a_index = {a: i for i, a in enumerate(ag.ids)}
    single = 0 if len(ag.ids) == 1 else -1
    agency = np.array([a_index.get(a, -1) if a else single for a in col(fa, "agency_id")],
                      dtype=np.int32)
    rule_fare = np.array([index.get(f, -1) for f in col(fr, "fare_id")], dtype=np.int32)
    ok = rule_fare >= 0
    rule_route = np.array([route_index.get(r, -1) if r else -1 for r in col(fr, "route_id")],
                          dtype=np.int32)
    return dict(
        fare_id=np.array([f"{feed}:{f}" for f in ids], dtype=object).reshape(-1),
        fare_price=price, fare_currency=col(fa, "currency_type"), fare_agency=agency,
        fare_rule_fare=rule_fare[ok], fare_rule_route=rule_route[ok],
        fare_rule_origin=ns_nonempty(feed, col(fr, "origin_id"))[ok],
        fare_rule_destination=ns_nonempty(feed, col(fr, "destination_id"))[ok],
    )


def fares_v2(routes: pd.DataFrame | None, route_networks: pd.DataFrame | None,
             stop_areas: pd.DataFrame | None, products: pd.DataFrame | None,
             leg_rules: pd.DataFrame | None, feed: str, route_index: dict[str, int],
             stop_index: dict[str, int]) -> dict[str, np.ndarray]:
    """GTFS-Fares v2, the leg part: a leg's product by (network, from area, to area).

    Supported: fare_products (one price per product: the row without a rider category, else
    the first), fare_leg_rules without timeframes (rules with from/to_timeframe_group_id are
    left out rather than priced wrongly), stop_areas, routes.network_id and route_networks.
    Transfer rules (fare_transfer_rules) are not applied: each leg is priced alone."""
    n_routes = len(route_index)
    network = np.full(n_routes, "", dtype=object)
    for r, net_id in enumerate(col(routes, "network_id")[:n_routes]):
        network[r] = f"{feed}:{net_id}" if net_id else ""
    for net_id, route_id in zip(col(route_networks, "network_id"), col(route_networks, "route_id")):
        if route_id in route_index and net_id:
            network[route_index[route_id]] = f"{feed}:{net_id}"
    area_stop = np.array([stop_index.get(x, -1) for x in col(stop_areas, "stop_id")], dtype=np.int32)
    area_ok = area_stop >= 0

    riders = col(products, "rider_category_id")
    product_row: dict[str, int] = {}  # product -> its row: the one without a rider category
    for i, pid in enumerate(col(products, "fare_product_id")):
        if pid and (pid not in product_row or (riders[product_row[pid]] and not riders[i])):
            product_row[pid] = i
    pids = list(product_row)
    rows = np.array([product_row[p] for p in pids], dtype=np.int64)
    amount = pd.to_numeric(pd.Series(col(products, "amount"), dtype=object),
                           errors="coerce").to_numpy(np.float64)
    p_index = {p: i for i, p in enumerate(pids)}

    leg_product = np.array([p_index.get(x, -1) for x in col(leg_rules, "fare_product_id")],
                           dtype=np.int32)
    timeframed = (col(leg_rules, "from_timeframe_group_id") != "") | \
        (col(leg_rules, "to_timeframe_group_id") != "")
    ok = (leg_product >= 0) & ~timeframed if len(leg_product) else np.zeros(0, dtype=bool)
    priority = np.array([to_int(x, 0) if x else 0 for x in col(leg_rules, "rule_priority")],
                        dtype=np.int32)
    return dict(
        route_network=network,
        stop_area_stop=area_stop[area_ok],
        stop_area_area=ns_nonempty(feed, col(stop_areas, "area_id"))[area_ok],
        fare_product_id=np.array([f"{feed}:{p}" for p in pids], dtype=object).reshape(-1),
        fare_product_amount=amount[rows] if len(rows) else np.zeros(0, dtype=np.float64),
        fare_product_currency=col(products, "currency")[rows] if len(rows) else np.zeros(0, dtype=object),
        fare_leg_network=ns_nonempty(feed, col(leg_rules, "network_id"))[ok],
        fare_leg_from_area=ns_nonempty(feed, col(leg_rules, "from_area_id"))[ok],
        fare_leg_to_area=ns_nonempty(feed, col(leg_rules, "to_area_id"))[ok],
        fare_leg_product=leg_product[ok],
        fare_leg_priority=priority[ok],
    )
