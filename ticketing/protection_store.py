"""Connection protection in PostgreSQL (0600_protection.sql): the job queue, the booking legs a
realtime update can break, and the booking events. The only SQL of protection.

Jobs: `enqueue_for_runs` turns the runs an update names into one open job per confirmed
booking on them (a second update while the job is open merges into it; while it runs, it
marks the job to run once more). `claim` takes the oldest open job with FOR UPDATE SKIP LOCKED,
checks before rebookings (a claimed job whose lease ran out is a crashed worker's: claimed
again). A check that finds a broken leg releases the job as 'rebooking' (`start_rebooking`);
the rebooking ends it (`finish`) in the transaction of the swap. The check of a job
runs in one transaction that holds the booking row lock (`lock_booking`): one writer per
booking, and its events are written with the job's end.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import asyncpg

from ticketing.protection import BookedLeg

__all__ = ["enqueue_for_runs", "claim", "start_rebooking", "finish", "set_protection",
           "protection_of", "lock_booking", "recorded_disruptions",
           "add_event", "booking_events", "account_events", "open_jobs"]

Conn = asyncpg.Connection | asyncpg.Pool


async def enqueue_for_runs(conn: Conn, runs: Sequence[tuple[str, date]], reason: dict,
                           now: datetime) -> list[int]:
    """One open job per confirmed booking with a leg on one of `runs` ((trip_id, service_date));
    the ids of the jobs named (one per booking: new ones, or the open ones merged into)."""
    if not runs:
        return []
    rows = await conn.fetch(
        """INSERT INTO protection_jobs (booking_id, state, reason, created_at)
           SELECT DISTINCT l.booking_id, 'pending', $3::jsonb, $4::timestamptz
             FROM unnest($1::text[], $2::date[]) AS r(trip_id, service_date)
             JOIN booking_legs l ON l.trip_id = r.trip_id AND l.service_date = r.service_date
                                AND l.status = 'confirmed'
           ORDER BY 1
           ON CONFLICT (booking_id) WHERE state IN ('pending', 'running', 'rebooking')
           DO UPDATE SET again = protection_jobs.state IN ('running', 'rebooking')
           RETURNING id""",
        [r[0] for r in runs], [r[1] for r in runs], reason, now)
    return [r["id"] for r in rows]


async def claim(conn: Conn, now: datetime, lease_s: float) -> asyncpg.Record | None:
    """The next open job (id, booking_id, attempts, rebook), now claimed by this worker: the
    oldest check to run ('pending', now 'running') before the oldest rebooking to do
    ('rebooking' released by its check, or left by a crashed worker past its lease; it stays
    'rebooking', `rebook` true), so every booking an update breaks hears `disrupted` first."""
    return await conn.fetchrow(
        """WITH j0 AS (SELECT id, state FROM protection_jobs
                        WHERE state = 'pending'
                           OR (state = 'rebooking' AND (claimed_at IS NULL OR claimed_at < $2))
                           OR (state = 'running' AND claimed_at < $2)
                        ORDER BY state = 'rebooking', id LIMIT 1 FOR UPDATE SKIP LOCKED)
           UPDATE protection_jobs j
              SET state = CASE WHEN j0.state = 'rebooking' THEN 'rebooking' ELSE 'running' END,
                  attempts = j.attempts + 1, claimed_at = $1, again = false
             FROM j0 WHERE j.id = j0.id
           RETURNING j.id, j.booking_id, j.attempts, j0.state = 'rebooking' AS rebook""",
        now, now - timedelta(seconds=lease_s))


async def start_rebooking(conn: Conn, job_id: int, now: datetime) -> None:
    """The job's check found a broken leg (its `disrupted` events written in this transaction):
    'rebooking', released for any worker to claim once the checks waiting are done."""
    await conn.execute("UPDATE protection_jobs SET state = 'rebooking', claimed_at = NULL "
                       "WHERE id = $1", job_id)


async def finish(conn: Conn, job_id: int, outcome: str, now: datetime, failed: bool = False,
                 retry: bool = False) -> None:
    """End a job: 'done'; back to 'pending' if an update arrived while it ran or `retry`
    (an error); 'failed' if `failed` (too many errors)."""
    await conn.execute(
        """UPDATE protection_jobs SET
                  state = CASE WHEN $4 THEN 'failed' WHEN again OR $5 THEN 'pending' ELSE 'done' END,
                  again = false, outcome = $2, finished_at = $3
           WHERE id = $1""", job_id, outcome, now, failed, retry)


async def open_jobs(conn: Conn, ids: Sequence[int] | None = None) -> int:
    """How many jobs are open (pending, running or rebooking): all, or of the jobs `ids`. A job
    an update merged into while it ran goes back to pending under its id: open until rerun."""
    if ids is None:
        return await conn.fetchval(
            "SELECT count(*) FROM protection_jobs WHERE state IN ('pending', 'running', 'rebooking')")
    return await conn.fetchval(
        "SELECT count(*) FROM protection_jobs WHERE id = ANY($1::bigint[]) "
        "AND state IN ('pending', 'running', 'rebooking')", list(ids))


async def lock_booking(conn: asyncpg.Connection, booking_id: str
                       ) -> tuple[str | None, list[tuple[BookedLeg, dict]], dict]:
    """Lock the booking row (one writer per booking); its status, its confirmed legs, each with
    the LegKey fields (trip_id, service_date, board_pos, alight_pos, from_stop, to_stop,
    departure, arrival), and the plan options it was sold with (modes, wheelchair, max_walk_m,
    min_transfer_s, profile; 0610_rebook.sql, 0611_rebook_profile.sql)."""
    row = await conn.fetchrow(
        "SELECT status, modes, wheelchair, max_walk_m, min_transfer_s, profile FROM bookings "
        "WHERE id = $1 FOR UPDATE", booking_id)
    if row is None:
        return None, [], {}
    rows = await conn.fetch(
        """SELECT leg_no, trip_id, service_date, board_pos, alight_pos, from_stop, to_stop,
                  departure, arrival, mode, connection_s
             FROM booking_legs WHERE booking_id = $1 AND status = 'confirmed' ORDER BY leg_no""",
        booking_id)
    options = {k: row[k] for k in ("modes", "wheelchair", "max_walk_m", "min_transfer_s",
                                   "profile")}
    return row["status"], [(BookedLeg(r["leg_no"], r["departure"], r["arrival"], r["mode"],
                                      r["connection_s"]),
                            {k: r[k] for k in ("trip_id", "service_date", "board_pos",
                                               "alight_pos", "from_stop", "to_stop",
                                               "departure", "arrival")})
                           for r in rows], options


async def set_protection(conn: Conn, booking_id: str, state: dict | None) -> None:
    """What protection did last to the booking (bookings.protection; see 0610_rebook.sql)."""
    await conn.execute("UPDATE bookings SET protection = $2::jsonb WHERE id = $1", booking_id, state)


async def protection_of(conn: Conn, booking_id: str) -> dict | None:
    return await conn.fetchval("SELECT protection FROM bookings WHERE id = $1", booking_id)


async def recorded_disruptions(conn: Conn, booking_id: str) -> set[tuple[int, str]]:
    """(leg_no, reason) of the `disrupted` events the booking has already."""
    rows = await conn.fetch(
        "SELECT leg_no, detail->>'reason' AS reason FROM booking_events "
        "WHERE booking_id = $1 AND event = 'disrupted'", booking_id)
    return {(r["leg_no"], r["reason"]) for r in rows}


async def add_event(conn: Conn, booking_id: str, event: str, status: str, leg_no: int | None,
                    detail: dict, now: datetime) -> int:
    return await conn.fetchval(
        """INSERT INTO booking_events (booking_id, event, from_status, to_status, leg_no, detail,
                                       occurred_at)
           VALUES ($1, $2, $3, $3, $4, $5::jsonb, $6) RETURNING id""",
        booking_id, event, status, leg_no, detail, now)


_EVENT_COLS = "e.id, e.booking_id, e.event, e.from_status, e.to_status, e.leg_no, e.detail, e.occurred_at"


async def booking_events(conn: Conn, booking_id: str, account_id: str) -> list[asyncpg.Record] | None:
    """The booking's events in order; None if it is not the account's."""
    owner = await conn.fetchval("SELECT account_id FROM bookings WHERE id = $1", booking_id)
    if owner is None or owner != account_id:
        return None
    return await conn.fetch(f"SELECT {_EVENT_COLS} FROM booking_events e WHERE e.booking_id = $1 "
                            "ORDER BY e.id", booking_id)


async def account_events(conn: Conn, account_id: str, after_id: int, limit: int) -> list[asyncpg.Record]:
    """Events of the account's bookings with id > after_id, oldest first (the SSE stream)."""
    return await conn.fetch(
        f"""SELECT {_EVENT_COLS} FROM booking_events e JOIN bookings b ON b.id = e.booking_id
             WHERE b.account_id = $1 AND e.id > $2 ORDER BY e.id LIMIT $3""",
        account_id, after_id, limit)
