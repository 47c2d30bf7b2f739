"""Connection protection (issue 11), the pure part: which legs of a confirmed booking realtime
breaks. No I/O; the store finds the bookings, maas/protection.py runs the jobs.

A booking's legs are checked on a planner's realtime state (`Planner.leg_status`):
  * a leg is `cancelled` when its trip is cancelled or its boarding or alighting stop skipped;
  * the connection from leg i to leg i+1 is `missed` when
        realtime arrival(i) + connection time > realtime departure(i+1),
    where the connection time is the one the journey was sold with (`BookedLeg.connection_s`,
    stored at sale by `sold_connections`): the change time the planner asks between the two
    legs (`connection_of`: routing's alight/board times per mode and transfer time, or the
    passenger's own minimum connection time), never more than the slack the timetable gave at
    sale (a change sold with 3 min stays feasible while it keeps 3 min). A leg sold before it
    was stored is judged the same way with today's change times.
Legs already travelled (arrival before now) are not judged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["BookedLeg", "Status", "Disruption", "disruptions", "sold_connections"]


@dataclass(frozen=True)
class BookedLeg:
    leg_no: int
    departure: datetime          # scheduled, aware UTC (as sold)
    arrival: datetime
    mode: str = "bus"            # bus coach rail metro tram ferry air other
    connection_s: int | None = None  # the change time before this leg as sold (None: not stored)


@dataclass(frozen=True)
class Status:
    """What realtime says about a booked leg (a routing LegStatus has these fields)."""

    departure: datetime
    arrival: datetime
    cancelled: bool


@dataclass(frozen=True)
class Disruption:
    leg_no: int                  # the first leg the passenger can no longer ride as booked
    reason: str                  # "cancelled" | "missed_connection"
    detail: dict

    def as_json(self) -> dict:
        return {"leg_no": self.leg_no, "reason": self.reason, **self.detail}


def disruptions(legs: Sequence[BookedLeg], status_of: Callable[[BookedLeg], Status],
                connection_of: Callable[[BookedLeg, BookedLeg], int],
                now: datetime) -> list[Disruption]:
    """The broken legs of one booking (in leg order), empty if it still works."""
    out: list[Disruption] = []
    ordered = sorted(legs, key=lambda g: g.leg_no)
    statuses = [status_of(g) for g in ordered]
    for i, (leg, st) in enumerate(zip(ordered, statuses)):
        if st.arrival < now and leg.arrival < now:
            continue
        if st.cancelled:
            out.append(Disruption(leg.leg_no, "cancelled", {}))
            continue
        if i == 0:
            continue
        prev, pst = ordered[i - 1], statuses[i - 1]
        if pst.cancelled:
            continue
        if leg.connection_s is not None:
            needed = leg.connection_s
        else:
            sold = int((leg.departure - prev.arrival).total_seconds())
            needed = max(0, min(connection_of(prev, leg), sold))
        have = int((st.departure - pst.arrival).total_seconds())
        if have < needed:
            out.append(Disruption(leg.leg_no, "missed_connection", {
                "arrival": pst.arrival.isoformat(), "departure": st.departure.isoformat(),
                "connection_s": needed, "available_s": have}))
    return out


def sold_connections(legs: Sequence[BookedLeg],
                     connection_of: Callable[[BookedLeg, BookedLeg], int]) -> list[int]:
    """The connection time each leg is sold with (in travel order; 0 for the first): the change
    time asked between the two legs, at most the slack of the timetable (never negative)."""
    out = [0] * len(legs)
    for i in range(1, len(legs)):
        sold = int((legs[i].departure - legs[i - 1].arrival).total_seconds())
        out[i] = max(0, min(connection_of(legs[i - 1], legs[i]), sold))
    return out
