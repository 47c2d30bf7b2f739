"""Seat inventory per trip segment (pure part): which segments, how many seats, who is short."""

from __future__ import annotations

from datetime import date

from ticketing.inventory import (
    CapacityConfig, SeatRequest, capacity_for, demand, first_short_leg, segment_keys,
)

D = date(2026, 12, 1)


def req(leg: int, trip: str, b: int, a: int, seats: int = 1, cap: int = 2) -> SeatRequest:
    return SeatRequest(leg, trip, D, b, a, seats, cap)


def test_a_seat_sold_a_to_b_is_free_again_b_to_c():
    # capacity 1; A->B (segment 0) is taken; B->C (segment 1) is free.
    taken = {("t", D, 0): 1}
    assert first_short_leg([req(0, "t", 1, 2, cap=1)], taken) is None
    assert first_short_leg([req(0, "t", 0, 2, cap=1)], taken).leg_no == 0


def test_first_short_leg_names_the_leg_in_journey_order():
    taken = {("u", D, 3): 2}
    r = first_short_leg([req(0, "t", 0, 2), req(1, "u", 2, 5)], taken)
    assert r is not None and r.leg_no == 1


def test_two_legs_on_one_trip_add_up():
    reqs = [req(0, "t", 0, 2, seats=1, cap=2), req(1, "t", 1, 3, seats=1, cap=2)]
    assert demand(reqs)[("t", D, 1)] == 2
    assert first_short_leg(reqs, {}) is None
    assert first_short_leg(reqs, {("t", D, 1): 1}).leg_no == 0


def test_segment_keys_are_unique_and_in_lock_order():
    keys = segment_keys([req(0, "u", 0, 2), req(1, "t", 1, 3), req(2, "t", 2, 4)])
    assert keys == sorted(set(keys)) == [("t", D, 1), ("t", D, 2), ("t", D, 3), ("u", D, 0),
                                          ("u", D, 1)]


def test_capacity_trip_beats_route_beats_mode():
    cfg = CapacityConfig(by_mode={"rail": 600}, default=40)
    over = {("route", "r:G"): 300, ("trip", "r:G1"): 5}
    assert capacity_for(cfg, "rail", "r:G", "r:G1", over) == 5
    assert capacity_for(cfg, "rail", "r:G", "r:G1@08:00:00", over) == 5   # frequency run
    assert capacity_for(cfg, "rail", "r:G", "r:G2", over) == 300
    assert capacity_for(cfg, "rail", "r:H", "r:H1", over) == 600
    assert capacity_for(cfg, "air", "a:F", "a:F1", over) == 40
