"""What must hold in PostgreSQL after any storm of requests, checked with plain SQL.

Each check is one query against the bookings schema (maas/migrations/0200_bookings.sql), the
gates schema (0300_gates.sql) and the ID-card entries (0650_id_cards.sql) that returns the
offending rows; an empty result means the
invariant holds. The queries restate the schema's own rules, not the store's code:

- seats: a leg occupies `passengers` seats on segments board_pos .. alight_pos-1 of its
  trip run while it is confirmed, or held with hold_until in the future; the capacity of a
  run is its trip override, else its GTFS trip's (frequency runs "t@HH:MM:SS"), else its
  route's, else the per-mode default from settings.
- a booking leg is admitted at most once (gate_taps: the party, by QR or face), a passenger
  at most once per leg (passenger_taps: by ID card), and no card admits on a leg the party had
  already entered when the card was presented (an online card entry recorded after the party's).
- a confirmed booking has one issued ticket per confirmed leg per passenger, and no ticket
  is issued for a leg or booking that is not confirmed.
- a tap (gate_taps or passenger_taps) was accepted while its booking and leg were confirmed,
  at the leg's boarding stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import asyncpg

__all__ = ["Invariant", "Violation", "INVARIANTS", "check_invariants"]


@dataclass(frozen=True)
class Invariant:
    name: str   # stable id, printed in the report
    text: str   # what must hold, in words
    sql: str    # rows that violate it; $1 modes, $2 seats per mode, $3 default seats


@dataclass
class Violation:
    invariant: Invariant
    rows: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0


_SEATS = Invariant(
    "no_overselling",
    "no trip segment has more seats sold (or live holds) than its capacity",
    """
    WITH live AS (
        SELECT trip_id, service_date, board_pos, alight_pos, passengers, status, mode, route_id
        FROM booking_legs
        WHERE status = 'confirmed' OR (status = 'held' AND hold_until > now())
    ), seg AS (
        SELECT trip_id, service_date, s AS seg, min(mode) AS mode, min(route_id) AS route_id,
               coalesce(sum(passengers) FILTER (WHERE status = 'confirmed'), 0) AS sold,
               sum(passengers) AS occupied
        FROM live, generate_series(board_pos, alight_pos - 1) AS s
        GROUP BY trip_id, service_date, s
    ), defaults AS (
        SELECT * FROM unnest($1::text[], $2::int[]) AS d(mode, seats)
    ), judged AS (
        SELECT seg.*, coalesce(ct.seats, cb.seats, cr.seats, d.seats, $3::int) AS capacity
        FROM seg
        LEFT JOIN seat_capacity ct ON ct.scope = 'trip' AND ct.ref_id = seg.trip_id
        LEFT JOIN seat_capacity cb ON cb.scope = 'trip' AND cb.ref_id = split_part(seg.trip_id, '@', 1)
        LEFT JOIN seat_capacity cr ON cr.scope = 'route' AND cr.ref_id = seg.route_id
        LEFT JOIN defaults d ON d.mode = seg.mode
    )
    SELECT trip_id, service_date::text AS service_date, seg, mode, sold, occupied, capacity
    FROM judged WHERE occupied > capacity
    ORDER BY trip_id, service_date, seg
    """,
)

_ONE_TAP = Invariant(
    "no_double_admission",
    "no booking leg is admitted twice (one accepted tap per leg, one accept per TOTP step)",
    """
    SELECT 'gate_taps' AS source, booking_id, leg_no, count(*) AS taps
    FROM gate_taps GROUP BY booking_id, leg_no HAVING count(*) > 1
    UNION ALL
    SELECT 'burned steps', booking_id, NULL, count(*)
    FROM gate_taps WHERE burned_step IS NOT NULL
    GROUP BY booking_id, burned_step HAVING count(*) > 1
    UNION ALL
    SELECT 'passenger_taps', booking_id, leg_no, count(*)
    FROM passenger_taps GROUP BY booking_id, leg_no, passenger_no HAVING count(*) > 1
    UNION ALL
    SELECT 'passenger_taps after the party', p.booking_id, p.leg_no, 1
    FROM passenger_taps p
    JOIN gate_taps g ON g.booking_id = p.booking_id AND g.leg_no = p.leg_no
    WHERE p.online AND g.recorded_at < p.recorded_at
    """,
)

_TICKETS = Invariant(
    "tickets_complete",
    "every confirmed booking has an issued ticket per confirmed leg and passenger, "
    "and only confirmed legs of confirmed bookings have issued tickets",
    """
    SELECT b.id AS booking_id, l.leg_no, p.no AS passenger_no, 'missing ticket' AS problem
    FROM bookings b
    JOIN booking_legs l ON l.booking_id = b.id AND l.status = 'confirmed'
    CROSS JOIN LATERAL generate_series(0, b.passenger_count - 1) AS p(no)
    LEFT JOIN tickets t ON t.booking_id = b.id AND t.leg_no = l.leg_no
                       AND t.passenger_no = p.no AND t.status = 'issued'
    WHERE b.status = 'confirmed' AND t.id IS NULL
    UNION ALL
    SELECT b.id, NULL, NULL, 'confirmed booking without a confirmed leg'
    FROM bookings b
    WHERE b.status = 'confirmed'
      AND NOT EXISTS (SELECT 1 FROM booking_legs l WHERE l.booking_id = b.id AND l.status = 'confirmed')
    UNION ALL
    SELECT b.id, l.leg_no, NULL, 'confirmed booking with a leg still ' || l.status
    FROM bookings b JOIN booking_legs l ON l.booking_id = b.id
    WHERE b.status = 'confirmed' AND l.status IN ('held', 'expired')
    UNION ALL
    SELECT t.booking_id, t.leg_no, t.passenger_no,
           'ticket issued for a ' || l.status || ' leg of a ' || b.status || ' booking'
    FROM tickets t
    JOIN booking_legs l ON l.booking_id = t.booking_id AND l.leg_no = t.leg_no
    JOIN bookings b ON b.id = t.booking_id
    WHERE t.status = 'issued' AND (b.status <> 'confirmed' OR l.status <> 'confirmed')
    ORDER BY 1, 2, 3
    """,
)

_TAPS = Invariant(
    "taps_confirmed",
    "every accepted tap (QR/face of the party, ID card of a passenger) belongs to a booking "
    "and leg that were confirmed when it was accepted, at the leg's boarding stop",
    """
    SELECT t.source, t.tap_id, t.booking_id, t.leg_no, t.gate_id, t.station,
           b.status AS booking_status, l.status AS leg_status, l.from_stop,
           t.tapped_at::text AS tapped_at
    FROM (SELECT 'gate_taps' AS source, tap_id, booking_id, leg_no, gate_id, station, tapped_at
            FROM gate_taps
          UNION ALL
          SELECT 'passenger_taps', tap_id, booking_id, leg_no, gate_id, station, tapped_at
            FROM passenger_taps) t
    LEFT JOIN bookings b ON b.id = t.booking_id
    LEFT JOIN booking_legs l ON l.booking_id = t.booking_id AND l.leg_no = t.leg_no
    WHERE b.id IS NULL OR l.booking_id IS NULL
       OR b.confirmed_at IS NULL OR b.confirmed_at > t.tapped_at
       OR NOT (b.status = 'confirmed' OR (b.status = 'cancelled' AND b.cancelled_at > t.tapped_at))
       OR NOT (l.status = 'confirmed' OR (l.status = 'cancelled' AND l.cancelled_at > t.tapped_at))
       OR t.station <> l.from_stop
    ORDER BY t.tapped_at
    """,
)

INVARIANTS: tuple[Invariant, ...] = (_SEATS, _ONE_TAP, _TICKETS, _TAPS)


async def check_invariants(
    conn: asyncpg.Connection | asyncpg.Pool,
    capacity_by_mode: Mapping[str, int],
    capacity_default: int,
    *,
    sample: int = 5,
) -> list[Violation]:
    """Run every invariant; one Violation per invariant (count 0 = holds), first rows kept."""
    modes = list(capacity_by_mode)
    seats = [int(capacity_by_mode[m]) for m in modes]
    out = []
    for inv in INVARIANTS:
        args = (modes, seats, int(capacity_default)) if "$1" in inv.sql else ()
        rows = await conn.fetch(inv.sql, *args)
        out.append(Violation(inv, [dict(r) for r in rows[:sample]], len(rows)))
    return out
