"""SQL of face boarding (table face_templates in maas/migrations/0300_gates.sql): enrol,
erase, the gallery of a gate, and the erasure sweep. Templates are sealed with the
data-at-rest keys (AAD binds the account)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from ticketing.checkin_config import CheckinConfig
from ticketing.checkin_store import max_margins, face_aad
from ticketing.keyring import DataKeyring, seal, unseal

__all__ = ["enrol_face", "erase_face", "FaceCandidate", "face_candidates", "sweep_faces"]


async def enrol_face(conn: Any, account: str, unit_bytes: bytes, dimension: int,
                     operators: Sequence[str] | None, keys: DataKeyring, now: datetime) -> None:
    dek, blob = seal(keys, unit_bytes, face_aad(account))
    await conn.execute(
        """INSERT INTO face_templates (account_id, dimension, data_key_id, sealed_template,
                                       consent_operators, consented_at, enrolled_at)
           VALUES ($1, $2, $3, $4, $5, $6, $6)
           ON CONFLICT (account_id) DO UPDATE SET dimension = $2, data_key_id = $3,
               sealed_template = $4, consent_operators = $5, consented_at = $6, enrolled_at = $6""",
        account, dimension, dek, blob, list(operators) if operators is not None else None, now)


async def erase_face(conn: Any, account: str) -> bool:
    return (await conn.execute("DELETE FROM face_templates WHERE account_id = $1", account)) != "DELETE 0"


@dataclass(frozen=True)
class FaceCandidate:
    account_id: str
    booking_id: str
    leg_no: int
    passengers: int
    valid_from: datetime
    valid_until: datetime
    template: bytes      # unsealed float32 unit vector
    replaced: bool = False   # the leg was exchanged or rebooked: never admits, says `replaced`

    def __repr__(self) -> str:
        return f"FaceCandidate(account={self.account_id!r}, booking={self.booking_id!r})"


async def face_candidates(conn: Any, stops: Sequence[str], now: datetime, cfg: CheckinConfig,
                          keys: DataKeyring, horizon_s: float = 0) -> list[FaceCandidate]:
    """Enrolled passengers with a confirmed (or replaced: `FaceCandidate.replaced`) leg of a
    confirmed booking admitting at `stops` at some time in [now, now + horizon_s], whose
    consent covers that leg's operator: the gallery of a 1:N match (the caller keeps only the
    rows admitting at the moment it matches)."""
    before, after = max_margins(cfg)
    before += timedelta(seconds=horizon_s)
    rows = await conn.fetch(
        """SELECT b.account_id, l.booking_id, l.leg_no, b.passenger_count, l.mode, l.departure,
                  l.arrival, l.status, f.dimension, f.data_key_id, f.sealed_template
             FROM booking_legs l
             JOIN bookings b ON b.id = l.booking_id
             JOIN face_templates f ON f.account_id = b.account_id
            WHERE l.from_stop = ANY ($1::text[]) AND l.departure <= $2 AND l.departure > $3
              AND l.arrival >= $4 AND l.status IN ('confirmed', 'replaced')
              AND b.status = 'confirmed'
              AND f.dimension = $5
              AND (f.consent_operators IS NULL OR l.agency_id = ANY (f.consent_operators)
                   OR l.feed = ANY (f.consent_operators))
            ORDER BY b.account_id, l.departure""",
        list(stops), now + before, now - after - timedelta(days=2), now - after, cfg.face_dimension)
    out = []
    unsealed: dict[str, bytes] = {}
    for r in rows:
        vf, vu = cfg.window(r["mode"], r["departure"], r["arrival"])
        if not (vf <= now + timedelta(seconds=horizon_s) and now <= vu):
            continue
        template = unsealed.get(r["account_id"])
        if template is None:
            template = unseal(keys, r["data_key_id"], r["sealed_template"], face_aad(r["account_id"]))
            unsealed[r["account_id"]] = template
        out.append(FaceCandidate(r["account_id"], r["booking_id"], r["leg_no"],
                                 r["passenger_count"], vf, vu, template,
                                 r["status"] == "replaced"))
    return out


async def sweep_faces(conn: Any, now: datetime, retention_s: int) -> int:
    """Erase templates of accounts whose last journey ended more than retention ago (or,
    with no journey at all, enrolled more than retention ago). Returns how many."""
    cutoff = now - timedelta(seconds=retention_s)
    status = await conn.execute(
        """DELETE FROM face_templates f
            WHERE f.enrolled_at < $1
              AND NOT EXISTS (
                  SELECT 1 FROM bookings b JOIN booking_legs l ON l.booking_id = b.id
                   WHERE b.account_id = f.account_id AND b.status IN ('held', 'confirmed')
                     AND l.status IN ('held', 'confirmed') AND l.arrival >= $1)""",
        cutoff)
    return int(status.split()[-1])
