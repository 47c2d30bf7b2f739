"""SQL of ID-card check-in (tables in maas/migrations/0650_id_cards.sql).

A card's holder is found by the blind index beside each passenger (one indexed lookup, no
decryption); a card admits one passenger (passenger_taps), never a leg a party entry
(gate_taps: QR or face) already used. The manifest's ID section is the one place ID numbers
are decrypted outside a rotation: only the passengers of bookings boarding at one station in
one manifest's period, to index them under that manifest's own key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

import asyncpg

from ticketing.checkin_config import CheckinConfig
from ticketing.checkin_store import max_margins, replacements
from ticketing.idcards import index_key, blind_index, manifest_index
from ticketing.keyring import DataKeyring
from ticketing.manifest import ManifestId, ManifestIdLeg, ReplacedBy
from ticketing.pii import Keyring, pii_aad

__all__ = ["HolderLeg", "holder_legs", "record_passenger_tap", "manifest_ids", "index_passengers",
           "upload_passenger_tap", "add_probe_alert", "list_probe_alerts", "LOOKAHEAD"]

LOOKAHEAD = timedelta(days=60)   # bookings further ahead than this are not looked at


@dataclass(frozen=True)
class HolderLeg:
    booking: str
    passenger: int
    leg: int
    board: str
    mode: str
    departure: datetime
    arrival: datetime
    cancelled: bool
    used: bool
    replaced_by: ReplacedBy | None = None   # an exchanged or rebooked leg: its replacement


async def holder_legs(conn: Any, indexes: Sequence[bytes], now: datetime,
                      cfg: CheckinConfig) -> list[HolderLeg]:
    """Every leg (departing from two days ago to LOOKAHEAD) of every confirmed or cancelled
    booking whose passenger has one of `indexes`; one indexed lookup (and one more for the
    replacements of legs an exchange or a rebooking replaced, if any)."""
    _, after = max_margins(cfg)
    rows = await conn.fetch(
        """SELECT p.booking_id, p.passenger_no, l.leg_no, l.from_stop, l.mode, l.departure,
                  l.arrival, l.status AS lstatus, (b.status <> 'confirmed' OR l.status <> 'confirmed') AS cancelled,
                  (EXISTS (SELECT 1 FROM gate_taps t
                           WHERE t.booking_id = l.booking_id AND t.leg_no = l.leg_no)
                   OR EXISTS (SELECT 1 FROM passenger_taps q
                              WHERE q.booking_id = l.booking_id AND q.leg_no = l.leg_no
                                AND q.passenger_no = p.passenger_no)) AS used
             FROM booking_passengers p
             JOIN bookings b ON b.id = p.booking_id
             JOIN booking_legs l ON l.booking_id = p.booking_id
            WHERE p.id_index = ANY ($1::bytea[]) AND b.status IN ('confirmed', 'cancelled')
              AND l.status IN ('confirmed', 'cancelled', 'replaced')
              AND l.departure > $2 AND l.departure < $3""",
        list(indexes), now - after - timedelta(days=2), now + LOOKAHEAD)
    gone = [r["booking_id"] for r in rows if r["lstatus"] == "replaced"]
    by = await replacements(conn, gone) if gone else {}
    return [HolderLeg(r["booking_id"], r["passenger_no"], r["leg_no"], r["from_stop"], r["mode"],
                      r["departure"], r["arrival"], r["cancelled"], r["used"],
                      by.get(r["booking_id"], {}).get(r["leg_no"])) for r in rows]


async def record_passenger_tap(conn: Any, *, booking: str, leg: int, passenger: int, gate: str,
                               station: str, now: datetime) -> str | None:
    """Enter one passenger on one leg; its tap id, or None when the leg is no longer
    confirmed, the party already entered it (gate_taps), or this passenger already did."""
    tap_id = str(uuid.uuid4())
    got = await conn.fetchval(
        """WITH ok AS (
             SELECT l.from_stop FROM booking_legs l JOIN bookings b ON b.id = l.booking_id
              WHERE l.booking_id = $2 AND l.leg_no = $3 AND l.status = 'confirmed'
                AND b.status = 'confirmed'
                AND NOT EXISTS (SELECT 1 FROM gate_taps t WHERE t.booking_id = $2 AND t.leg_no = $3)),
           tap AS (
             INSERT INTO passenger_taps (tap_id, booking_id, leg_no, passenger_no, gate_id, station,
                                         method, online, tapped_at, recorded_at)
             SELECT $1, $2, $3, $4, $5, coalesce(from_stop, $6), 'id_card', true, $7, $7 FROM ok
             ON CONFLICT (booking_id, leg_no, passenger_no) DO NOTHING
             RETURNING tap_id)
           SELECT tap_id FROM tap""",
        tap_id, booking, leg, passenger, gate, station, now)
    return got


async def index_passengers(pool: Any, keys: DataKeyring, batch: int = 500) -> int:
    """Compute (backfill) or move to the active data key the blind index of every passenger
    whose index is missing or under another key. Reads each ID number once (decrypting it
    with the key it is stored under). Returns the rows indexed."""
    ring = Keyring(dict(keys.keys), keys.active)
    active_key = index_key(keys.keys[keys.active], keys.active)
    n = 0
    async with pool.acquire() as conn:
        while True:
            rows = await conn.fetch(
                """SELECT booking_id, passenger_no, id_type, key_id, id_number_ct
                     FROM booking_passengers
                    WHERE id_index IS NULL OR id_index_key IS DISTINCT FROM $1 LIMIT $2""",
                keys.active, batch)
            if not rows:
                return n
            for r in rows:
                number = ring.decrypt(r["key_id"], r["id_number_ct"],
                                      pii_aad(r["booking_id"], r["passenger_no"], "id_number"))
                idx = blind_index(active_key, f"{r['id_type']}|{number}")
                await conn.execute(
                    """UPDATE booking_passengers SET id_index = $3, id_index_key = $4
                        WHERE booking_id = $1 AND passenger_no = $2""",
                    r["booking_id"], r["passenger_no"], idx, keys.active)
                n += 1


async def manifest_ids(conn: Any, stops: Sequence[str], lo: datetime, hi: datetime,
                       cfg: CheckinConfig, keys: DataKeyring, id_key: bytes) -> list[ManifestId]:
    """The ID section of a gate manifest: each passenger of a confirmed or cancelled booking
    with a leg boarding at `stops` admitting within [lo, hi), indexed under `id_key`."""
    before, after = max_margins(cfg)
    rows = await conn.fetch(
        """SELECT p.booking_id, p.passenger_no, p.id_type, p.key_id, p.id_number_ct,
                  array_agg(l.leg_no ORDER BY l.leg_no) AS legs,
                  array_agg(l.mode ORDER BY l.leg_no) AS modes,
                  array_agg(l.departure ORDER BY l.leg_no) AS deps,
                  array_agg(l.arrival ORDER BY l.leg_no) AS arrs,
                  array_agg(b.status <> 'confirmed' OR l.status <> 'confirmed' ORDER BY l.leg_no) AS gone,
                  array_agg(EXISTS (SELECT 1 FROM gate_taps t
                                    WHERE t.booking_id = l.booking_id AND t.leg_no = l.leg_no)
                            OR EXISTS (SELECT 1 FROM passenger_taps q
                                       WHERE q.booking_id = l.booking_id AND q.leg_no = l.leg_no
                                         AND q.passenger_no = p.passenger_no)
                            ORDER BY l.leg_no) AS used
             FROM booking_legs l
             JOIN bookings b ON b.id = l.booking_id
             JOIN booking_passengers p ON p.booking_id = l.booking_id
            WHERE l.from_stop = ANY ($1::text[]) AND l.departure < $3 AND l.departure > $2
              AND b.status IN ('confirmed', 'cancelled')
              AND l.status IN ('confirmed', 'cancelled', 'replaced')
            GROUP BY p.booking_id, p.passenger_no, p.id_type, p.key_id, p.id_number_ct""",
        list(stops), lo - after - timedelta(days=2), hi + before)
    ring = Keyring(dict(keys.keys), keys.active)
    out = []
    for r in rows:
        legs = []
        for leg, mode, dep, arr, gone, used in zip(r["legs"], r["modes"], r["deps"], r["arrs"],
                                                   r["gone"], r["used"], strict=True):
            vf, vu = cfg.window(mode, dep, arr)
            if vf < hi and vu >= lo:
                legs.append(ManifestIdLeg(leg, vf, vu, bool(gone), bool(used)))
        if not legs:
            continue
        number = ring.decrypt(r["key_id"], r["id_number_ct"],
                              pii_aad(r["booking_id"], r["passenger_no"], "id_number"))
        out.append(ManifestId(r["booking_id"], r["passenger_no"],
                              manifest_index(id_key, f"{r['id_type']}|{number}"), tuple(legs)))
    return out


async def _upload_one(conn: Any, gate: str, station: str, tap_id: str, booking: str, leg: int,
                      passenger: int, at: datetime, now: datetime,
                      stops: Sequence[str] | None) -> str:
    if await conn.fetchval("SELECT 1 FROM passenger_taps WHERE tap_id = $1", tap_id):
        return "duplicate"
    if await conn.fetchval("SELECT 1 FROM tap_conflicts WHERE loser_tap_id = $1", tap_id):
        return "duplicate"
    row = await conn.fetchrow(
        """SELECT l.agency_id, l.feed, l.from_stop FROM booking_legs l
             JOIN booking_passengers p ON p.booking_id = l.booking_id AND p.passenger_no = $3
            WHERE l.booking_id = $1 AND l.leg_no = $2 FOR UPDATE OF l""", booking, leg, passenger)
    if row is None:
        return "unknown_leg"
    if stops is not None and row["from_stop"] not in stops:
        return "wrong_station"
    party = await conn.fetchrow(
        "SELECT tap_id, gate_id, tapped_at FROM gate_taps WHERE booking_id = $1 AND leg_no = $2",
        booking, leg)
    mine = await conn.fetchrow(
        """SELECT tap_id, gate_id, tapped_at FROM passenger_taps
            WHERE booking_id = $1 AND leg_no = $2 AND passenger_no = $3""", booking, leg, passenger)
    current = party or mine
    if current is None:
        await conn.execute(
            """INSERT INTO passenger_taps (tap_id, booking_id, leg_no, passenger_no, gate_id, station,
                                           method, online, tapped_at, recorded_at)
               VALUES ($1, $2, $3, $4, $5, $6, 'id_card', false, $7, $8)""",
            tap_id, booking, leg, passenger, gate, row["from_stop"], at, now)
        return "recorded"
    # the earlier of two entries of this passenger stands (a party entry is never replaced)
    new_wins = party is None and at < mine["tapped_at"]
    winner = (tap_id, gate, at) if new_wins else (current["tap_id"], current["gate_id"],
                                                  current["tapped_at"])
    loser = (current["tap_id"], current["gate_id"], current["tapped_at"]) if new_wins else (
        tap_id, gate, at)
    if new_wins:
        await conn.execute(
            """UPDATE passenger_taps SET tap_id = $4, gate_id = $5, online = false, tapped_at = $6,
                      recorded_at = $7
                WHERE booking_id = $1 AND leg_no = $2 AND passenger_no = $3""",
            booking, leg, passenger, tap_id, gate, at, now)
    await conn.execute(
        """INSERT INTO tap_conflicts (booking_id, leg_no, agency_id, feed, winner_tap_id,
               winner_gate, winner_at, loser_tap_id, loser_gate, loser_at, detected_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
        booking, leg, row["agency_id"], row["feed"], *winner, *loser, now)
    return "conflict"


async def upload_passenger_tap(pool: Any, gate: str, station: str, tap_id: str, booking: str,
                               leg: int, passenger: int, at: datetime, now: datetime,
                               stops: Sequence[str] | None) -> str:
    """Store one ID-card tap made offline: recorded | conflict | duplicate | unknown_leg |
    wrong_station. Serialised per booking leg by the leg's row lock."""
    async with pool.acquire() as conn:
        for attempt in range(3):
            try:
                async with conn.transaction():
                    return await _upload_one(conn, gate, station, tap_id, booking, leg, passenger,
                                             at, now, stops)
            except asyncpg.UniqueViolationError:
                if attempt == 2:
                    raise
    raise AssertionError("unreachable")


async def add_probe_alert(pool: Any, key_id: str, gate: str, station: str, misses: int,
                          window_s: int, blocked_until: datetime, now: datetime) -> None:
    await pool.execute(
        """INSERT INTO id_probe_alerts (key_id, gate_id, station, misses, window_s, blocked_until,
                                        created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        key_id, gate, station, misses, window_s, blocked_until, now)


async def list_probe_alerts(pool: Any, limit: int = 100) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT * FROM id_probe_alerts ORDER BY created_at DESC, id DESC LIMIT $1", limit)
    return [dict(r) for r in rows]
