"""Check-in counts for operators: entries per boarding station over a period (SQL only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["StationCheckins", "checkins_by_station"]


@dataclass(frozen=True)
class StationCheckins:
    station: str        # the leg's boarding stop "feed:stop_id" (a station or a platform of it)
    checkins: int       # entries there: a party on one leg (QR, face) or one passenger (ID card)
    passengers: int     # people those entries let through
    qr: int             # entered by QR
    face: int           # entered by face
    offline: int        # uploaded later by an offline gate
    id_card: int = 0    # one passenger entered by ID card (passenger_taps)


async def checkins_by_station(conn: Any, operator: str, start: datetime,
                              end: datetime) -> list[StationCheckins]:
    """Entries in [start, end) on legs of the feeds `operator` owns, per boarding stop, busiest
    first. A QR or face tap admits the party on one leg (gate_taps holds one per leg), so a
    group of three on one ticket is one check-in of three passengers; an ID card admits its
    holder alone (passenger_taps: one per passenger and leg), one check-in of one passenger."""
    rows = await conn.fetch(
        """WITH taps AS (
             SELECT t.station, t.method, t.online, l.passengers
               FROM gate_taps t
               JOIN booking_legs l ON l.booking_id = t.booking_id AND l.leg_no = t.leg_no
               JOIN feeds f ON f.name = l.feed
              WHERE f.operator_id = $1 AND t.tapped_at >= $2 AND t.tapped_at < $3
             UNION ALL
             SELECT p.station, p.method, p.online, 1
               FROM passenger_taps p
               JOIN booking_legs l ON l.booking_id = p.booking_id AND l.leg_no = p.leg_no
               JOIN feeds f ON f.name = l.feed
              WHERE f.operator_id = $1 AND p.tapped_at >= $2 AND p.tapped_at < $3)
           SELECT station,
                  count(*)                                     AS checkins,
                  coalesce(sum(passengers), 0)                 AS passengers,
                  count(*) FILTER (WHERE method = 'qr')        AS qr,
                  count(*) FILTER (WHERE method = 'face')      AS face,
                  count(*) FILTER (WHERE NOT online)           AS offline,
                  count(*) FILTER (WHERE method = 'id_card')   AS id_card
             FROM taps
            GROUP BY station
            ORDER BY checkins DESC, station""", operator, start, end)
    return [StationCheckins(r["station"], r["checkins"], r["passengers"], r["qr"], r["face"],
                            r["offline"], r["id_card"]) for r in rows]
