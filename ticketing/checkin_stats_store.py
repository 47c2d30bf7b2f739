"""Check-in counts for operators: entries per boarding station over a period (SQL only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["StationCheckins", "checkins_by_station"]


@dataclass(frozen=True)
class StationCheckins:
    station: str        # the leg's boarding stop "feed:stop_id" (a station or a platform of it)
    checkins: int       # legs entered there (one tap per booking leg)
    passengers: int     # passengers those legs carry
    qr: int             # entered by QR
    face: int           # entered by face
    offline: int        # uploaded later by an offline gate


async def checkins_by_station(conn: Any, operator: str, start: datetime,
                              end: datetime) -> list[StationCheckins]:
    """Entries in [start, end) on legs of the feeds `operator` owns, per boarding stop, busiest
    first. A tap is a booking leg entered (gate_taps holds one per leg), so a group of three on
    one ticket is one check-in of three passengers."""
    rows = await conn.fetch(
        """SELECT t.station,
                  count(*)                                  AS checkins,
                  coalesce(sum(l.passengers), 0)            AS passengers,
                  count(*) FILTER (WHERE t.method = 'qr')   AS qr,
                  count(*) FILTER (WHERE t.method = 'face') AS face,
                  count(*) FILTER (WHERE NOT t.online)      AS offline
             FROM gate_taps t
             JOIN booking_legs l ON l.booking_id = t.booking_id AND l.leg_no = t.leg_no
             JOIN feeds f ON f.name = l.feed
            WHERE f.operator_id = $1 AND t.tapped_at >= $2 AND t.tapped_at < $3
            GROUP BY t.station
            ORDER BY checkins DESC, t.station""", operator, start, end)
    return [StationCheckins(r["station"], r["checkins"], r["passengers"], r["qr"], r["face"],
                            r["offline"]) for r in rows]
