"""criteria=price: price as a third Pareto criterion, checked against brute force.

The brute force enumerates every journey (sequence of rides, up to 3) the raw network
allows from the query time, with the same connection rules as the reference router
(`reference.py`), and prices each with the booking's own `ticketing.fares.price_journey`.
For every deadline T, the cheapest journey arriving by T must be matched by an itinerary
the price search returns, and every itinerary's search price must be what the booking
charges for its legs.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from builders import BASE, timetable
from checks import assert_feasible, value
from routing.config import RoutingConfig, route_board_s
from routing.errors import InvalidQuery
from routing.network import Network
from routing.planner import Planner, Query
from routing.timetable import service_ref_epoch
from ticketing.errors import NoFare
from ticketing.fares import FareConfig, LegSpan, Tariff, price_journey, search_fares
from ticketing.offers import _quote, price_itinerary

CFG = RoutingConfig(max_transfers=2, max_limit=200)


def with_agencies(net: Network, route_agency: list[int], n: int) -> Network:
    """The network with n operators (same time zone), route r run by route_agency[r]."""
    obj = lambda xs: np.array(xs, dtype=object)  # noqa: E731
    return dataclasses.replace(
        net, agency_id=obj([f"t:op{i}" for i in range(n)]),
        agency_name=obj([f"Operator {i}" for i in range(n)]),
        agency_tz=np.zeros(n, np.int16), agency_feed=np.zeros(n, np.int16),
        route_agency=np.array(route_agency, np.int32))


def with_v1_fares(net: Network, zones: list[str], fares: list[tuple[int, float, str]]) -> Network:
    """GTFS v1 fares: stop zones, and per (route, price, origin zone) a fare with one rule."""
    obj = lambda xs: np.array(xs, dtype=object)  # noqa: E731
    return dataclasses.replace(
        net, stop_zone=obj([f"t:{z}" if z else "" for z in zones]),
        fare_id=obj([f"t:f{i}" for i in range(len(fares))]),
        fare_price=np.array([p for _, p, _ in fares], float),
        fare_currency=obj(["CNY"] * len(fares)),
        fare_agency=np.full(len(fares), -1, np.int32),
        fare_rule_fare=np.arange(len(fares), dtype=np.int32),
        fare_rule_route=np.array([r for r, _, _ in fares], np.int32),
        fare_rule_origin=obj([f"t:{z}" if z else "" for *_, z in fares]),
        fare_rule_destination=obj([""] * len(fares)))


# ------------------------------------------------------------------ brute force
def brute_force(pl: Planner, cfg: FareConfig, origin: str, dest: str, d: date, secs: int,
                horizon: int, max_rides: int) -> list[tuple[int, int, int]]:
    """Every journey as (arrival value, transfers, booking price), rides enumerated."""
    net, rc = pl.network, pl.config
    tz = ZoneInfo(pl.stop_tz(pl.stop(origin)))
    t0 = int((datetime.combine(d, time(0), tz) + timedelta(seconds=secs)).timestamp())
    t1 = t0 + horizon
    src = {s: w for s, (w, _) in pl._reach(origin, pl.fps, rc.walk_radius_m).items()}
    dst = {s: w for s, (w, _) in pl._reach(dest, pl.fps_rev, rc.walk_radius_m).items()}
    runs = []   # (t, dep[], arr[], stops[], board_s, alight_s)
    for delta in range(-rc.days_before, rc.days_after + 1):
        sd = d + timedelta(days=delta)
        col = sd.toordinal() - net.service_base_date
        if not 0 <= col < net.service_days.shape[1]:
            continue
        for t in np.flatnonzero(net.service_days[net.trip_service, col]).tolist():
            ref = service_ref_epoch(sd, net.timezones[int(pl.trip_tz[t])])
            a, b = int(net.trip_st_start[t]), int(net.trip_st_start[t + 1])
            r = int(net.trip_route[t])
            runs.append((t, a, net.st_dep[a:b].astype(np.int64) + ref,
                         net.st_arr[a:b].astype(np.int64) + ref, net.st_stop[a:b].tolist(),
                         route_board_s(rc, int(net.route_type[r]), str(net.route_mode[r])),
                         rc.alight_s.get(str(net.route_mode[r]), 0)))
    fps = pl.fps
    out: list[tuple[int, int, int]] = []

    def price(rides):
        try:
            return price_journey(net, cfg, [LegSpan(t, b, a) for t, b, a in rides]).total_minor
        except NoFare:
            return None

    def go(ready: dict[int, int], rides: list):
        if len(rides) == max_rides:
            return
        for t, row, dep, arr, stops, board_s, alight_s in runs:
            for i, s in enumerate(stops[:-1]):
                if s not in ready or net.st_pickup[row + i] == 1 or dep[i] - board_s < ready[s]:
                    continue
                for j in range(i + 1, len(stops)):
                    if net.st_dropoff[row + j] == 1 or arr[j] > t1:
                        continue
                    now = rides + [(t, i, j)]
                    s2 = stops[j]
                    if s2 in dst:
                        p = price(now)
                        if p is not None:
                            out.append((int(arr[j]) + alight_s + dst[s2], len(now) - 1, p))
                    nxt: dict[int, int] = {}
                    for e in range(int(fps.start[s2]), int(fps.start[s2 + 1])):
                        fl = int(fps.floor_s[e])
                        f = max(int(fps.walk_s[e]), fl if fl >= 0 else rc.transfer_s)
                        to = int(fps.to[e])
                        nxt[to] = min(nxt.get(to, 1 << 62), int(arr[j]) + alight_s + f)
                    go(nxt, now)

    go({s: t0 + w for s, w in src.items()}, [])
    return out


def check_against_brute_force(pl: Planner, cfg: FareConfig, origin: str, dest: str, d: date,
                              secs: int) -> list:
    table = search_fares(pl.network, cfg, pl.fare_classes())
    its = pl.plan(Query(origin, dest, d, secs, limit=200), fares=table)
    horizon = 30 * 3600
    every = brute_force(pl, cfg, origin, dest, d, secs, horizon, CFG.max_transfers + 1)
    got = [(value(pl, it), it.transfers, it.price_minor) for it in its]
    for it in its:
        assert_feasible(pl, it)
        keys = [leg.key for leg in it.legs if leg.key is not None]
        # the search counted what the booking charges
        assert it.price_minor == price_itinerary(pl.network, cfg, keys).total_minor, it
    for it_a in got:   # Pareto: none dominated on (arrival, transfers, price)
        assert not any(o != it_a and o[0] <= it_a[0] and o[1] <= it_a[1] and o[2] <= it_a[2]
                       for o in got), (it_a, got)
    for deadline in sorted({v for v, _, _ in every}):
        for k in range(CFG.max_transfers + 1):
            want = min((p for v, tr, p in every if v <= deadline and tr <= k), default=None)
            have = min((p for v, tr, p in got if v <= deadline and tr <= k), default=None)
            assert have == want, (deadline, k, have, want, sorted(got), sorted(set(every)))
    return its


# ------------------------------------------------------------------ generated networks
@st.composite
def priced_networks(draw):
    n_stops = draw(st.integers(3, 5))
    names = [f"S{i}" for i in range(n_stops)]
    coords = {n: (36.6 + draw(st.integers(0, 12)) * 0.001, 117.0 + draw(st.integers(0, 12)) * 0.001)
              for n in names}
    lines = []
    for k in range(draw(st.integers(2, 7))):
        seq = draw(st.lists(st.sampled_from(names), min_size=2, max_size=4, unique=True))
        mode = draw(st.sampled_from(["bus", "bus", "rail", "metro"]))
        days = draw(st.sampled_from(["0", "1", "0,1"]))
        t = draw(st.integers(6 * 60, 10 * 60)) * 60
        calls = []
        for i, s in enumerate(seq):
            dwell = draw(st.integers(0, 2)) * 60
            flag = draw(st.sampled_from(["", "", "", "!", ">"])) if 0 < i < len(seq) - 1 else ""
            calls.append((flag, s, t, t + dwell))
            t += dwell + draw(st.integers(1, 40)) * 60

        def row(name, route, shift):
            return f"{name} {route} {mode} {days} " + " ".join(
                f"{f}{s}@{(a + shift) // 3600:02d}:{(a + shift) % 3600 // 60:02d}/"
                f"{(b + shift) // 3600:02d}:{(b + shift) % 3600 // 60:02d}" for f, s, a, b in calls)

        lines.append(row(f"T{k}", f"R{k % 4}", 0))
        for n in range(draw(st.integers(0, 2))):    # the line again later
            lines.append(row(f"T{k}r{n}", f"R{k % 4}", (n + 1) * draw(st.integers(5, 40)) * 60))
        if draw(st.booleans()):   # the same stops by another route later: one pattern, 2 classes
            lines.append(row(f"T{k}b", f"R{(k + 1) % 4}", draw(st.integers(1, 30)) * 60))
    net = timetable("\n".join(lines), coords, n_days=3)
    n_ops = draw(st.integers(1, 3))
    net = with_agencies(net, [draw(st.integers(0, n_ops - 1)) for _ in range(len(net.route_id))],
                        n_ops)
    if draw(st.booleans()):
        zones = [draw(st.sampled_from(["", "a", "b"])) for _ in range(net.n_stops)]
        fares = [(draw(st.integers(0, len(net.route_id) - 1)), draw(st.integers(0, 40)) / 2,
                  draw(st.sampled_from(["", "a", "b"]))) for _ in range(draw(st.integers(1, 3)))]
        net = with_v1_fares(net, zones, fares)

    def tariff():
        return Tariff(per_km=draw(st.integers(0, 40)) / 10, minimum=draw(st.integers(0, 10)),
                      base=draw(st.integers(0, 5)))

    cfg = FareConfig(mode_tariffs={m: tariff() for m in ("bus", "rail", "metro")},
                     operator_tariffs={"t:op1": tariff()} if draw(st.booleans()) else {},
                     linked_discount=draw(st.sampled_from([0.0, 0.05, 0.5, 0.5])),
                     round_minor=draw(st.sampled_from([1, 10])))
    return net, names, cfg


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(data=st.data())
def test_cheapest_by_every_deadline_matches_brute_force(data):
    net, names, cfg = data.draw(priced_networks())
    pl = Planner.build(net, CFG)
    d = date(2026, 11, 26)
    assume(pl.valid_from <= d <= pl.valid_to)
    a, b = data.draw(st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True))
    secs = data.draw(st.integers(5 * 4, 9 * 4)) * 900
    check_against_brute_force(pl, cfg, f"t:{a}", f"t:{b}", d, secs)


# ------------------------------------------------------------------ scenarios
def _two_ways() -> tuple[Planner, FareConfig]:
    net = timetable('''
        T1 R1 rail  A@08:00 B@08:40
        T2 R2 bus   A@08:05 C@08:50 B@09:40
        T3 R3 coach A@08:10 B@10:00
    ''')
    net = with_agencies(net, [0, 1, 2], 3)
    cfg = FareConfig(mode_tariffs={"rail": Tariff(1.0, 50.0), "bus": Tariff(0.1, 2.0),
                                   "coach": Tariff(0.01, 1.0)}, linked_discount=0.05)
    return Planner.build(net, CFG), cfg


def test_slower_cheaper_journeys_survive_only_with_price():
    pl, cfg = _two_ways()
    q = Query("t:A", "t:B", BASE, 7 * 3600 + 30 * 60, limit=20)
    fast = pl.plan(q)
    assert [it.legs[0].trip_id for it in fast] == ["t:T1"]
    assert all(it.price_minor is None for it in fast)
    table = search_fares(pl.network, cfg, pl.fare_classes())
    priced = pl.plan(q, fares=table)
    assert [it.legs[0].trip_id for it in priced] == ["t:T1", "t:T2", "t:T3"]   # by arrival
    prices = [it.price_minor for it in priced]
    assert prices == [price_itinerary(pl.network, cfg, [it.legs[0].key]).total_minor
                      for it in priced]
    assert prices[0] > prices[1] > prices[2]     # each slower one is cheaper


def test_a_second_operator_can_make_a_journey_cheaper():
    """The linked discount is not additive: a journey with one more ride on another operator
    can cost less than the single-operator one, and the search must find it."""
    net = timetable('''
        T1 R1 bus A@08:00 B@08:30
        T2 R2 bus A@08:00 C@08:10
        T3 R3 bus C@08:20 B@08:40
    ''')
    net = with_agencies(net, [0, 1, 0], 2)
    fares = [(0, 10.0, ""), (1, 0.0, ""), (2, 10.0, "")]   # R1 10, R2 free, R3 10
    net = with_v1_fares(net, [""] * net.n_stops, fares)
    cfg = FareConfig(linked_discount=0.5)
    pl = Planner.build(net, CFG)
    table = search_fares(net, cfg, pl.fare_classes())
    its = pl.plan(Query("t:A", "t:B", BASE, 7 * 3600 + 30 * 60, limit=20), fares=table)
    got = sorted((it.transfers, it.price_minor) for it in its)
    assert got == [(0, 1000), (1, 500)]
    check_against_brute_force(pl, cfg, "t:A", "t:B", BASE, 7 * 3600 + 30 * 60)


def test_an_earlier_label_of_another_operator_does_not_hide_a_cheaper_one():
    """At X, the ride of operator 0 arrives first at the same price as operator 1's; going on
    with operator 0 makes the operator-1 start linked (discounted), so it must survive."""
    net = timetable('''
        P R1 bus A@08:00 X@08:10
        Q R2 bus A@08:00 X@08:20
        R R3 bus X@08:30 B@08:40
    ''')
    net = with_agencies(net, [0, 1, 0], 2)
    net = with_v1_fares(net, [""] * net.n_stops, [(0, 10.0, ""), (1, 10.0, ""), (2, 10.0, "")])
    cfg = FareConfig(linked_discount=0.5)
    pl = Planner.build(net, CFG)
    table = search_fares(net, cfg, pl.fare_classes())
    its = pl.plan(Query("t:A", "t:B", BASE, 7 * 3600 + 30 * 60, limit=20), fares=table)
    assert [([leg.trip_id for leg in it.legs if leg.key], it.price_minor) for it in its] == [
        (["t:Q", "t:R"], 1000)]
    check_against_brute_force(pl, cfg, "t:A", "t:B", BASE, 7 * 3600 + 30 * 60)


def test_price_with_arrive_by_or_window_is_refused():
    pl, cfg = _two_ways()
    table = search_fares(pl.network, cfg, pl.fare_classes())
    for q in (Query("t:A", "t:B", BASE, 9 * 3600, arrive_by=True),
              Query("t:A", "t:B", BASE, 7 * 3600, window_s=3600)):
        with pytest.raises(InvalidQuery):
            pl.plan(q, fares=table)


def test_unpriced_rides_are_not_used():
    pl, _ = _two_ways()
    cfg = FareConfig(mode_tariffs={"bus": Tariff(0.1, 2.0)})   # rail and coach: no fare
    table = search_fares(pl.network, cfg, pl.fare_classes())
    its = pl.plan(Query("t:A", "t:B", BASE, 7 * 3600 + 30 * 60, limit=20), fares=table)
    assert [it.legs[0].trip_id for it in its] == ["t:T2"]


# ------------------------------------------------------------------ real feeds
def _real(*names: str):
    import zipfile
    from pathlib import Path

    from feeds.compile import compile_feed
    from routing.network import merge

    nets = []
    for n in names:
        with zipfile.ZipFile(Path(__file__).parent.parent / "data" / "real" / f"{n}.zip") as z:
            nets.append(compile_feed({m: z.read(m) for m in z.namelist()}, feed=n.split("-")[0],
                                     version="1"))
    return nets[0] if len(nets) == 1 else merge(nets)


REAL_TARIFFS = {"bus": Tariff(0.1, 2.0, 1.0), "coach": Tariff(0.3, 5.0), "rail": Tariff(0.45, 10.0),
                "metro": Tariff(0.2, 2.0, 1.0), "tram": Tariff(0.1, 2.0, 1.0),
                "ferry": Tariff(0.5, 10.0), "other": Tariff(0.3, 5.0)}


def _real_price_case(net, cfg: FareConfig, d: date, n: int, seed: int) -> int:
    """Random served stop pairs: the price search keeps the fastest journeys (per number of
    transfers, the same earliest arrival as the two-criteria search), never costs more than
    any of them, prices what the booking charges; returns how many queries had a slower but
    cheaper journey."""
    pl = Planner.build(net, RoutingConfig(max_limit=200))
    table = search_fares(net, cfg, pl.fare_classes())
    col = d.toordinal() - net.service_base_date
    running = np.flatnonzero(net.service_days[net.trip_service, col])
    served = np.unique(np.concatenate([net.st_stop[net.trip_st_start[t]:net.trip_st_start[t + 1]]
                                       for t in running.tolist()]))
    rng = np.random.default_rng(seed)
    cheaper = answered = 0
    for _ in range(n):
        a, b = (str(net.stop_id[s]) for s in rng.choice(served, 2, replace=False))
        secs = int(rng.integers(6 * 3600, 10 * 3600))
        q = Query(a, b, d, secs, limit=200)
        fast = pl.plan(q)
        priced = pl.plan(q, fares=table)
        assert bool(fast) == bool(priced)
        if not fast:
            continue
        answered += 1
        for k in range(pl.config.max_transfers + 1):
            assert min((value(pl, it) for it in fast if it.transfers <= k), default=None) == \
                min((value(pl, it) for it in priced if it.transfers <= k), default=None), (a, b, k)
        for it in priced:
            assert_feasible(pl, it)
            keys = [leg.key for leg in it.legs if leg.key is not None]
            assert it.price_minor == price_itinerary(net, cfg, keys).total_minor
        best = min(it.price_minor for it in priced)
        assert all(best <= price_itinerary(net, cfg, [leg.key for leg in it.legs if leg.key])
                   .total_minor for it in fast)
        for it in fast:   # /v1/plan prices a leg as its fare class's representative trip
            keys = [leg.key for leg in it.legs if leg.key is not None]
            if keys:
                checked = _quote(net, cfg, keys, ("adult",))
                assert _quote(net, cfg, keys, ("adult",), True, pl.fare_classes()) == checked
                # and what /v1/plan calls (its own memos of trips and unit prices)
                assert price_itinerary(net, cfg, keys, planned=True,
                                       classes=pl.fare_classes()) == checked
        first = min(value(pl, it) for it in priced)
        cheaper += any(value(pl, it) > first and it.price_minor < min(
            x.price_minor for x in priced if value(pl, x) == first) for it in priced)
    assert answered >= n // 3
    return cheaper


@pytest.mark.slow
def test_sncf_rail_and_coach_slower_cheaper_journeys():
    """SNCF TER: trains and TER coaches of three operators; a coach is cheaper per km."""
    cfg = FareConfig(mode_tariffs=REAL_TARIFFS, linked_discount=0.05)
    assert _real_price_case(_real("sncf-ter-2019"), cfg, date(2019, 10, 15), 30, seed=11) >= 1


@pytest.mark.slow
def test_marta_and_cobblinc_with_operator_tariffs():
    """Two operators merged; MARTA rail dearer per km than the CobbLinc bus."""
    cfg = FareConfig(mode_tariffs=REAL_TARIFFS,
                     operator_tariffs={"marta:MARTA": Tariff(0.6, 2.5)}, linked_discount=0.1)
    net = _real("marta-rail-blue-green-2021", "cobblinc-route30-2021")
    assert _real_price_case(net, cfg, date(2021, 10, 20), 30, seed=3) >= 1


@pytest.mark.slow
def test_marta_and_cobblinc_with_gtfs_flat_fares():
    """The same two feeds with a GTFS v1 fare table (flat fare per route: MARTA 2.50, CobbLinc
    1.00) instead of tariffs: the search prices every itinerary as the booking does."""
    net = _real("marta-rail-blue-green-2021", "cobblinc-route30-2021")
    fares = [(r, 2.5 if str(net.route_id[r]).startswith("marta:") else 1.0, "")
             for r in range(len(net.route_id))]
    net = with_v1_fares(net, [""] * net.n_stops, fares)
    cfg = FareConfig(mode_tariffs=REAL_TARIFFS, linked_discount=0.1)
    table = search_fares(net, cfg, Planner.build(net, CFG).fare_classes())
    assert set(np.unique(table.full[table.full >= 0]).tolist()) == {100, 250}
    _real_price_case(net, cfg, date(2021, 10, 20), 20, seed=4)
