"""The pure check of ticketing/protection.py: cancelled legs and missed connections."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ticketing.protection import BookedLeg, Status, disruptions

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)


def m(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


LEGS = [BookedLeg(0, m(0), m(20)), BookedLeg(1, m(30), m(60))]   # 10 min to change


def run(delays: dict[int, int], cancelled: frozenset[int] = frozenset(), connection_s: int = 120,
        now: datetime = T0 - timedelta(hours=1)):
    def status(g: BookedLeg) -> Status:
        d = timedelta(minutes=delays.get(g.leg_no, 0))
        return Status(g.departure + d, g.arrival + d, g.leg_no in cancelled)
    return disruptions(LEGS, status, lambda a, b: connection_s, now)


def test_on_time_and_a_small_delay_keep_the_connection():
    assert run({}) == []
    assert run({0: 8}) == []                       # 28 + 2 min change <= 30


def test_a_delay_past_arrival_plus_connection_time_breaks_the_next_leg():
    (d,) = run({0: 9})                             # 29 + 2 > 30
    assert (d.leg_no, d.reason, d.detail["available_s"], d.detail["connection_s"]) == (
        1, "missed_connection", 60, 120)


def test_the_connection_time_is_never_more_than_the_slack_it_was_sold_with():
    assert run({}, connection_s=3600) == []        # sold with 10 min: 10 min stays enough
    assert [d.leg_no for d in run({0: 1}, connection_s=3600)] == [1]


def test_a_cancelled_leg_is_reported_and_the_next_follows_it_down():
    assert [(d.leg_no, d.reason) for d in run({}, cancelled=frozenset({0}))] == [(0, "cancelled")]
    assert [(d.leg_no, d.reason) for d in run({}, cancelled=frozenset({1}))] == [(1, "cancelled")]


def test_travelled_legs_are_not_judged():
    assert run({}, cancelled=frozenset({0}), now=m(40)) == []


def test_the_connection_time_asked_depends_on_the_two_legs():
    asked = []

    def of(a: BookedLeg, b: BookedLeg) -> int:
        asked.append((a.leg_no, b.leg_no))
        return 0
    assert disruptions(LEGS, lambda g: Status(g.departure, g.arrival, False), of, T0) == []
    assert asked == [(0, 1)]
